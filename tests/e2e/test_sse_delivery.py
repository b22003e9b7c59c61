"""Delivery over SSE with real servers: nothing lost, nothing twice, in order, across processes."""

from __future__ import annotations

import asyncio
import os
import random
import time
from dataclasses import dataclass, field
from typing import Any

import pytest

from communities.models import Community
from realtime.models import OutboxEvent
from tests.e2e.clients import SSEStream, open_sse, sse_http_client
from tests.e2e.processes import Launcher, Process
from tests.e2e.publish_then_die import DIED_AFTER_COMMIT
from tests.e2e.publishing import (
    EVENT_TYPE,
    BackgroundPublisher,
    in_thread,
    publish_committed,
    publish_rolled_back,
)
from tests.factories import CommunityFactory

ENVELOPE_KEYS = {"id", "type", "topic", "community", "occurred_at", "data"}


def stream_url(server: Process, community: Community, topics: str = "progression,events") -> str:
    return f"{server.base_url}/api/communities/{community.slug}/stream?topics={topics}"


# --- 1,000 events and a client that keeps dropping its connection --------------------------


@dataclass
class Followed:
    ids: list[int] = field(default_factory=list)
    envelopes: list[dict[str, Any]] = field(default_factory=list)
    controls: list[str] = field(default_factory=list)
    connections: int = 0
    connections_while_publishing: int = 0


async def _read_for(stream: SSEStream, seconds: float, seen: Followed) -> None:
    deadline = time.monotonic() + seconds
    while (remaining := deadline - time.monotonic()) > 0:
        try:
            event = await stream.next(remaining)
        except TimeoutError:
            return
        if event is None:
            return
        if event.is_control:
            seen.controls.append(event.event)
            continue
        seen.ids.append(event.id)
        seen.envelopes.append(event.json())


async def _follow_with_random_reconnects(
    url: str, publisher: BackgroundPublisher, total: int, rng: random.Random
) -> Followed:
    seen = Followed()
    give_up = time.monotonic() + 45
    async with sse_http_client() as http:
        while len(seen.ids) < total and time.monotonic() < give_up:
            stream = await open_sse(http, url, last_event_id=seen.ids[-1] if seen.ids else 0)
            assert stream.status == 200, stream.response.text
            if not publisher.is_alive() and not publisher.published:
                publisher.start()
            seen.connections += 1
            seen.connections_while_publishing += publisher.is_alive()
            try:
                await _read_for(stream, rng.uniform(0.02, 0.3), seen)
            finally:
                await stream.close()
            await asyncio.sleep(rng.uniform(0.0, 0.03))
    return seen


@pytest.mark.real_services
@pytest.mark.django_db(transaction=True)
def test_client_reconnecting_at_random_moments_sees_every_event_once_in_order(web: Process) -> None:
    total = 1000
    seed = int(os.environ.get("E2E_SEED") or time.time_ns() % 1_000_000)
    community = CommunityFactory()
    publisher = BackgroundPublisher(community, total, random.Random(seed + 1))

    seen = asyncio.run(
        _follow_with_random_reconnects(
            stream_url(web, community), publisher, total, random.Random(seed)
        )
    )
    publisher.join(30)

    assert publisher.error is None, publisher.error
    assert publisher.published == list(range(1, total + 1))
    missing = sorted(set(range(1, total + 1)) - set(seen.ids))
    assert seen.ids == list(range(1, total + 1)), (
        f"seed={seed}: {len(seen.ids)} received, missing={missing[:20]}, "
        f"out of order or repeated at {_first_disorder(seen.ids)}"
    )
    assert seen.controls == []
    assert [e["data"]["n"] for e in seen.envelopes] == seen.ids
    assert all(set(e) == ENVELOPE_KEYS for e in seen.envelopes)
    assert {(e["topic"], e["type"], e["community"]) for e in seen.envelopes} == {
        ("progression", EVENT_TYPE, community.slug)
    }
    assert seen.connections_while_publishing >= 10, (seed, seen.connections_while_publishing)
    print(
        f"seed={seed} connections={seen.connections} "
        f"while_publishing={seen.connections_while_publishing} publish_seconds={publisher.elapsed:.2f}"
    )


