"""The WebSocket stream on a real server: same envelopes and ids as SSE, resumable, access-checked."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from communities.models import Community
from tests.e2e.clients import open_sse, sse_http_client
from tests.e2e.processes import Process
from tests.e2e.publishing import in_thread, publish_committed
from tests.factories import CommunityFactory


def ws_url(server: Process, community: Community) -> str:
    return f"{server.ws_url}/ws/communities/{community.slug}/"


async def _receive(ws: ClientConnection, timeout: float = 5.0) -> dict[str, Any]:
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def _subscribe(
    ws: ClientConnection, topics: list[str], last_event_id: int | None
) -> dict[str, Any]:
    await ws.send(
        json.dumps({"action": "subscribe", "topics": topics, "last_event_id": last_event_id})
    )
    return await _receive(ws)


async def _sse_envelopes(server: Process, community: Community, count: int) -> list[dict[str, Any]]:
    url = f"{server.base_url}/api/communities/{community.slug}/stream?topics=progression"
    async with sse_http_client() as http:
        stream = await open_sse(http, url, last_event_id=0)
        envelopes = [(await stream.next_data_event(5)).json() for _ in range(count)]
        await stream.close()
        return envelopes


@pytest.mark.real_services
@pytest.mark.django_db(transaction=True)
def test_websocket_replays_from_last_event_id_then_streams_live_with_sse_envelopes(
    web: Process,
) -> None:
    community = CommunityFactory()
    for n in (1, 2, 3):
        publish_committed(community, {"n": n})

    async def scenario() -> dict[str, Any]:
        async with connect(ws_url(web, community), proxy=None) as ws:
            ready = await _subscribe(ws, ["progression"], 0)
            replayed = [await _receive(ws) for _ in range(3)]
            for n in (4, 5):
                await in_thread(publish_committed, community, {"n": n})
            live = [await _receive(ws) for _ in range(2)]
            await ws.send(json.dumps({"action": "ping"}))
            pong = await _receive(ws)
        async with connect(ws_url(web, community), proxy=None) as ws:
            await _subscribe(ws, ["progression"], 3)
            resumed = [await _receive(ws) for _ in range(2)]
        return {
            "ready": ready,
            "ws": replayed + live,
            "pong": pong,
            "resumed": resumed,
            "sse": await _sse_envelopes(web, community, 5),
        }

    result = asyncio.run(scenario())

    assert result["ready"] == {"type": "stream.ready", "data": {"topics": ["progression"]}}
    assert [e["id"] for e in result["ws"]] == [1, 2, 3, 4, 5]
    assert [e["data"]["n"] for e in result["ws"]] == [1, 2, 3, 4, 5]
    assert result["pong"] == {"type": "pong"}
    assert result["resumed"] == result["ws"][3:]
    assert result["ws"] == result["sse"], "both transports carry identical envelopes"


@pytest.mark.real_services
@pytest.mark.django_db(transaction=True)
def test_websocket_refuses_member_topics_to_anonymous_client_with_close_code(web: Process) -> None:
    community = CommunityFactory()

    code, reason, error = asyncio.run(_refused(web, community))

    assert code == 4401
    assert "jobs" in reason
    assert error["error"]["code"] == "not_authenticated" and "jobs" in error["error"]["message"]


@pytest.mark.real_services
@pytest.mark.django_db(transaction=True)
def test_websocket_refusal_reason_reaches_clients_of_daphne(daphne_web: Process) -> None:
    """Daphne drops close reasons: the error frame before the close still says why."""
    community = CommunityFactory(visibility="private")

    code, _, error = asyncio.run(_refused(daphne_web, community))

    assert code == 4404
    assert error["error"] == {"code": "not_found", "message": f"No community {community.slug!r}."}


async def _refused(web: Process, community: Community) -> tuple[int, str, dict[str, Any]]:
    """Subscribes to `jobs` anonymously; returns the close code, its reason and the error
    frame that came before it."""
    async with connect(ws_url(web, community), proxy=None) as ws:
        await ws.send(json.dumps({"action": "subscribe", "topics": ["jobs"]}))
        error = json.loads(await asyncio.wait_for(ws.recv(), 5))
        try:
            await asyncio.wait_for(ws.recv(), 5)
        except ConnectionClosed as closed:
            assert closed.rcvd is not None
            return closed.rcvd.code, closed.rcvd.reason, error
    raise AssertionError("the socket stayed open")
