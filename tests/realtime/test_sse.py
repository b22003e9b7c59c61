"""GET /api/communities/<slug>/stream through the project's ASGI application."""

from __future__ import annotations

import json

import pytest
from channels.db import database_sync_to_async

from communities.services import revoke_api_token
from realtime.hub import get_hub
from tests.factories import MembershipFactory, UserFactory, issue_token
from tests.realtime.asgi_client import get_stream, session_cookie
from tests.realtime.helpers import ENVELOPE_KEYS, apublish, apublish_many, settle, until

pytestmark = [
    pytest.mark.asyncio,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("hub"),
]


@pytest.fixture
def outsider_cookie():
    return session_cookie(UserFactory())


@pytest.fixture
def member_cookie(community):
    return session_cookie(MembershipFactory(community=community).user)


def assert_error(response, status: int, code: str) -> dict:
    assert response.status == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.finished
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert {"code", "message"} <= set(body["error"]) <= {"code", "message", "fields"}
    return body["error"]


async def test_stream_is_an_unbuffered_event_stream_that_starts_with_a_retry_hint(community):
    response = await get_stream(community.slug)
    try:
        await until(lambda: response.chunks, what="the first body chunk")
        assert response.status == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert "no-cache" in response.headers["cache-control"]
        assert response.headers["x-accel-buffering"] == "no"
        assert response.chunks[0].startswith(b"retry: ")
        assert int(response.chunks[0].split(b"\n")[0].removeprefix(b"retry: ")) > 0
    finally:
        await response.disconnect()


async def test_each_event_is_a_frame_with_id_event_and_envelope_data(community):
    replayed = await apublish(community, "progression", "progression.node.unlocked", {"node": 1})
    response = await get_stream(community.slug, {"last_event_id": "0"})
    try:
        live = await apublish(community, "events", "events.event.started", {"event": 2})
        await response.wait_for_ids(1, 2)
        frames = [f for f in response.frames() if "id" in f]
    finally:
        await response.disconnect()

    assert [(f["id"], f["event"]) for f in frames] == [
        ("1", "progression.node.unlocked"),
        ("2", "events.event.started"),
    ]
    envelopes = [json.loads(f["data"]) for f in frames]
    assert all(set(e) == ENVELOPE_KEYS for e in envelopes)
    assert [(e["id"], e["topic"], e["community"], e["data"]) for e in envelopes] == [
        (replayed.event_id, "progression", community.slug, {"node": 1}),
        (live.event_id, "events", community.slug, {"event": 2}),
    ]


@pytest.mark.parametrize(
    ("query", "headers", "expected"),
    [
        ({}, {"Last-Event-ID": "2"}, [3, 4]),
        ({"last_event_id": "1"}, {}, [2, 3, 4]),
        # A reconnecting EventSource repeats the first URL: its header is the newer position.
        ({"last_event_id": "1"}, {"Last-Event-ID": "3"}, [4]),
    ],
    ids=["header", "query", "header-wins-over-query"],
)
async def test_reconnect_with_last_event_id_resumes_right_after_it(
    community, query, headers, expected
):
    await apublish_many(community, ["progression", "events", "progression", "events"])

    response = await get_stream(community.slug, query, headers)
    try:
        await response.wait_for_ids(4)
        await settle(0.1)
    finally:
        await response.disconnect()

    assert response.event_ids() == expected


async def test_stream_without_a_last_id_sends_only_events_after_connecting(community):
    await apublish_many(community, ["progression", "progression"])
    response = await get_stream(community.slug)
    try:
        await until(lambda: response.chunks)
        await settle(0.1)
        await apublish(community, "progression")
        await response.wait_for_ids(3)
    finally:
        await response.disconnect()

    assert response.event_ids() == [3]


async def test_unknown_topic_is_refused_with_400_in_the_error_shape(community):
    response = await get_stream(community.slug, {"topics": "progression,chat"})
    await response.finish()

    error = assert_error(response, 400, "invalid")
    assert "topics" in error["fields"]


async def test_malformed_last_event_id_is_refused_with_400(community):
    response = await get_stream(community.slug, {}, {"Last-Event-ID": "yesterday"})
    await response.finish()

    assert_error(response, 400, "invalid")


async def test_unknown_community_is_404_in_the_error_shape(db):
    response = await get_stream("no-such-community")
    await response.finish()

    assert_error(response, 404, "not_found")


async def test_public_stream_refuses_member_topics_to_anonymous_with_401(community):
    response = await get_stream(community.slug, {"topics": "progression,jobs"})
    await response.finish()

    error = assert_error(response, 401, "not_authenticated")
    assert "jobs" in error["message"]


async def test_public_stream_refuses_member_topics_to_a_signed_in_outsider_with_403(
    community, outsider_cookie
):
    response = await get_stream(community.slug, {"topics": "jobs"}, {"Cookie": outsider_cookie})
    await response.finish()

    assert_error(response, 403, "forbidden")


