"""One client's stream, whatever the transport: replay, ordering, coalescing, keepalive.

Guarantees to the client: every event on its topics once, in id order, from its last id on.
- Live events come from the hub. Each carries `prev`, the last id of every topic before it;
  if one of the client's topics has an event the client has not been given, the event waits
  briefly for the missing one (sends from several writers can cross) and otherwise the gap is
  filled from the outbox, which holds every committed event in commit order.
- The outbound queue is bounded. Progress events with a coalesce key replace older ones with
  the same key; if the queue still fills, the client gets `stream.overflow` and is closed, to
  resume with its last id. Memory per connection is bounded by the queue size.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from channels.db import database_sync_to_async
from django.conf import settings

from realtime import events, metrics
from realtime.hub import StreamHub
from realtime.topics import group_name

logger = logging.getLogger(__name__)


class Transport(Protocol):
    name: str

    async def write_events(self, messages: list[dict[str, Any]]) -> None: ...

    async def write_control(
        self, type: str, data: dict[str, Any], event_id: int | None
    ) -> None: ...

    async def write_keepalive(self) -> None: ...


@dataclass
class Limits:
    queue_size: int
    gap_grace: float
    keepalive: float
    access_recheck: float
    replay_page: int

    @classmethod
    def from_settings(cls) -> Limits:
        return cls(
            queue_size=settings.STREAM_QUEUE_SIZE,
            gap_grace=settings.STREAM_GAP_GRACE_SECONDS,
            keepalive=settings.STREAM_KEEPALIVE_SECONDS,
            access_recheck=settings.STREAM_ACCESS_RECHECK_SECONDS,
            replay_page=settings.STREAM_REPLAY_PAGE,
        )


def _stream_position(community_id: int) -> tuple[int, int]:
    from realtime.selectors import stream_position

    position = stream_position(community_id)
    return position.head, position.pruned_through


def _fetch(
    community_id: int, topics: list[str], after: int, upto: int | None, limit: int
) -> list[dict[str, Any]]:
    from realtime.selectors import events_between
    from realtime.services import stream_message

    rows = events_between(community_id, topics, after, upto, limit)
    return [stream_message(row, row.community.slug) for row in rows]


fetch_position = database_sync_to_async(_stream_position, thread_sensitive=False)
fetch_events = database_sync_to_async(_fetch, thread_sensitive=False)


class StreamConnection:
    def __init__(
        self,
        *,
        hub: StreamHub,
        transport: Transport,
        community_id: int,
        topics: set[str],
        access_group: str | None,
        authorize: Callable[[set[str]], Awaitable[set[str]]],
        snapshot_urls: dict[str, str],
        limits: Limits | None = None,
    ) -> None:
        self.hub = hub
        self.transport = transport
        self.community_id = community_id
        self.topics = set(topics)
        self.access_group = access_group
        self.authorize = authorize
        self.snapshot_urls = snapshot_urls
        self.limits = limits or Limits.from_settings()
        self.cursor = 0
        self.pending: dict[int, dict[str, Any]] = {}
        self.outbound: OrderedDict[Any, dict[str, Any]] = OrderedDict()
        self.syncing = True
        self.catch_up_due = False
        self.resync_needed = False
        self.recheck_due = False
        self.closing: str | None = None
        self.wake = asyncio.Event()
        self._timer: asyncio.TimerHandle | None = None
        self._next_recheck = time.monotonic() + self._jittered(self.limits.access_recheck)
        (
            self._m_connections,
            self._m_replays,
            self._m_delivered,
            self._m_overflows,
            self._m_dropped,
        ) = metrics.for_transport(transport.name)

    # --- hub callbacks (synchronous, on the event loop) ---------------------------------
    def on_message(self, message: dict[str, Any]) -> None:
        if self.closing:
            return
        if message.get("type") == "access.changed":
            self.recheck_due = True
            self.wake.set()
            return
        if message.get("topic") not in self.topics:
            return
        event_id = message["id"]
        if event_id <= self.cursor or event_id in self.pending:
            return
        if self.syncing or self.pending or not self._gap_free(message):
            if self.syncing and len(self.pending) >= self.limits.queue_size:
                # Everything is in the outbox anyway: forget the backlog, re-read it later.
                self.pending.clear()
                self.resync_needed = True
            self.pending[event_id] = message
            if not self.syncing:
                self._resolve_pending()
            return
        self._emit(message)

    def on_shutdown(self) -> None:
        self.closing = self.closing or "shutdown"
        self.wake.set()

    # --- ordering ----------------------------------------------------------------------
    def _gap_free(self, message: dict[str, Any]) -> bool:
        prev = message.get("prev") or {}
        return all(int(prev.get(topic, 0)) <= self.cursor for topic in self.topics)

    def _resolve_pending(self) -> None:
        for event_id in sorted(self.pending):
            message = self.pending[event_id]
            if event_id <= self.cursor:
                del self.pending[event_id]
            elif self._gap_free(message):
                del self.pending[event_id]
                self._emit(message)
            else:
                break
        if not self.pending:
            self._cancel_timer()
        elif len(self.pending) > self.limits.queue_size:
            self._request_catch_up()
        elif self._timer is None:
            self._timer = self.hub.loop.call_later(self.limits.gap_grace, self._request_catch_up)

    def _request_catch_up(self) -> None:
        self._timer = None
        if self.pending:
            self.catch_up_due = True
            self.wake.set()

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _emit(self, message: dict[str, Any]) -> None:
        self.cursor = message["id"]
        coalesce = message.get("coalesce")
        key: Any = ("c", coalesce) if coalesce else message["id"]
        if coalesce and key in self.outbound:
            del self.outbound[key]
            metrics.EVENTS_COALESCED.inc()
        self.outbound[key] = message
        if len(self.outbound) > self.limits.queue_size and not self.closing:
            self.closing = "overflow"
        self.wake.set()

    # --- the pump ----------------------------------------------------------------------
    async def run(self, resume_from: int | None) -> str:
        """Streams until the client leaves or the stream must end; returns why it ended."""
        self._m_connections.inc()
        try:
            await self.hub.subscribe(self, self._groups())
            if self.access_group:
                # Access may have changed between the connect-time check and joining the access
                # group (whose notices we could not hear yet): check once more now.
                await self._recheck_access()
            if not self.closing:
                await self._initial_sync(resume_from)
            return await self._pump()
        finally:
            self._cancel_timer()
            await self.hub.unsubscribe(self)
            self._m_connections.dec()

    def _groups(self) -> list[str]:
        groups = [group_name(self.community_id, topic) for topic in sorted(self.topics)]
        return groups + ([self.access_group] if self.access_group else [])

    async def _initial_sync(self, resume_from: int | None) -> None:
        head, pruned_through = await fetch_position(self.community_id)
        if resume_from is None:
            self.cursor = head
        elif resume_from > head or resume_from < pruned_through:
            self.cursor = head
            metrics.RESETS.inc()
            await self.transport.write_control(
                events.STREAM_RESET,
                {
                    "reason": "last_event_id is outside the retained history",
                    "snapshots": self.snapshot_urls,
                },
                head,
            )
        else:
            self.cursor = resume_from
            self._m_replays.inc()
            await self._write_from_outbox(head)
        await self._finish_sync()

    async def _finish_sync(self) -> None:
        while self.resync_needed:
            self.resync_needed = False
            head, _ = await fetch_position(self.community_id)
            await self._write_from_outbox(head)
        self.syncing = False
        self._resolve_pending()

    async def _write_from_outbox(self, upto: int) -> None:
        while self.cursor < upto:
            messages = await fetch_events(
                self.community_id, sorted(self.topics), self.cursor, upto, self.limits.replay_page
            )
            if not messages:
                self.cursor = upto
                break
            await self.transport.write_events(messages)
            metrics.REPLAYED_EVENTS.inc(len(messages))
            self._m_delivered.inc(len(messages))
            self.cursor = messages[-1]["id"]
            if len(messages) < self.limits.replay_page:
                self.cursor = upto

    async def _catch_up(self) -> None:
        self.catch_up_due = False
        if not self.pending:
            return
        metrics.CATCH_UPS.inc()
        self.syncing = True
        await self._flush()
        await self._write_from_outbox(max(self.pending))
        await self._finish_sync()

    async def _flush(self, limit: int | None = None) -> None:
        while self.outbound:
            batch: list[dict[str, Any]] = []
            while self.outbound and (limit is None or len(batch) < limit):
                batch.append(self.outbound.popitem(last=False)[1])
            await self.transport.write_events(batch)
            self._m_delivered.inc(len(batch))
            if limit is not None:
                return

    async def _pump(self) -> str:
        """Waits on `wake` alone: one keepalive timer per connection, re-armed from the last
        write, instead of a Task and a timer per event per connection (wait_for), which cost
        2,000 clients more than a core in allocations and garbage collection."""
        self._last_write = time.monotonic()
        self._keepalive_due = False
        self._keepalive_timer = self.hub.loop.call_later(
            self.limits.keepalive, self._keepalive_check
        )
        try:
            while True:
                if self.closing:
                    return await self._close()
                if self.recheck_due or time.monotonic() >= self._next_recheck:
                    await self._recheck_access()
                    continue
                if self.catch_up_due:
                    await self._catch_up()
                    continue
                if self.outbound:
                    await self._flush(limit=64)
                    self._last_write = time.monotonic()
                    continue
                if self._keepalive_due:
                    self._keepalive_due = False
                    await self.transport.write_keepalive()
                    self._last_write = time.monotonic()
                    continue
                self.wake.clear()
                await self.wake.wait()
        finally:
            self._keepalive_timer.cancel()

    def _keepalive_check(self) -> None:
        idle = time.monotonic() - self._last_write
        if idle >= self.limits.keepalive:
            self._keepalive_due = True
            self.wake.set()
            idle = 0.0
        self._keepalive_timer = self.hub.loop.call_later(
            self.limits.keepalive - idle, self._keepalive_check
        )

    async def _recheck_access(self) -> None:
        self.recheck_due = False
        self._next_recheck = time.monotonic() + self._jittered(self.limits.access_recheck)
        allowed = await self.authorize(set(self.topics))
        lost = self.topics - allowed
        if not lost:
            return
        self.topics = allowed
        await self.hub.unsubscribe(self, [group_name(self.community_id, t) for t in lost])
        for key, message in list(self.outbound.items()):
            if message.get("topic") in lost:
                del self.outbound[key]
        for event_id, message in list(self.pending.items()):
            if message.get("topic") in lost:
                del self.pending[event_id]
        logger.info("stream lost topics community=%s topics=%s", self.community_id, sorted(lost))
        await self.transport.write_control(
            events.STREAM_REVOKED, {"topics": sorted(lost), "remaining": sorted(allowed)}, None
        )
        if not allowed:
            self.closing = "revoked"

    async def _close(self) -> str:
        reason = self.closing or "closed"
        if reason == "overflow":
            dropped = len(self.outbound)
            self.outbound.clear()
            self._m_overflows.inc()
            self._m_dropped.inc(dropped)
            logger.warning(
                "stream overflow community=%s transport=%s queued=%s",
                self.community_id,
                self.transport.name,
                dropped,
            )
            await self.transport.write_control(
                events.STREAM_OVERFLOW,
                {"reason": "client too slow; reconnect with your last event id"},
                None,
            )
        elif reason == "shutdown":
            await self._flush()
            await self.transport.write_control(
                events.STREAM_SHUTDOWN, {"reason": "server restarting; reconnect"}, None
            )
        return reason

    @staticmethod
    def _jittered(seconds: float) -> float:
        return seconds * random.uniform(0.8, 1.2)  # noqa: S311 - spreading load, not security


def control_payload(type: str, data: dict[str, Any]) -> str:
    return json.dumps({"type": type, "data": data}, separators=(",", ":"))
