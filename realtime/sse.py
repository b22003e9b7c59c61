"""Server-Sent Events: GET /api/communities/<slug>/stream?topics=progression,events

A plain ASGI app (not a Channels consumer) so that a thousand idle clients cost a queue and a
task each, and a published event is serialised once per process, not once per client.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any
from urllib.parse import parse_qs

from django.conf import settings

from communities.errors import CommunityNotFound, error_body
from config.edge import (
    error_answer,
    path_is_clean,
    scope_headers,
    scope_request_id,
    send_json,
)
from realtime import metrics
from realtime.access import grant_stream, open_stream, parse_last_event_id, parse_topics
from realtime.envelope import sse_frame

logger = logging.getLogger(__name__)

SSE_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache, no-transform"),
    (b"x-accel-buffering", b"no"),
    (b"connection", b"keep-alive"),
]


class SSETransport:
    name = "sse"

    def __init__(self, send: Any) -> None:
        self._send = send

    async def _write(self, body: bytes) -> None:
        await self._send({"type": "http.response.body", "body": body, "more_body": True})

    async def write_events(self, messages: list[dict[str, Any]]) -> None:
        await self._write(b"".join(_frame(m) for m in messages))

    async def write_control(self, type: str, data: dict[str, Any], event_id: int | None) -> None:
        payload = json.dumps({"type": type, "data": data}, separators=(",", ":"))
        await self._write(sse_frame(event_id, type, payload))

    async def write_keepalive(self) -> None:
        await self._write(b": keepalive\n\n")


def _frame(message: dict[str, Any]) -> bytes:
    frame = message.get("_sse")
    if frame is None:  # built once per process and shared by every client
        frame = message["_sse"] = sse_frame(
            message["id"], message["event_type"], message["payload"]
        )
    return frame


async def sse_stream(scope: dict[str, Any], receive: Any, send: Any) -> None:
    request_id = scope_request_id(scope)
    if scope.get("method") not in ("GET", "HEAD"):
        body = error_body("method_not_allowed", "Use GET.")
        await send_json(send, 405, body, request_id=request_id)
        return
    slug = scope["url_route"]["kwargs"]["slug"]
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    try:
        if not path_is_clean(scope.get("path", "")):
            raise CommunityNotFound(slug)
        topics = parse_topics(query.get("topics", [None])[0])
        resume_from = parse_last_event_id(
            scope_headers(scope).get("last-event-id") or query.get("last_event_id", [None])[0]
        )
        grant = await grant_stream(scope, slug, scope.get("user"), topics)
    except Exception as exc:  # noqa: BLE001 - every refusal gets its JSON answer
        status, body, retry_after = error_answer(exc, f"stream of {slug}")
        await send_json(send, status, body, request_id=request_id, retry_after=retry_after)
        return
    await send({"type": "http.response.start", "status": 200, "headers": SSE_HEADERS})
    retry_ms = int(settings.STREAM_RETRY_MS)
    await send(
        {"type": "http.response.body", "body": f"retry: {retry_ms}\n\n".encode(), "more_body": True}
    )

    connection = open_stream(grant, SSETransport(send))
    runner = asyncio.ensure_future(connection.run(resume_from))
    watcher = asyncio.ensure_future(_wait_for_disconnect(receive))
    try:
        done, _ = await asyncio.wait({runner, watcher}, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        # The server is stopping (Daphne cancels handlers on SIGTERM): still end the body
        # properly so the client sees a clean end and resumes with its last id.
        await _stop(runner, watcher)
        await _end_body(send, slug)
        raise
    await _stop(runner, watcher)
    if runner in done and not runner.cancelled() and runner.exception() is not None:
        metrics.STREAM_FAILURES.labels(transport="sse").inc()
        logger.error("stream failed community=%s", slug, exc_info=runner.exception())
    if runner in done:
        await _end_body(send, slug)


async def _stop(*tasks: asyncio.Future) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def _end_body(send: Any, slug: str) -> None:
    try:
        await send({"type": "http.response.body", "body": b"", "more_body": False})
    except Exception:  # noqa: BLE001 - the client may already be gone
        logger.info("stream ended after client left community=%s", slug)


async def _wait_for_disconnect(receive: Any) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
