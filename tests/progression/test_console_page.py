"""The moderator console /c/<slug>/manage/: owners and moderators only."""

from __future__ import annotations

import pytest

from communities.models import Role
from tests.factories import CommunityFactory, MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def page(community) -> str:
    return f"/c/{community.slug}/manage/"


@pytest.mark.parametrize("visibility", ["public", "private"])
@pytest.mark.parametrize(("role", "manages"), [(Role.OWNER, True), (Role.MODERATOR, False)])
def test_owners_and_moderators_get_the_console_owners_also_tokens_and_keys(
    client, visibility, role, manages
):
    community = CommunityFactory(visibility=visibility)
    client.force_login(MembershipFactory(community=community, role=role).user)

    answer = client.get(page(community))

    assert answer.status_code == 200
    body = answer.content.decode()
    assert 'data-testid="console-vote"' in body and "js/console.js?v=" in body
    assert ('id="key-form"' in body) is manages
    assert ('id="token-form"' in body) is manages
    assert "csrftoken" in answer.cookies  # the API writes need it


@pytest.mark.parametrize("visibility", ["public", "private"])
def test_a_signed_in_member_is_refused_with_403(client, visibility):
    community = CommunityFactory(visibility=visibility)
    client.force_login(MembershipFactory(community=community, role=Role.MEMBER).user)

    assert client.get(page(community)).status_code == 403


def test_a_signed_in_outsider_gets_403_on_a_public_and_404_on_a_private_community(client):
    client.force_login(UserFactory())

    assert client.get(page(CommunityFactory())).status_code == 403
    assert client.get(page(CommunityFactory(visibility="private"))).status_code == 404


def test_an_anonymous_visitor_is_sent_to_sign_in_for_a_public_and_404_for_a_private_one(client):
    public = CommunityFactory()

    answer = client.get(page(public))

    assert answer.status_code == 302
    assert answer["Location"].endswith(f"?next=/c/{public.slug}/manage/")
    assert client.get(page(CommunityFactory(visibility="private"))).status_code == 404


def test_an_unknown_community_is_404(client):
    client.force_login(UserFactory(is_superuser=True, is_staff=True))

    assert client.get("/c/nobody-here/manage/").status_code == 404
