from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from communities import services, tokens
from communities.models import ApiToken, Community, Membership, Role
from progression.integrity import check_integrity
from progression.selectors import progression_status
from tests.factories import CommunityFactory

pytestmark = pytest.mark.django_db

SEED_TOKEN_LABEL = "demo ingest token:"
SEED_LOGIN_LABEL = "demo login: demo /"


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def value_after(label: str, output: str) -> str:
    line = next(line for line in output.splitlines() if line.startswith(label))
    return line.removeprefix(label).split()[0]


def snapshot() -> dict[str, list]:
    return {
        "users": list(get_user_model().objects.values()),
        "communities": list(Community.objects.values()),
        "memberships": list(Membership.objects.values()),
        "tokens": list(ApiToken.objects.values()),
    }


def test_seed_demo_creates_public_community_with_owner_and_bot_token():
    output = run("seed_demo")

    community = Community.objects.get(slug="demo")
    assert community.name == "Demo Stream"
    assert community.is_public
    owner = get_user_model().objects.get(username="demo")
    assert Membership.objects.get(community=community, user=owner).role == Role.OWNER
    token = ApiToken.objects.get(community=community, name="demo-bot")
    assert token.scopes == ["ingest", "vote", "read"]
    secret = value_after(SEED_TOKEN_LABEL, output)
    assert tokens.matches(secret, token.secret_hash)


def test_seed_demo_owner_can_use_admin_without_being_superuser():
    run("seed_demo")

    owner = get_user_model().objects.get(username="demo")
    assert owner.is_staff
    assert not owner.is_superuser
    for perm in ("add_apitoken", "change_apitoken", "view_membership", "change_community"):
        assert owner.has_perm(f"communities.{perm}")


def test_seed_demo_password_comes_from_demo_password_setting(settings):
    settings.DEMO_PASSWORD = "from-the-environment"

    output = run("seed_demo")

    assert value_after(SEED_LOGIN_LABEL, output) == "from-the-environment"
    assert get_user_model().objects.get(username="demo").check_password("from-the-environment")


def test_seed_demo_password_is_the_known_one_in_debug(settings):
    settings.DEMO_PASSWORD = ""
    settings.DEBUG = True

    output = run("seed_demo")

    assert value_after(SEED_LOGIN_LABEL, output) == "progression-demo"


def test_seed_demo_password_is_random_outside_debug(settings):
    settings.DEMO_PASSWORD = ""
    settings.DEBUG = False

    password = value_after(SEED_LOGIN_LABEL, run("seed_demo"))

    assert password != "progression-demo"
    assert len(password) >= 16
    assert get_user_model().objects.get(username="demo").check_password(password)


def test_seed_demo_token_authenticates_against_the_api(client):
    secret = value_after(SEED_TOKEN_LABEL, run("seed_demo"))

    response = client.get("/api/communities/demo", HTTP_AUTHORIZATION=f"Bearer {secret}")

    assert response.status_code == 200
    body = response.json()
    assert body["caller"] == "token"
    assert body["scopes"] == ["ingest", "read", "vote"]


def test_seed_demo_second_run_changes_nothing_and_prints_no_secret():
    first = run("seed_demo")
    before = snapshot()

    second = run("seed_demo")

    assert snapshot() == before
    assert SEED_TOKEN_LABEL not in second
    assert "demo login" not in second
    assert value_after(SEED_TOKEN_LABEL, first) not in second
    assert "already exists" in second
    assert "create_api_token demo" in second


def test_seed_demo_failure_writes_nothing(monkeypatch):
    def refuse(**kwargs):
        raise RuntimeError("token store unavailable")

    monkeypatch.setattr(services, "create_api_token", refuse)

    with pytest.raises(RuntimeError):
        run("seed_demo")

    assert not get_user_model().objects.filter(username="demo").exists()
    assert not Community.objects.filter(slug="demo").exists()
    assert not Membership.objects.exists()


def test_create_api_token_prints_a_working_secret_with_the_requested_scopes(client):
    community = CommunityFactory()

    output = run("create_api_token", community.slug, "--name", "overlay", "--scopes", "read,vote")

    secret = output.strip().splitlines()[-1]
    token = services.authenticate_token(secret)
    assert token.community == community
    assert token.name == "overlay"
    assert token.scopes == ["read", "vote"]
    response = client.get(
        f"/api/communities/{community.slug}", HTTP_AUTHORIZATION=f"Bearer {secret}"
    )
    assert response.json()["scopes"] == ["read", "vote"]


@pytest.mark.parametrize("scopes", ["read,launch", ",", "ADMIN"])
def test_create_api_token_with_invalid_scopes_is_refused_and_writes_nothing(scopes):
    community = CommunityFactory()

    with pytest.raises(CommandError, match="scopes"):
        run("create_api_token", community.slug, "--name", "overlay", "--scopes", scopes)

    assert not ApiToken.objects.exists()


def test_create_api_token_for_unknown_community_is_refused_and_writes_nothing():
    with pytest.raises(CommandError, match="No community 'nowhere'"):
        run("create_api_token", "nowhere", "--name", "overlay", "--scopes", "read")

    assert not ApiToken.objects.exists()


def test_seed_demo_opens_with_its_first_target_chosen_and_a_vote_for_the_next():
    run("seed_demo")

    community = Community.objects.get(slug="demo")
    status = progression_status(community)
    assert status["progress"]["target"] is not None
    assert status["progress"]["state"] == "filling"
    assert status["vote"] is not None and status["vote"]["status"] == "open"
    assert status["progress"]["target"]["key"] not in {o["key"] for o in status["vote"]["options"]}
    assert check_integrity(community) == []
