"""Overlay keys: created by owners and shown once, read-only (the progression state and
nothing else), revocable; and API tokens never authenticate from a URL."""

from __future__ import annotations

import pytest
from django.test import Client

from communities import tokens
from communities.models import OverlayKey, Role
from communities.services import create_overlay_key, revoke_overlay_key
from tests.factories import CommunityFactory, MembershipFactory, issue_token

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def signed_in(community, role: str | None) -> Client:
    client = Client()
    if role is not None:
        client.force_login(MembershipFactory(community=community, role=role).user)
    return client


def keys_url(slug: str) -> str:
    return f"/api/communities/{slug}/overlay-keys"


# --- the API ---------------------------------------------------------------------------------


def test_owner_creates_a_key_shown_once_and_only_its_hash_is_stored(private_community):
    owner = signed_in(private_community, Role.OWNER)

    created = owner.post(keys_url(private_community.slug), {"name": "OBS"}, "application/json")
    listed = owner.get(keys_url(private_community.slug))

    assert created.status_code == 201, created.content
    body = created.json()
    assert body["key"].startswith("ok_")
    assert body["overlay_url"] == f"/c/{private_community.slug}/overlay/?key={body['key']}"
    row = OverlayKey.objects.get(pk=body["id"])
    assert row.secret_hash == tokens.hash_token(body["key"]) != body["key"]
    assert listed.status_code == 200
    assert [k["name"] for k in listed.json()] == ["OBS"]
    assert body["key"] not in listed.content.decode()  # never again
    assert "key" not in listed.json()[0]


@pytest.mark.parametrize(
    ("role", "status"),
    [(Role.MODERATOR, 403), (Role.MEMBER, 403), ("outsider", 404), (None, 404)],
)
def test_only_owners_create_list_or_revoke_keys_of_a_private_community(
    private_community, role, status
):
    key = create_overlay_key(community=private_community, name="obs").key
    client = Client()
    if role == "outsider":
        client.force_login(MembershipFactory().user)
    elif role is not None:
        client = signed_in(private_community, role)
    base = keys_url(private_community.slug)

    answers = [
        client.post(base, {"name": "x"}, "application/json"),
        client.get(base),
        client.delete(f"{base}/{key.pk}"),
    ]

    assert [a.status_code for a in answers] == [status] * 3
    assert OverlayKey.objects.filter(community=private_community).count() == 1
    key.refresh_from_db()
    assert key.revoked_at is None


def test_no_token_manages_keys_not_even_an_admin_one(private_community):
    issued = issue_token(private_community, "admin", "read")
    auth = {"Authorization": f"Bearer {issued.secret}"}

    answer = Client().post(
        keys_url(private_community.slug), {"name": "x"}, "application/json", headers=auth
    )

    assert answer.status_code == 403


def test_revoking_answers_the_key_with_its_revocation_time_and_is_idempotent(private_community):
    owner = signed_in(private_community, Role.OWNER)
    key = create_overlay_key(community=private_community, name="obs").key
    url = f"{keys_url(private_community.slug)}/{key.pk}"

    first = owner.delete(url)
    second = owner.delete(url)

    assert first.status_code == second.status_code == 200
    assert first.json()["revoked_at"] is not None
    assert first.json()["revoked_at"] == second.json()["revoked_at"]


def test_a_key_of_another_community_cannot_be_revoked_through_this_one(private_community):
    other_key = create_overlay_key(community=CommunityFactory(), name="obs").key
    owner = signed_in(private_community, Role.OWNER)

    answer = owner.delete(f"{keys_url(private_community.slug)}/{other_key.pk}")

    assert answer.status_code == 404
    other_key.refresh_from_db()
    assert other_key.revoked_at is None


def test_a_nameless_key_is_refused_with_the_field_named(private_community):
    owner = signed_in(private_community, Role.OWNER)

    answer = owner.post(keys_url(private_community.slug), {"name": ""}, "application/json")

    assert answer.status_code == 400
    assert "name" in answer.json()["error"]["fields"]


# --- what a key opens over REST ----------------------------------------------------------------


def test_a_key_reads_the_progression_of_its_private_community_and_nothing_else(
    private_community,
):
    secret = create_overlay_key(community=private_community, name="obs").secret
    base = f"/api/communities/{private_community.slug}"
    client = Client()

    assert client.get(f"{base}/progression", {"key": secret}).status_code == 200
    for other in ("", "/tree", "/leaderboard", "/effects", "/settings", "/overlay-keys"):
        assert client.get(f"{base}{other}", {"key": secret}).status_code == 403, other
    assert client.get(f"{base}/progression").status_code == 404  # without it: unknown