async def test_public_stream_gives_member_topics_to_a_member(community, member_cookie):
    response = await get_stream(
        community.slug, {"topics": "jobs,board", "last_event_id": "0"}, {"Cookie": member_cookie}
    )
    try:
        await apublish(community, "board", "board.card.moved")
        await response.wait_for_ids(1)
    finally:
        await response.disconnect()

    assert response.status == 200
    assert response.event_ids() == [1]


async def test_private_stream_is_unknown_to_anonymous_even_for_progression(private_community):
    response = await get_stream(private_community.slug, {"topics": "progression"})
    await response.finish()
    unknown = await get_stream("no-such-slug", {"topics": "progression"})
    await unknown.finish()

    hidden = assert_error(response, 404, "not_found")
    assert hidden == assert_error(unknown, 404, "not_found") | {
        "message": f"No community {private_community.slug!r}."
    }


async def test_private_stream_is_unknown_to_a_signed_in_outsider(
    private_community, outsider_cookie
):
    response = await get_stream(private_community.slug, {}, {"Cookie": outsider_cookie})
    await response.finish()

    assert_error(response, 404, "not_found")


async def test_token_with_read_scope_gets_member_topics_of_a_private_community(
    private_community,
):
    issued = await database_sync_to_async(issue_token)(private_community, "read")
    await apublish_many(private_community, ["jobs", "progression", "admin"])

    response = await get_stream(
        private_community.slug,
        {"topics": "jobs,admin", "last_event_id": "0"},
        {"Authorization": f"Bearer {issued.secret}"},
    )
    try:
        await response.wait_for_ids(1, 3)
        await settle(0.1)
    finally:
        await response.disconnect()

    assert response.status == 200
    assert response.event_ids() == [1, 3]


async def test_a_private_stream_is_unknown_to_a_token_of_another_community(
    community, private_community
):
    issued = await database_sync_to_async(issue_token)(community, "read")

    response = await get_stream(
        private_community.slug, {}, {"Authorization": f"Bearer {issued.secret}"}
    )
    await response.finish()

    assert_error(response, 404, "not_found")


async def test_invalid_token_is_refused_with_401(community):
    response = await get_stream(community.slug, {}, {"Authorization": "Bearer not-a-token"})
    await response.finish()

    assert_error(response, 401, "not_authenticated")


async def test_server_shutdown_ends_the_response_after_a_stream_shutdown_event(community):
    await apublish(community, "progression")
    response = await get_stream(community.slug, {"last_event_id": "0"})
    await response.wait_for_ids(1)  # replayed: the stream is live

    get_hub().shutdown()
    await response.finish()

    assert response.finished
    assert response.frames()[-1]["event"] == "stream.shutdown"


async def test_idle_stream_sends_keepalive_comments(community, settings):
    settings.STREAM_KEEPALIVE_SECONDS = 0.05
    response = await get_stream(community.slug)
    try:
        await until(lambda: response.text.count(": keepalive\n\n") >= 2, what="keepalives")
    finally:
        await response.disconnect()

    assert response.event_ids() == []


async def test_revoked_token_ends_the_response_after_stream_revoked(private_community):
    issued = await database_sync_to_async(issue_token)(private_community, "read")
    await apublish(private_community, "jobs", "jobs.job.created")
    response = await get_stream(
        private_community.slug,
        {"topics": "jobs", "last_event_id": "0"},
        {"Authorization": f"Bearer {issued.secret}"},
    )
    await response.wait_for_ids(1)  # replayed: the stream is live and in its access group

    await database_sync_to_async(revoke_api_token)(issued.token)
    await response.finish()

    revoked = [f for f in response.frames() if f.get("event") == "stream.revoked"]
    assert len(revoked) == 1
    assert json.loads(revoked[0]["data"])["data"] == {"topics": ["jobs"], "remaining": []}
    assert response.finished


@pytest.mark.parametrize("visibility", ["public", "private"])
async def test_every_snapshot_url_named_by_stream_reset_answers_200(community, visibility):
    """A client that gets `stream.reset` refetches each named snapshot: none may be a 404."""
    from django.test import Client

    community.visibility = visibility
    await database_sync_to_async(community.save)()
    issued = await database_sync_to_async(issue_token)(community, "read")
    auth = {"Authorization": f"Bearer {issued.secret}"}
    response = await get_stream(community.slug, {"last_event_id": "99"}, auth)
    try:
        await until(lambda: "stream.reset" in response.text, what="the stream.reset frame")
    finally:
        await response.disconnect()
    (reset,) = [f for f in response.frames() if f.get("event") == "stream.reset"]
    snapshots = json.loads(reset["data"])["data"]["snapshots"]

    def fetch(url: str) -> tuple[int, bytes]:
        answer = Client().get(url, headers=auth)
        return answer.status_code, answer.content

    assert snapshots
    for name, url in snapshots.items():
        status, body = await database_sync_to_async(fetch)(url)
        assert status == 200, f"{name}: {url} answered {status} {body[:200]!r}"