def _first_disorder(ids: list[int]) -> int | None:
    return next((i for i, (a, b) in enumerate(zip(ids, ids[1:], strict=False)) if b != a + 1), None)


# --- several server processes -------------------------------------------------------------


@pytest.mark.real_services
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "server_names",
    [("web", "web2"), ("web", "daphne_web")],
    ids=["uvicorn+uvicorn", "uvicorn+daphne"],
)
def test_event_reaches_clients_connected_to_every_server_process(
    request: pytest.FixtureRequest, server_names: tuple[str, str]
) -> None:
    servers = [request.getfixturevalue(name) for name in server_names]
    community = CommunityFactory()

    async def scenario() -> list[tuple[int, float]]:
        async with sse_http_client() as http:
            streams = [
                await open_sse(http, stream_url(s, community), last_event_id=0) for s in servers
            ]
            # Once a stream has the first event its initial sync is over: later events can only
            # reach it live, through this server process's hub and the channel layer.
            await in_thread(publish_committed, community, {"step": "first"})
            for stream in streams:
                assert (await stream.next_data_event(5)).id == 1
            published_at = time.monotonic()
            await in_thread(publish_committed, community, {"step": "live"})
            received = []
            for stream in streams:
                event = await stream.next_data_event(5)
                received.append((event.id, time.monotonic() - published_at))
                assert event.json()["data"] == {"step": "live"}
            for stream in streams:
                await stream.close()
            return received

    received = asyncio.run(scenario())

    assert [event_id for event_id, _ in received] == [2, 2]
    print("publish-to-receive seconds per server:", [round(s, 3) for _, s in received])


# --- transactions -------------------------------------------------------------------------


@pytest.mark.real_services
@pytest.mark.django_db(transaction=True)
def test_rolled_back_transaction_publishes_nothing(web: Process) -> None:
    community = CommunityFactory()

    async def scenario() -> tuple[int | None, int]:
        async with sse_http_client() as http:
            stream = await open_sse(http, stream_url(web, community), last_event_id=0)
            await in_thread(publish_committed, community, {"step": "before"})
            assert (await stream.next_data_event(5)).id == 1
            await in_thread(publish_rolled_back, community, {"step": "rolled back"})
            try:
                unexpected = await stream.next(1.0)
            except TimeoutError:
                unexpected = None
            await in_thread(publish_committed, community, {"step": "after"})
            after = await stream.next_data_event(5)
            await stream.close()
            return (unexpected.id if unexpected else None), after.json()

    unexpected, after = asyncio.run(scenario())

    assert unexpected is None
    assert after["id"] == 2 and after["data"] == {"step": "after"}
    assert list(
        OutboxEvent.objects.filter(community=community)
        .order_by("event_id")
        .values_list("data", flat=True)
    ) == [{"step": "before"}, {"step": "after"}]


@pytest.mark.real_services
@pytest.mark.django_db(transaction=True)
def test_event_committed_by_a_publisher_killed_before_fan_out_is_delivered_by_the_relay(
    web: Process, processes: Launcher
) -> None:
    relay = processes.relay()
    community = CommunityFactory()

    async def scenario() -> tuple[int, dict[str, Any], float]:
        async with sse_http_client() as http:
            stream = await open_sse(http, stream_url(web, community), last_event_id=0)
            await in_thread(publish_committed, community, {"step": "first"})
            assert (await stream.next_data_event(5)).id == 1
            writer = processes.script("tests.e2e.publish_then_die", str(community.pk), "killed")
            code = await asyncio.to_thread(writer.wait, 30)
            died_at = time.monotonic()
            event = await stream.next_data_event(5)
            waited = time.monotonic() - died_at
            await stream.close()
            return code, event.json(), waited

    code, envelope, waited = asyncio.run(scenario())

    assert code == DIED_AFTER_COMMIT, "the writer should die in fan-out, after its commit"
    assert envelope["id"] == 2 and envelope["data"] == {"marker": "killed"}
    assert waited < 2.5, f"relay delivered {waited:.2f}s after the writer died"
    # The relay logs after its fan-out, so the line may land just after the stream saw the event.
    relay.wait_for_log("relay resent 1 events", timeout=5)
    print(f"relay delivered {waited:.2f}s after the writer died")