def test_a_key_never_writes(private_community):
    secret = create_overlay_key(community=private_community, name="obs").secret
    base = f"/api/communities/{private_community.slug}"

    answer = Client().post(f"{base}/votes/close?key={secret}")

    assert answer.status_code == 404  # not read from the URL of a write: an anonymous outsider


def test_a_key_opens_nothing_in_another_private_community(private_community):
    secret = create_overlay_key(community=CommunityFactory(), name="obs").secret

    answer = Client().get(f"/api/communities/{private_community.slug}/progression", {"key": secret})

    assert answer.status_code == 404


def test_a_revoked_or_wrong_key_is_a_401(private_community):
    issued = create_overlay_key(community=private_community, name="obs")
    revoke_overlay_key(issued.key)
    url = f"/api/communities/{private_community.slug}/progression"

    assert Client().get(url, {"key": issued.secret}).status_code == 401
    assert Client().get(url, {"key": issued.secret[:-1] + "x"}).status_code == 401


def test_an_api_token_in_a_url_never_authenticates(private_community):
    """A full token must not travel in URLs (logs, OBS scene files, screen shares): neither as
    `?key=` (it is no overlay key: 401) nor as `?token=` or `?access_token=` (ignored)."""
    secret = issue_token(private_community, "read", "admin").secret
    url = f"/api/communities/{private_community.slug}/progression"
    client = Client()

    assert client.get(url, {"key": secret}).status_code == 401
    for name in ("token", "access_token", "api_token", "bearer"):
        assert client.get(url, {name: secret}).status_code == 404, name
    assert client.get(f"/c/{private_community.slug}/overlay/", {"token": secret}).status_code == 404
    assert client.get(f"/c/{private_community.slug}/overlay/", {"key": secret}).status_code == 404


def test_an_overlay_key_is_no_bearer_token(private_community):
    secret = create_overlay_key(community=private_community, name="obs").secret

    answer = Client().get(
        f"/api/communities/{private_community.slug}/progression",
        headers={"Authorization": f"Bearer {secret}"},
    )

    assert answer.status_code == 401


# --- the overlay page --------------------------------------------------------------------------


def test_the_overlay_page_of_a_private_community_renders_for_its_key_only(private_community):
    issued = create_overlay_key(community=private_community, name="obs")
    page = f"/c/{private_community.slug}/overlay/"
    client = Client()

    with_key = client.get(page, {"key": issued.secret})
    without = client.get(page)
    revoke_overlay_key(issued.key)
    revoked = client.get(page, {"key": issued.secret})

    assert with_key.status_code == 200
    assert f'data-key="{issued.secret}"' in with_key.content.decode()
    assert without.status_code == 404
    assert revoked.status_code == 404


# --- the admin ---------------------------------------------------------------------------------


def test_a_key_added_in_the_admin_shows_its_overlay_url_once(private_community):
    admin = Client()
    admin.force_login(_superuser())

    answer = admin.post(
        "/admin/communities/overlaykey/add/",
        {"community": private_community.pk, "name": "OBS"},
        follow=True,
    )

    key = OverlayKey.objects.get(community=private_community)
    shown = [str(m) for m in answer.context["messages"] if "?key=" in str(m)]
    assert len(shown) == 1 and f"/c/{private_community.slug}/overlay/?key=ok_" in shown[0]
    secret = shown[0].split("?key=")[1].split(" ")[0]
    assert key.secret_hash == tokens.hash_token(secret)
    assert (
        secret not in admin.get(f"/admin/communities/overlaykey/{key.pk}/change/").content.decode()
    )


def test_the_admin_revoke_action_revokes_the_selected_keys_only(private_community):
    admin = Client()
    admin.force_login(_superuser())
    chosen = create_overlay_key(community=private_community, name="a").key
    kept = create_overlay_key(community=private_community, name="b").key

    admin.post(
        "/admin/communities/overlaykey/",
        {"action": "revoke_selected", "_selected_action": [chosen.pk]},
    )

    chosen.refresh_from_db()
    kept.refresh_from_db()
    assert chosen.revoked_at is not None and kept.revoked_at is None


def _superuser():
    from tests.factories import UserFactory

    return UserFactory(is_staff=True, is_superuser=True)
