from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connection
from django.test import Client

from communities import services, tokens
from communities.errors import NotAuthenticated
from communities.models import ApiToken, Community, Membership, Role
from tests.factories import CommunityFactory, MembershipFactory, UserFactory, issue_token

pytestmark = pytest.mark.django_db

TOKEN_ADD = "/admin/communities/apitoken/add/"
TOKEN_LIST = "/admin/communities/apitoken/"


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def superuser_client() -> Client:
    return signed_in(UserFactory(is_staff=True, is_superuser=True))


@pytest.fixture
def demo_owner_client() -> Client:
    call_command("seed_demo", stdout=StringIO())
    return signed_in(get_user_model().objects.get(username="demo"))


def add_token(client: Client, community: Community, **overrides) -> object:
    data = {"community": community.pk, "name": "overlay", "scopes": ["ingest", "vote"]}
    return client.post(TOKEN_ADD, {**data, **overrides})


def stored_text() -> str:
    """Every column of every token row and admin log entry, as text."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {ApiToken._meta.db_table}")
        rows = cursor.fetchall()
    logs = list(LogEntry.objects.values_list("object_repr", "change_message"))
    return repr(rows) + repr(logs)


def secret_in_messages(client: Client) -> str | None:
    page = client.get(TOKEN_LIST).content.decode()
    marker = f"{tokens.TOKEN_PREFIX}"
    for word in page.replace("<", " ").split():
        if word.startswith(marker):
            return word
    return None


def test_token_added_in_admin_shows_its_secret_once_and_stores_only_its_hash(superuser_client):
    community = CommunityFactory()

    response = add_token(superuser_client, community)

    assert response.status_code == 302
    token = ApiToken.objects.get(community=community, name="overlay")
    assert token.scopes == ["ingest", "vote"]
    secret = secret_in_messages(superuser_client)
    assert secret is not None
    assert tokens.matches(secret, token.secret_hash)
    assert services.authenticate_token(secret) == token
    assert secret not in stored_text()
    assert secret_in_messages(superuser_client) is None  # shown once


def test_token_records_the_admin_user_who_created_it(superuser_client):
    community = CommunityFactory()

    add_token(superuser_client, community)

    assert ApiToken.objects.get().created_by.is_superuser


def test_token_without_scopes_is_refused_in_admin(superuser_client):
    community = CommunityFactory()

    response = add_token(superuser_client, community, scopes=[])

    assert response.status_code == 200
    assert "This field is required" in response.content.decode()
    assert not ApiToken.objects.exists()


def test_existing_token_page_is_read_only_and_never_shows_the_hash(superuser_client, community):
    token = issue_token(community, "read").token
    url = f"/admin/communities/apitoken/{token.pk}/change/"

    page = superuser_client.get(url)
    refused = superuser_client.post(url, {"name": "renamed", "community": community.pk})

    assert page.status_code == 200
    assert token.secret_hash not in page.content.decode()
    assert token.prefix in page.content.decode()
    assert refused.status_code == 403
    token.refresh_from_db()
    assert token.name == "bot"


def test_revoke_action_revokes_the_selected_tokens_only(superuser_client, community):
    chosen = issue_token(community, "ingest", name="chat")
    kept = issue_token(community, "read", name="overlay")

    response = superuser_client.post(
        TOKEN_LIST, {"action": "revoke_selected", "_selected_action": [chosen.token.pk]}
    )

    assert response.status_code == 302
    with pytest.raises(NotAuthenticated):
        services.authenticate_token(chosen.secret)
    assert services.authenticate_token(kept.secret) == kept.token


@pytest.mark.parametrize(
    ("url", "shown", "hidden"),
    [
        ("/admin/communities/community/?q=demo&visibility__exact=public", "Demo Stream", None),
        ("/admin/communities/membership/?q=demo&role__exact=owner", "demo", None),
        ("/admin/communities/apitoken/?q=demo&status=active", "demo-bot", "retired-bot"),
        (
            "/admin/communities/apitoken/?status=revoked&community__id__exact={demo}",
            "retired-bot",
            "demo-bot",
        ),
        ("/admin/communities/apitoken/?created_at__gte=2000-01-01+00:00:00%2B00:00", "demo", None),
    ],
)
def test_changelists_render_with_search_and_filters(superuser_client, url, shown, hidden):
    call_command("seed_demo", stdout=StringIO())
    demo = Community.objects.get(slug="demo")
    services.revoke_api_token(issue_token(demo, "read", name="retired-bot").token)

    response = superuser_client.get(url.format(demo=demo.pk))

    assert response.status_code == 200
    page = response.content.decode()
    assert shown in page
    assert hidden is None or hidden not in page


def test_community_page_shows_members_and_tokens(superuser_client):
    call_command("seed_demo", stdout=StringIO())
    community = Community.objects.get(slug="demo")

    response = superuser_client.get(f"/admin/communities/community/{community.pk}/change/")

    assert response.status_code == 200
    assert "demo-bot" in response.content.decode()


def membership_inline_post(community: Community, rows: list[dict]) -> dict:
    existing = list(community.memberships.all())
    data = {
        "slug": community.slug,
        "name": community.name,
        "visibility": community.visibility,
        "memberships-TOTAL_FORMS": len(rows),
        "memberships-INITIAL_FORMS": len(existing),
        "api_tokens-TOTAL_FORMS": 0,
        "api_tokens-INITIAL_FORMS": 0,
    }
    for index, row in enumerate(rows):
        data.update({f"memberships-{index}-{key}": value for key, value in row.items()})
    return data


def test_member_added_on_the_community_page_gets_their_role(superuser_client, community):
    viewer = UserFactory()
    url = f"/admin/communities/community/{community.pk}/change/"

    data = membership_inline_post(community, [{"user": viewer.pk, "role": Role.MODERATOR}])
    response = superuser_client.post(url, data)

    assert response.status_code == 302
    assert Membership.objects.get(community=community, user=viewer).role == Role.MODERATOR


def test_membership_cannot_be_moved_to_another_user(superuser_client, community):
    membership = MembershipFactory(community=community)
    other = UserFactory()
    url = f"/admin/communities/community/{community.pk}/change/"
    row = {"id": membership.pk, "community": community.pk, "user": other.pk, "role": Role.MEMBER}

    response = superuser_client.post(url, membership_inline_post(community, [row]))

    assert response.status_code == 200
    assert "add a new one instead" in response.content.decode()
    assert Membership.objects.get(pk=membership.pk).user == membership.user


def test_demo_owner_can_add_a_token_in_admin(demo_owner_client):
    community = Community.objects.get(slug="demo")
    form = demo_owner_client.get(TOKEN_ADD).content.decode()

    response = add_token(demo_owner_client, community, name="alerts")

    assert response.status_code == 302
    assert 'type="checkbox" name="scopes" value="ingest"' in form
    assert ApiToken.objects.filter(community=community, name="alerts").exists()
    assert secret_in_messages(demo_owner_client) is not None


def test_streamer_sees_and_issues_tokens_only_for_communities_they_manage(demo_owner_client):
    elsewhere = CommunityFactory(slug="elsewhere")
    foreign = issue_token(elsewhere, "read", name="foreign-bot").token

    listing = demo_owner_client.get(TOKEN_LIST).content.decode()
    communities = demo_owner_client.get("/admin/communities/community/").content.decode()
    refused = add_token(demo_owner_client, elsewhere, name="sneaky")

    assert "demo-bot" in listing
    assert foreign.name not in listing
    assert "elsewhere" not in communities
    assert refused.status_code == 200
    assert not ApiToken.objects.filter(name="sneaky").exists()


def test_streamer_who_creates_a_community_in_admin_owns_it(demo_owner_client):
    response = demo_owner_client.post(
        "/admin/communities/community/add/",
        {
            "slug": "second-stream",
            "name": "Second Stream",
            "visibility": "public",
            "memberships-TOTAL_FORMS": 0,
            "memberships-INITIAL_FORMS": 0,
            "api_tokens-TOTAL_FORMS": 0,
            "api_tokens-INITIAL_FORMS": 0,
        },
    )

    assert response.status_code == 302
    community = Community.objects.get(slug="second-stream")
    owner = get_user_model().objects.get(username="demo")
    assert Membership.objects.get(community=community, user=owner).role == Role.OWNER


def test_streamer_can_look_up_users_to_add_as_members(demo_owner_client):
    UserFactory(username="newmod")

    response = demo_owner_client.get(
        "/admin/autocomplete/",
        {
            "app_label": "communities",
            "model_name": "membership",
            "field_name": "user",
            "term": "new",
        },
    )

    assert response.status_code == 200
    assert [row["text"] for row in response.json()["results"]] == ["newmod"]
