"""SIGTERM to a server: open streams end cleanly with `stream.shutdown`; clients resume elsewhere."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from typing import Any

import pytest

from tests.e2e.clients import StreamStillOpen, open_sse, sse_http_client
from tests.e2e.processes import Launcher
from tests.e2e.publishing import in_thread, publish_committed
from tests.factories import CommunityFactory


@pytest.mark.real_services
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("kind", ["uvicorn", "daphne", "web"])  # web: the Procfile's gunicorn
def test_sigterm_ends_open_sse_stream_with_stream_shutdown_then_a_clean_end(
    processes: Launcher, kind: str
) -> None:
    server = processes.server(kind)
    community = CommunityFactory()
    url = f"{server.base_url}/api/communities/{community.slug}/stream?topics=progression"

    async def scenario() -> dict[str, Any]:
        async with sse_http_client() as http:
            stream = await open_sse(http, url, last_event_id=0)
            await in_thread(publish_committed, community, {"step": "before"})
            first = await stream.next_data_event(5)
            signalled = time.monotonic()
            server.signal(signal.SIGTERM)
            try:
                after = await stream.drain_until_end(10)
            except StreamStillOpen:
                after = None
            ended_in = time.monotonic() - signalled
            clean, error = stream.clean_end, stream.error
            await stream.close()
            try:
                code = await asyncio.to_thread(server.wait, 10)
            except subprocess.TimeoutExpired:
                code = None
            return {
                "first": first.id,
                "after": None if after is None else [e.event for e in after],
                "clean": clean,
                "error": repr(error),
                "ended_in": ended_in,
                "exit": code,
                "exited_in": time.monotonic() - signalled,
            }

    result = asyncio.run(scenario())
    print(f"{kind} after SIGTERM: {result}")

    assert result["first"] == 1
    assert result["after"] == ["stream.shutdown"], result
    assert result["clean"] is True, result
    assert result["exit"] is not None, f"{kind} still running 10 s after SIGTERM"
