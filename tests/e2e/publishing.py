"""Publishing from the test process, the way a writer does: inside its own transaction.

The test process uses the run's Redis channel layer, so fan-out after commit reaches the
server processes. Async tests call these through `in_thread`, which also hands the thread's
database connection back, so the test database can be flushed and dropped afterwards.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from django.db import connections, transaction

import realtime
from communities.models import Community

T = TypeVar("T")
EVENT_TYPE = "progression.node.unlocked"


class Rollback(Exception):
    """Raised inside a writer's transaction to roll it back."""


def publish_committed(
    community: Community, data: Any, *, topic: str = "progression", type: str = EVENT_TYPE
) -> int:
    with transaction.atomic():
        row = realtime.publish(community, topic, type, data)
    return row.event_id


def publish_rolled_back(community: Community, data: Any, *, topic: str = "progression") -> None:
    try:
        with transaction.atomic():
            realtime.publish(community, topic, EVENT_TYPE, data)
            raise Rollback
    except Rollback:
        pass


def publish_batches(
    community: Community, count: int, *, per_transaction: int, payload_bytes: int = 0
) -> None:
    """`count` events, several per transaction; data carries `n` (1-based) and padding."""
    padding = "x" * payload_bytes
    for start in range(0, count, per_transaction):
        with transaction.atomic():
            for n in range(start + 1, min(count, start + per_transaction) + 1):
                realtime.publish(community, "progression", EVENT_TYPE, {"n": n, "pad": padding})


def closing_connections(fn: Callable[..., T]) -> Callable[..., T]:
    def run(*args: Any, **kwargs: Any) -> T:
        try:
            return fn(*args, **kwargs)
        finally:
            connections.close_all()

    return run


async def in_thread(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Runs synchronous ORM code from an async test, off the event loop."""
    return await asyncio.to_thread(closing_connections(fn), *args, **kwargs)


class BackgroundPublisher(threading.Thread):
    """Publishes `count` events, one transaction each, a few random milliseconds apart."""

    def __init__(self, community: Community, count: int, rng: random.Random) -> None:
        super().__init__(name="e2e-publisher", daemon=True)
        self.community = community
        self.count = count
        self.rng = rng
        self.published: list[int] = []
        self.error: BaseException | None = None
        self.elapsed = 0.0

    def run(self) -> None:
        started = time.monotonic()
        try:
            for n in range(1, self.count + 1):
                self.published.append(publish_committed(self.community, {"n": n}))
                time.sleep(self.rng.uniform(0.0005, 0.0025))
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.error = exc
        finally:
            self.elapsed = time.monotonic() - started
            connections.close_all()
