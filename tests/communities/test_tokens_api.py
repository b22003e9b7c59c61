"""Owners manage their bots' API tokens over the API (the console uses it): shown once."""

from __future__ import annotations

import pytest
from django.test import Client

from communities.models import ApiToken, Role
from communities.services import authenticate_token
from tests.factories import MembershipFactory, issue_token

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def as_role(community, role) -> Client:
    client = Client()
    client.force_login(MembershipFactory(community=community, role=role).user)
    return client


def test_an_owner_creates_a_token_that_works_and_is_shown_once(community):
    owner = as_role(community, Role.OWNER)
    url = f"/api/communities/{community.slug}/tokens"

    created = owner.post(url, {"name": "chat bot", "scopes": ["ingest"]}, "application/json")
    listed = owner.get(url)

    assert created.status_code == 201, created.content
    secret = created.json()["token"]
    assert authenticate_token(secret).name == "chat bot"
    assert secret not in listed.content.decode()
    assert [(t["name"], t["scopes"]) for t in listed.json()] == [("chat bot", ["ingest"])]


def test_unknown_scopes_are_refused_with_the_field_named(community):
    answer = as_role(community, Role.OWNER).post(
        f"/api/communities/{community.slug}/tokens",
        {"name": "bot", "scopes": ["root"]},
        "application/json",
    )

    assert answer.status_code == 400
    assert "scopes" in answer.json()["error"]["fields"]
    assert not ApiToken.objects.exists()


def test_an_owner_revokes_a_token_and_it_stops_working(community):
    issued = issue_token(community, "ingest")

    answer = as_role(community, Role.OWNER).delete(
        f"/api/communities/{community.slug}/tokens/{issued.token.pk}"
    )

    assert answer.status_code == 200
    assert answer.json()["revoked_at"] is not None
    with pytest.raises(Exception, match="revoked"):
        authenticate_token(issued.secret)


@pytest.mark.parametrize("role", [Role.MODERATOR, Role.MEMBER])
def test_moderators_and_members_do_not_manage_tokens(community, role):
    issued = issue_token(community, "ingest")
    client = as_role(community, role)
    base = f"/api/communities/{community.slug}/tokens"

    answers = [
        client.get(base),
        client.post(base, {"name": "x", "scopes": ["read"]}, "application/json"),
        client.delete(f"{base}/{issued.token.pk}"),
    ]

    assert [a.status_code for a in answers] == [403, 403, 403]
