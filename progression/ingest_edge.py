"""The lean HTTP edge for bots' engagement: `POST /api/communities/<slug>/engagement` with a
bearer token, served straight from ASGI.

It is the busiest URL by far (every chat message), so it skips Django's middleware chain and
view machinery (a dozen thread hand-offs per request) and joins the process's group-commit
queue instead. It parses and answers exactly like the Ninja route (`progression.api`, which
documents it in the OpenAPI schema and still serves session-authenticated callers); both call
`progression.services.ingest.record_ingest_requests`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
import weakref
from collections import Counter
from typing import Any

import orjson
from channels.db import database_sync_to_async
from django.conf import settings

from communities.errors import InvalidCredentials, InvalidInput
from config.edge import (
    authenticating,
    bearer_token,
    error_answer,
    scope_client_address,
    scope_request_id,
    send_json,
)
from config.logging import current_context_id
from progression.engagement_io import Submission, answer, parse_submission
from progression.ingest_queue import IngestQueue
from progression.services.engagement import EngagementResult
from progression.services.ingest import IngestRequest, check_ingest_access

logger = logging.getLogger(__name__)
_PATH = re.compile(r"^/api/communities/(?P<slug>[^/]+)/engagement$")


class IngestRoute:
    """Takes bearer-token engagement POSTs; passes everything else to `app` untouched."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self._queues: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, IngestQueue] = (
            weakref.WeakKeyDictionary()
        )

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        match = _takes(scope)
        if match is None:
            await self.app(scope, receive, send)
            return
        await self._serve(scope, receive, send, match)

    def queue(self) -> IngestQueue:
        loop = asyncio.get_running_loop()
        queue = self._queues.get(loop)
        if queue is None:
            queue = self._queues[loop] = IngestQueue(
                flushers=settings.INGEST_WRITERS,
                max_waiting=settings.INGEST_MAX_WAITING,
                max_events_per_write=settings.INGEST_MAX_EVENTS_PER_WRITE,
            )
        return queue

    async def _serve(self, scope: dict, receive: Any, send: Any, match: tuple[str, str]) -> None:
        slug, raw_token = match
        request_id = scope_request_id(scope)
        context = current_context_id.set(request_id)
        try:
            body = await _read_body(receive)
            if body is None:
                return
            address = scope_client_address(scope)
            status, payload, retry_after = await self._answer(
                slug, raw_token, body, request_id, address
            )
            if status >= 500:
                logger.error("engagement %s for %s: %s", status, slug, payload["error"]["message"])
            elif status == 429:  # a burst refuses hundreds a second: one line per second
                _refusals.add(slug, payload["error"]["code"])
            elif status >= 400:
                logger.warning("engagement %s for %s: %s", status, slug, payload["error"]["code"])
            await send_json(send, status, payload, request_id=request_id, retry_after=retry_after)
        finally:
            current_context_id.reset(context)

    async def _answer(
        self, slug: str, raw_token: str, body: bytes, request_id: str, address: str
    ) -> tuple[int, dict, int | None]:
        try:  # a locked-out guesser is not even looked up
            submission, reply = await authenticating(
                address, lambda: self._submit(slug, raw_token, body, request_id)
            )
        except Exception as exc:  # noqa: BLE001 - every failure gets its JSON answer
            return error_answer(exc, f"engagement for {slug}")
        status, payload = answer(submission, reply)
        return status, payload, 1 if status == 429 else None

    async def _submit(
        self, slug: str, raw_token: str, body: bytes, request_id: str
    ) -> tuple[Submission, EngagementResult]:
        submission = await _submission(slug, raw_token, body)
        reply = await self.queue().submit(
            IngestRequest(slug, submission, raw_token=raw_token), request_id
        )
        if isinstance(reply, BaseException):
            raise reply
        return submission, reply


async def _submission(slug: str, raw_token: str, body: bytes) -> Submission:
    """The parsed body; refused in the order of every route: who you are (401), whether you
    may (404, 403), then what you sent (400)."""
    try:
        data = _json(body)
    except InvalidInput:
        await database_sync_to_async(check_ingest_access)(slug, raw_token=raw_token, access=False)
        raise
    try:
        return parse_submission(data)
    except InvalidInput:
        await database_sync_to_async(check_ingest_access)(slug, raw_token=raw_token)
        raise


class _RefusalLog:
    """429s logged at most once a second per process, with how many there were meanwhile
    (`ingest_refused_total` and `engagement_events_total{outcome="rate_limited"}` count each);
    what a burst's last second adds is logged by a timer, not left pending."""

    def __init__(self) -> None:
        self.counts: Counter[tuple[str, str]] = Counter()
        self.logged_at = 0.0
        self.timer: asyncio.TimerHandle | None = None

    def add(self, slug: str, code: str) -> None:
        self.counts[(slug, code)] += 1
        wait = 1.0 - (time.monotonic() - self.logged_at)
        if wait <= 0:
            self.flush()
        elif self.timer is None:
            try:
                self.timer = asyncio.get_running_loop().call_later(wait, self.flush)
            except RuntimeError:  # no loop (a test): the next add() logs
                pass

    def flush(self) -> None:
        self.timer = None
        for (community, reason), count in sorted(self.counts.items()):
            logger.warning("engagement 429 %s for %s: %d request(s)", reason, community, count)
        self.counts.clear()
        self.logged_at = time.monotonic()


_refusals = _RefusalLog()


def _takes(scope: dict) -> tuple[str, str] | None:
    """(slug, token) when this is a bearer-token engagement POST, else None."""
    if scope["type"] != "http" or scope.get("method") != "POST":
        return None
    match = _PATH.match(scope.get("path", ""))
    if match is None:
        return None
    for name, value in scope.get("headers") or ():
        if name == b"authorization":
            try:
                raw = bearer_token(value.decode("latin-1"))
            except InvalidCredentials:  # not a bearer token: the Ninja route answers it
                return None
            return (match["slug"], raw) if raw else None
    return None


async def _read_body(receive: Any) -> bytes | None:
    """The whole body, or None if the client went away before sending it."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


def _json(body: bytes) -> Any:
    """orjson, falling back to the standard library for what only it accepts (NaN, lone
    surrogates), so both edges read the same bodies; messages as the Ninja route words them."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        if not body.strip():
            raise InvalidInput("Invalid input.", fields={"__all__": ["Field required"]}) from None
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput("Cannot parse request body", fields={"__all__": [str(exc)]}) from None
    except RecursionError:  # thousands of nested arrays: orjson stops at 1,024, json overflows
        raise InvalidInput(
            "Cannot parse request body", fields={"__all__": ["nested too deeply"]}
        ) from None
