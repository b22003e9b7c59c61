"""Helpers for the realtime tests: publishing in a transaction, a recording transport, waiting."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable
from typing import Any

from channels.db import database_sync_to_async
from django.db import transaction

import realtime
from communities.models import Community
from realtime.connection import Limits
from realtime.models import OutboxEvent
from realtime.services import stream_message

ENVELOPE_KEYS = {"id", "type", "topic", "community", "occurred_at", "data"}


def publish_committed(
    community: Community,
    topic: str = "progression",
    type: str = "progression.node.unlocked",
    data: Any = None,
    *,
    coalesce_key: str = "",
) -> OutboxEvent:
    """One writer transaction that publishes one event and commits."""
    with transaction.atomic(durable=True):
        return realtime.publish(
            community, topic, type, {"n": 1} if data is None else data, coalesce_key=coalesce_key
        )


def publish_many(community: Community, topics: list[str]) -> list[int]:
    return [
        publish_committed(community, topic, f"{topic}.thing.happened").event_id for topic in topics
    ]


def message_for(community_id: int, event_id: int) -> dict[str, Any]:
    """The channel-layer message the app would fan out for a committed event."""
    row = OutboxEvent.objects.select_related("community").get(
        community_id=community_id, event_id=event_id
    )
    return stream_message(row, row.community.slug)


apublish = database_sync_to_async(publish_committed)
apublish_many = database_sync_to_async(publish_many)
amessage_for = database_sync_to_async(message_for)


class FanoutRecorder:
    """Stands in for realtime.fanout.send: records what would have left, thread-safely."""

    def __init__(self, delivered: bool = True) -> None:
        self.messages: list[dict[str, Any]] = []
        self.delivered = delivered
        self._lock = threading.Lock()

    def __call__(self, messages: Any) -> bool:
        with self._lock:
            self.messages.extend(messages)
        return self.delivered

    @property
    def event_ids(self) -> list[int]:
        return [m["id"] for m in self.messages if m.get("type") == "stream.event"]


class RecordingTransport:
    """A transport that records every write; `gate` can hold event writes to mimic a slow client."""

    name = "test"

    def __init__(self) -> None:
        self.writes: list[tuple[str, Any]] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.before_events: Callable[[list[dict[str, Any]]], Any] | None = None

    async def write_events(self, messages: list[dict[str, Any]]) -> None:
        if self.before_events is not None:
            hook, self.before_events = self.before_events, None
            await hook(messages)
        await self.gate.wait()
        for message in messages:
            envelope = json.loads(message["payload"])
            assert set(envelope) == ENVELOPE_KEYS
            self.writes.append(("event", envelope))

    async def write_control(self, type: str, data: dict[str, Any], event_id: int | None) -> None:
        self.writes.append(("control", {"type": type, "data": data, "id": event_id}))

    async def write_keepalive(self) -> None:
        self.writes.append(("keepalive", None))

    @property
    def event_ids(self) -> list[int]:
        return [body["id"] for kind, body in self.writes if kind == "event"]

    def controls(self, type: str | None = None) -> list[dict[str, Any]]:
        return [b for k, b in self.writes if k == "control" and type in (None, b["type"])]


def limits(**overrides: Any) -> Limits:
    values = dict(
        queue_size=64, gap_grace=0.05, keepalive=30.0, access_recheck=3600.0, replay_page=500
    )
    values.update(overrides)
    return Limits(**values)


async def until(predicate: Callable[[], bool], timeout: float = 5.0, what: str = "") -> None:
    """Waits for a condition the event loop makes true, failing with `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}")
        await asyncio.sleep(0.01)


async def settle(seconds: float = 0.2) -> None:
    """Gives in-flight deliveries time to arrive before asserting that nothing more came."""
    await asyncio.sleep(seconds)
