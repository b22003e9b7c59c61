"""The WebSocket stream /ws/communities/<slug>/ through the project's ASGI application."""

from __future__ import annotations

import json

import pytest
from asgiref.testing import ApplicationCommunicator
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from communities.services import revoke_api_token
from config.asgi import application
from realtime.hub import get_hub
from tests.factories import MembershipFactory, UserFactory, issue_token
from tests.realtime.asgi_client import get_stream, session_cookie
from tests.realtime.helpers import ENVELOPE_KEYS, apublish, apublish_many

pytestmark = [
    pytest.mark.asyncio,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("hub"),
]


class Communicator(WebsocketCommunicator):
    """WebsocketCommunicator without its no-op patch of channels.db.close_old_connections.

    The patch keeps TestCase transactions alive, but it also stops the app's worker threads from
    returning their connections, which leaks them past the test. These tests commit for real.
    """

    send_input = ApplicationCommunicator.send_input
    receive_output = ApplicationCommunicator.receive_output


async def connect(slug: str, *headers: tuple[bytes, bytes]) -> WebsocketCommunicator:
    communicator = Communicator(application, f"/ws/communities/{slug}/", list(headers))
    connected, _ = await communicator.connect()
    assert connected
    return communicator


async def subscribe(communicator: WebsocketCommunicator, **fields) -> dict:
    await communicator.send_json_to({"action": "subscribe", **fields})
    return await communicator.receive_output(timeout=3)


async def receive_envelopes(communicator: WebsocketCommunicator, count: int) -> list[dict]:
    return [await communicator.receive_json_from(timeout=3) for _ in range(count)]


async def test_subscribe_is_acknowledged_with_stream_ready_then_envelopes_follow(community):
    await apublish(community, "progression", "progression.node.unlocked", {"node": 1})
    ws = await connect(community.slug)
    try:
        ready = await subscribe(ws, topics=["progression", "events"], last_event_id=0)
        assert json.loads(ready["text"]) == {
            "type": "stream.ready",
            "data": {"topics": ["events", "progression"]},
        }
        await apublish(community, "events", "events.event.started", {"event": 2})
        envelopes = await receive_envelopes(ws, 2)
    finally:
        await ws.disconnect()

    assert all(set(e) == ENVELOPE_KEYS for e in envelopes)
    assert [(e["id"], e["type"], e["data"]) for e in envelopes] == [
        (1, "progression.node.unlocked", {"node": 1}),
        (2, "events.event.started", {"event": 2}),
    ]


async def test_websocket_and_sse_carry_the_same_envelopes_with_the_same_ids(community):
    ws = await connect(community.slug)
    sse = await get_stream(community.slug, {"last_event_id": "0"})
    try:
        await subscribe(ws, last_event_id=0)
        await apublish_many(community, ["progression", "jobs", "events", "progression"])
        over_ws = await receive_envelopes(ws, 3)
        await sse.wait_for_ids(1, 3, 4)
    finally:
        await ws.disconnect()
        await sse.disconnect()

    over_sse = [json.loads(f["data"]) for f in sse.frames() if "id" in f]
    assert [e["id"] for e in over_ws] == [1, 3, 4]
    assert over_ws == over_sse


async def test_ping_is_answered_with_pong(community):
    ws = await connect(community.slug)
    try:
        await ws.send_json_to({"action": "ping"})
        assert await ws.receive_json_from() == {"type": "pong"}
    finally:
        await ws.disconnect()


async def test_unknown_action_gets_an_error_and_keeps_the_socket(community):
    ws = await connect(community.slug)
    try:
        await ws.send_json_to({"action": "dance"})
        reply = await ws.receive_json_from()
        await ws.send_json_to({"action": "ping"})
        assert await ws.receive_json_from() == {"type": "pong"}
    finally:
        await ws.disconnect()

    assert reply["type"] == "error"
    assert reply["error"]["code"] == "invalid"


async def test_last_event_id_resumes_right_after_it(community):
    await apublish_many(community, ["progression", "events", "jobs", "progression"])
    ws = await connect(community.slug)
    try:
        await subscribe(ws, topics=["progression", "events"], last_event_id=1)
        envelopes = await receive_envelopes(ws, 2)
        assert await ws.receive_nothing(timeout=0.2)
    finally:
        await ws.disconnect()

    assert [e["id"] for e in envelopes] == [2, 4]


async def assert_closed(ws: WebsocketCommunicator, code: int, **subscription) -> dict:
    """A refusal is an error frame with the reason (servers such as Daphne drop close
    reasons), then the close with 4000 + the HTTP status and the same reason."""
    frame = await subscribe(ws, **subscription)
    closed = await ws.receive_output(timeout=2)
    await ws.disconnect()
    assert frame["type"] == "websocket.send", frame
    error = json.loads(frame["text"])
    assert error["type"] == "error" and error["error"]["code"]
    assert closed["type"] == "websocket.close", closed
    assert closed["code"] == code
    assert closed["reason"] and error["error"]["message"].startswith(closed["reason"])
    return closed


async def test_member_topic_refused_to_anonymous_closes_with_4401(community):
    ws = await connect(community.slug)
    await assert_closed(ws, 4401, topics=["progression", "jobs"])


async def test_member_topic_refused_to_a_signed_in_outsider_closes_with_4403(community):
    cookie = await database_sync_to_async(lambda: session_cookie(UserFactory()))()
    ws = await connect(community.slug, (b"cookie", cookie.encode()))
    closed = await assert_closed(ws, 4403, topics=["jobs"])
    assert "jobs" in closed["reason"]


