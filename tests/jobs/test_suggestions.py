"""Viewers' suggestions over HTTP: the text rules, idempotency by message id, the per-viewer
rate limit and who may suggest."""

from __future__ import annotations

import json

import pytest

from communities.models import Role
from jobs.suggestions_models import Suggestion
from tests.factories import MembershipFactory, UserFactory, issue_token
from tests.jobs import suggestion_fixtures

relay = suggestion_fixtures.relay

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def post(client, slug: str, body: dict, token: str | None = None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return client.post(
        f"/api/communities/{slug}/suggestions",
        data=json.dumps(body),
        content_type="application/json",
        headers=headers,
    )


def chat(text: str, message_id: str = "m-1", viewer: str = "ann", **extra) -> dict:
    return {"text": text, "message_id": message_id, "platform_user_id": viewer, **extra}


def error_of(response, status: int) -> dict:
    assert response.status_code == status, response.content
    return response.json()["error"]


def test_a_relayed_chat_suggestion_is_recorded_for_its_viewer(client, community, relay):
    response = post(client, community.slug, chat("  pet dragon  ", display_name="Ann"), relay)

    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["text"], body["viewer_key"], body["status"], body["created"]) == (
        "pet dragon",
        "viewer:ann",
        "pending",
        True,
    )
    stored = Suggestion.objects.get()
    assert (stored.display_name, stored.message_id) == ("Ann", "bot:m-1")


def test_a_repeated_message_id_answers_the_first_suggestion_and_stores_nothing_new(
    client, community, relay
):
    first = post(client, community.slug, chat("pet dragon"), relay)
    again = post(client, community.slug, chat("something else entirely"), relay)

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["text"] == "pet dragon"
    assert again.json()["created"] is False
    assert Suggestion.objects.count() == 1


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("hi", "must be 3 to 300"),
        ("   a    ", "must be 3 to 300"),
        ("x" * 301, "must be 3 to 300"),
        ("pet\x00dragon", "control characters"),
        ("pet\ndragon", "control characters"),
        ("pet \x1b[31mdragon", "control characters"),
        ("pet \ud800 dragon", "unicode string"),  # a lone surrogate is no text
    ],
)
def test_text_that_is_too_short_too_long_or_has_control_characters_is_refused(
    client, community, relay, text, why
):
    error = error_of(post(client, community.slug, chat(text), relay), 400)

    assert error["code"] == "invalid"
    assert why in " ".join(error["fields"]["text"])
    assert Suggestion.objects.count() == 0


def test_three_hundred_characters_once_trimmed_are_taken(client, community, relay):
    response = post(client, community.slug, chat("  " + "x" * 300 + "  "), relay)

    assert response.status_code == 201, response.content


def test_a_bot_must_name_the_viewer_and_the_message(client, community, relay):
    error = error_of(post(client, community.slug, {"text": "pet dragon"}, relay), 400)

    assert set(error["fields"]) == {"platform_user_id", "message_id"}


def test_a_viewer_past_the_limit_is_429_with_retry_after_and_others_are_not(
    client, community, relay, settings
):
    settings.SUGGESTION_RATE = "2/m"
    answers = [post(client, community.slug, chat(f"idea {n}", f"m-{n}"), relay) for n in range(3)]
    other = post(client, community.slug, chat("idea x", "m-x", viewer="bob"), relay)

    assert [a.status_code for a in answers] == [201, 201, 429]
    assert int(answers[2]["Retry-After"]) >= 1
    assert answers[2].json()["error"]["code"] == "rate_limited"
    assert other.status_code == 201
    assert Suggestion.objects.count() == 3


def test_a_repeat_costs_no_rate_limit_token(client, community, relay, settings):
    settings.SUGGESTION_RATE = "1/m"
    answers = [post(client, community.slug, chat("pet dragon"), relay) for _ in range(3)]

    assert [a.status_code for a in answers] == [201, 200, 200]


def test_a_signed_in_viewer_suggests_as_themselves_in_a_public_community(client, community):
    user = UserFactory()
    client.force_login(user)

    response = post(client, community.slug, {"text": "pet dragon", "platform_user_id": "x"})

    assert response.status_code == 201, response.content
    stored = Suggestion.objects.get()
    assert (stored.viewer_key, stored.user_id, stored.display_name) == (
        f"user:{user.pk}",
        user.pk,
        user.username,
    )


def test_a_web_post_with_a_message_id_is_idempotent_per_user(client, community):
    ann, bob = UserFactory(), UserFactory()
    client.force_login(ann)
    first = post(client, community.slug, {"text": "pet dragon", "message_id": "form-1"})
    again = post(client, community.slug, {"text": "pet dragon", "message_id": "form-1"})
    client.force_login(bob)
    bobs = post(client, community.slug, {"text": "pet dragon", "message_id": "form-1"})

    assert (first.status_code, again.status_code, bobs.status_code) == (201, 200, 201)
    assert Suggestion.objects.count() == 2


def test_anonymous_callers_are_401(client, community):
    assert error_of(post(client, community.slug, {"text": "pet dragon"}), 401)


def test_outsiders_of_a_private_community_get_the_unknown_slug_404(client, private_community):
    client.force_login(UserFactory())

    assert error_of(post(client, private_community.slug, {"text": "pet dragon"}), 404)


def test_members_of_a_private_community_may_suggest(client, private_community):
    membership = MembershipFactory(community=private_community, role=Role.MEMBER)
    client.force_login(membership.user)

    assert post(client, private_community.slug, {"text": "pet dragon"}).status_code == 201


@pytest.mark.parametrize("scopes", [("read",), ("vote",), ("admin",)])
def test_tokens_without_ingest_are_refused(client, community, scopes):
    token = issue_token(community, *scopes).secret

    assert error_of(post(client, community.slug, chat("pet dragon"), token), 403)


def test_an_ingest_token_of_another_community_is_refused(client, community, private_community):
    other = issue_token(private_community, "ingest").secret

    assert error_of(post(client, community.slug, chat("pet dragon"), other), 403)


def test_a_session_post_without_csrf_is_refused(community):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    strict.force_login(UserFactory())

    assert error_of(post(strict, community.slug, {"text": "pet dragon"}), 403)
    assert Suggestion.objects.count() == 0


def test_moderators_list_the_latest_suggestions_and_viewers_may_not(client, community, relay):
    for n in range(3):
        post(client, community.slug, chat(f"idea {n}", f"m-{n}", viewer=f"v{n}"), relay)
    moderator = MembershipFactory(community=community, role=Role.MODERATOR)
    client.force_login(moderator.user)

    listed = client.get(f"/api/communities/{community.slug}/suggestions?limit=2")
    client.force_login(UserFactory())
    refused = client.get(f"/api/communities/{community.slug}/suggestions")

    assert [s["text"] for s in listed.json()["suggestions"]] == ["idea 2", "idea 1"]
    assert error_of(refused, 403)
