"""A client that stops reading: bounded queue, `stream.overflow`, closed, resumes with its last id."""

from __future__ import annotations

import asyncio
import math
import time
from pathlib import Path

import pytest

from communities.models import Community
from tests.e2e.clients import SSEEvent, StalledSSE, open_sse, parse_sse, sse_http_client
from tests.e2e.processes import Launcher, Process
from tests.e2e.publishing import publish_batches
from tests.factories import CommunityFactory

QUEUE_SIZE = 8
PAYLOAD_BYTES = 40_000


def _events_to_overflow() -> int:
    """Enough 40 kB events to fill the server's socket send buffer (which grows up to the
    kernel's tcp_wmem maximum) and its write buffer well past the queue: 240 at 4 MB."""
    try:
        wmem_max = int(Path("/proc/sys/net/ipv4/tcp_wmem").read_text().split()[2])
    except (OSError, IndexError, ValueError):
        wmem_max = 4 * 1024 * 1024
    return max(240, math.ceil(2.5 * wmem_max / PAYLOAD_BYTES))


EVENTS = _events_to_overflow()


async def _resume(server: Process, community: Community, last_id: int) -> list[int]:
    url = f"{server.base_url}/api/communities/{community.slug}/stream?topics=progression"
    async with sse_http_client() as http:
        stream = await open_sse(http, url, last_event_id=last_id)
        ids: list[int] = []
        while not ids or ids[-1] < EVENTS:
            event = await stream.next_data_event(10)
            assert event is not None, f"stream ended after {ids[-1:]}"
            ids.append(event.id)
        await stream.close()
        return ids


@pytest.mark.real_services
@pytest.mark.django_db(transaction=True)
def test_client_too_slow_to_read_gets_stream_overflow_then_catches_up_with_its_last_id(
    processes: Launcher,
) -> None:
    server = processes.server("uvicorn", STREAM_QUEUE_SIZE=str(QUEUE_SIZE))
    community = CommunityFactory()
    stalled = StalledSSE(
        server.port, f"/api/communities/{community.slug}/stream?topics=progression", last_event_id=0
    )
    try:
        stalled.read_until(b"retry:", timeout=5)
        started = time.monotonic()
        publish_batches(community, EVENTS, per_transaction=50, payload_bytes=PAYLOAD_BYTES)
        published_in = time.monotonic() - started
        time.sleep(0.5)  # let the server take every event off the channel layer
        closed_by_server = stalled.read_to_end(timeout=20)
        events, _ = parse_sse(stalled.body_text())
    finally:
        stalled.close()

    data: list[SSEEvent] = [e for e in events if not e.is_control]
    controls = [e.event for e in events if e.is_control]
    ids = [e.id for e in data]
    assert closed_by_server, "the server must close an overflowing stream"
    assert controls == ["stream.overflow"]
    assert events[-1].event == "stream.overflow"
    assert ids == list(range(1, len(ids) + 1)), "what was sent before the overflow is in order"
    assert len(ids) < EVENTS, "an overflowing client cannot have been sent everything"
    assert [e.json()["data"]["n"] for e in data] == ids

    resumed = asyncio.run(_resume(server, community, ids[-1] if ids else 0))

    assert resumed == list(range(len(ids) + 1, EVENTS + 1))
    print(f"published {EVENTS} in {published_in:.2f}s; {len(ids)} sent before stream.overflow")