async def test_unknown_community_closes_with_4404(db):
    ws = await connect("no-such-community")
    await assert_closed(ws, 4404)


async def test_unknown_topic_closes_with_4400(community):
    ws = await connect(community.slug)
    await assert_closed(ws, 4400, topics=["chat"])


async def test_private_community_is_unknown_to_anonymous_4404_as_a_wrong_slug(private_community):
    ws = await connect(private_community.slug)
    closed = await assert_closed(ws, 4404)
    assert closed["reason"] == f"No community {private_community.slug!r}."


async def test_cross_site_websocket_with_a_session_is_refused_with_4403(community):
    member = await database_sync_to_async(lambda: MembershipFactory(community=community).user)()
    cookie = await database_sync_to_async(session_cookie)(member)
    ws = await connect(
        community.slug, (b"cookie", cookie.encode()), (b"origin", b"https://evil.example")
    )
    await assert_closed(ws, 4403, topics=["jobs"])


async def test_public_topics_are_readable_from_another_origin_without_a_session(community):
    """Anyone may read a public community's progression, e.g. an overlay served elsewhere;
    the cross-site guard is there to stop a foreign page riding a visitor's session."""
    ws = await connect(community.slug, (b"origin", b"https://overlay.example"))
    try:
        reply = await subscribe(ws, topics=["progression"])
    finally:
        await ws.disconnect()

    assert reply["type"] == "websocket.send", reply
    assert json.loads(reply["text"])["type"] == "stream.ready"


async def test_member_session_gets_member_topics(community):
    member = await database_sync_to_async(lambda: MembershipFactory(community=community).user)()
    cookie = await database_sync_to_async(session_cookie)(member)
    ws = await connect(community.slug, (b"cookie", cookie.encode()))
    try:
        ready = await subscribe(ws, topics=["jobs"], last_event_id=0)
        await apublish(community, "jobs", "jobs.job.created")
        envelopes = await receive_envelopes(ws, 1)
    finally:
        await ws.disconnect()

    assert json.loads(ready["text"])["type"] == "stream.ready"
    assert envelopes[0]["topic"] == "jobs"


async def test_read_token_gets_member_topics_of_a_private_community(private_community):
    issued = await database_sync_to_async(issue_token)(private_community, "read")
    await apublish_many(private_community, ["admin", "board"])
    ws = await connect(
        private_community.slug, (b"authorization", f"Bearer {issued.secret}".encode())
    )
    try:
        await subscribe(ws, topics=["admin", "board"], last_event_id=0)
        envelopes = await receive_envelopes(ws, 2)
    finally:
        await ws.disconnect()

    assert [e["id"] for e in envelopes] == [1, 2]


async def test_a_second_subscribe_replaces_the_first_stream(community):
    ws = await connect(community.slug)
    try:
        await subscribe(ws, topics=["progression"])
        ready = await subscribe(ws, topics=["events"], last_event_id=0)
        await apublish_many(community, ["progression", "events"])
        envelopes = await receive_envelopes(ws, 1)
        assert await ws.receive_nothing(timeout=0.3)
    finally:
        await ws.disconnect()

    assert json.loads(ready["text"])["data"]["topics"] == ["events"]
    assert [(e["id"], e["topic"]) for e in envelopes] == [(2, "events")]


async def test_revoked_token_gets_stream_revoked_then_close_4403(private_community):
    issued = await database_sync_to_async(issue_token)(private_community, "read")
    ws = await connect(
        private_community.slug, (b"authorization", f"Bearer {issued.secret}".encode())
    )
    await apublish(private_community, "jobs", "jobs.job.created")
    await subscribe(ws, topics=["jobs"], last_event_id=0)
    await receive_envelopes(ws, 1)  # replayed: the stream is live and in its access group

    await database_sync_to_async(revoke_api_token)(issued.token)
    revoked = await ws.receive_json_from(timeout=3)
    closed = await ws.receive_output(timeout=3)
    await ws.disconnect()

    assert revoked == {"type": "stream.revoked", "data": {"topics": ["jobs"], "remaining": []}}
    assert (closed["type"], closed["code"]) == ("websocket.close", 4403)


async def test_server_shutdown_sends_stream_shutdown_then_closes_with_1012(community):
    await apublish(community, "progression")
    ws = await connect(community.slug)
    await subscribe(ws, last_event_id=0)
    await receive_envelopes(ws, 1)  # replayed: the stream is live

    get_hub().shutdown()
    shutdown = await ws.receive_json_from(timeout=3)
    closed = await ws.receive_output(timeout=3)
    await ws.disconnect()

    assert shutdown["type"] == "stream.shutdown"
    assert (closed["type"], closed["code"]) == ("websocket.close", 1012)


async def test_token_guessing_locks_the_address_out_of_websockets_with_4429(community, settings):
    settings.AUTH_FAILURE_RATE = "2/m"
    issued = await database_sync_to_async(issue_token)(community, "read")
    guesses = [
        await assert_closed(await connect(community.slug, bearer(f"ph_00000000000{n}_bad")), 4401)
        for n in range(2)
    ]

    locked = await assert_closed(await connect(community.slug, bearer(issued.secret)), 4429)

    assert all("token" in closed["reason"] for closed in guesses)
    assert "failed authentications" in locked["reason"]


def bearer(token: str) -> tuple[bytes, bytes]:
    return (b"authorization", f"Bearer {token}".encode())
