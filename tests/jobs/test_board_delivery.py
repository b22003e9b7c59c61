"""The regression of seeds/003: a board move whose request's database connection is gone right
after the response still reaches a second connected client; a failed publish is logged at
ERROR with the event id and counted, never dropped at DEBUG."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest
from channels.db import database_sync_to_async
from django.db import connection
from django.test import Client
from prometheus_client import REGISTRY

from jobs.suggestions_models import Proposal
from realtime.models import OutboxEvent
from tests.factories import MembershipFactory
from tests.realtime.asgi_client import get_stream, session_cookie
from tests.realtime.test_consumers import Communicator, subscribe


def _move_then_close_the_connection(slug: str, card: Proposal, moderator) -> int:
    """The moderator's request, on a thread of its own; its connection closed at once after
    the response, as a server hands a request's connection back."""
    client = Client()
    client.force_login(moderator)
    response = client.post(
        f"/api/communities/{slug}/proposals/{card.pk}/move",
        data=json.dumps({"column": "accepted", "position": 0, "version": card.version}),
        content_type="application/json",
    )
    connection.close()
    return response.status_code


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("hub")
async def test_a_move_reaches_a_second_client_over_sse_and_websocket_after_its_request_closed(
    community, make_cards
):
    from config.asgi import application

    moderator, member = await database_sync_to_async(
        lambda: (
            MembershipFactory(community=community, role="moderator").user,
            MembershipFactory(community=community).user,
        )
    )()
    (card,) = await database_sync_to_async(make_cards)(community, "shortlisted", 1)
    cookie = await database_sync_to_async(session_cookie)(member)
    sse = await get_stream(community.slug, {"topics": "board"}, {"Cookie": cookie})
    ws = Communicator(
        application, f"/ws/communities/{community.slug}/", [(b"cookie", cookie.encode())]
    )
    assert (await ws.connect())[0]
    await subscribe(ws, topics=["board"])
    try:
        status = await database_sync_to_async(
            _move_then_close_the_connection, thread_sensitive=False
        )(community.slug, card, moderator)
        event_id = await database_sync_to_async(
            lambda: OutboxEvent.objects.get(community=community, topic="board").event_id
        )()
        await sse.wait_for_ids(event_id)
        envelope = await ws.receive_json_from(timeout=5)
    finally:
        await sse.disconnect()
        await ws.disconnect()

    assert status == 200
    assert sse.event_ids() == [event_id]
    (frame,) = [f for f in sse.frames() if f.get("event") == "board.card.moved"]
    assert json.loads(frame["data"])["data"]["card"]["column"] == "accepted"
    assert (envelope["id"], envelope["type"]) == (event_id, "board.card.moved")
    assert envelope["data"]["to"] == {"column": "accepted", "position": 0}


@pytest.mark.django_db(transaction=True)
def test_a_failed_publish_is_logged_at_error_with_the_event_id_and_counted(
    community, make_cards, moderator, monkeypatch, caplog
):
    (card,) = make_cards(community, "new", 1)

    def broken(messages):
        raise ConnectionError("channel layer away")

    monkeypatch.setattr("realtime.fanout.send", broken)
    before = REGISTRY.get_sample_value("stream_publish_failures_total") or 0.0
    client = Client()
    client.force_login(moderator)

    with caplog.at_level(logging.INFO):
        response = client.post(
            f"/api/communities/{community.slug}/proposals/{card.pk}/move",
            data=json.dumps({"column": "shortlisted", "position": 0, "version": 1}),
            content_type="application/json",
        )

    assert response.status_code == 200  # the move is committed; the relay resends the event
    event = OutboxEvent.objects.get(community=community, topic="board")
    assert event.dispatched_at is None  # left for the relay
    failures = [r for r in caplog.records if "fan-out failed" in r.getMessage()]
    assert [r.levelno for r in failures] == [logging.ERROR]
    assert f"event={event.event_id}" in failures[0].getMessage()
    assert f"type={event.type}" in failures[0].getMessage()
    assert REGISTRY.get_sample_value("stream_publish_failures_total") == before + 1


def test_a_listener_that_fails_on_an_event_is_logged_at_error_with_its_id_and_counted(caplog):
    from realtime.hub import StreamHub

    class Broken:
        def on_message(self, message):
            raise RuntimeError("client gone mid-write")

    loop = asyncio.new_event_loop()
    hub = StreamHub(loop)
    hub.groups["community.1.board"] = {Broken()}
    before = REGISTRY.get_sample_value("stream_publish_failures_total") or 0.0

    try:
        hub.dispatch(
            {"type": "stream.event", "group": "community.1.board", "id": 41, "event_type": "b.x"}
        )
    finally:
        loop.close()

    (record,) = [r for r in caplog.records if "listener failed" in r.getMessage()]
    assert record.levelno == logging.ERROR
    assert "event=41" in record.getMessage() and "group=community.1.board" in record.getMessage()
    assert REGISTRY.get_sample_value("stream_publish_failures_total") == before + 1
