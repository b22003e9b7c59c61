"""Group commit for engagement in a web process.

Requests wait here while a write runs; the next write takes everything that arrived meanwhile
(per community, one transaction). A second write (up to `flushers`) starts alongside only for
big waiting work (a tenth of `max_events_per_write`, i.e. batches), where overlapping one
write's database time with another's Python time pays. Nothing waits on a timer: a lone request is
written at once, and under load 50 single-event requests cost about one 50-event batch. Past
`max_waiting` requests the queue answers 429 at once instead of letting a burst become a
thousand threads waiting on the database pool.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from django.db import close_old_connections

from communities.errors import Overloaded
from config.logging import current_context_id
from progression import metrics
from progression.services.ingest import IngestRequest, Reply, record_ingest_requests

logger = logging.getLogger(__name__)


@dataclass
class _Waiting:
    request: IngestRequest
    request_id: str
    future: asyncio.Future


class IngestQueue:
    def __init__(self, *, flushers: int, max_waiting: int, max_events_per_write: int) -> None:
        self.flushers = flushers
        self.max_waiting = max_waiting
        self.max_events_per_write = max_events_per_write
        self._waiting: deque[_Waiting] = deque()
        self._running = 0
        self._executor = _executor(flushers)
        self.writes = 0  # group writes run by this queue (the process-wide count is in metrics)
        self._waiting_event_count = 0

    @property
    def parallel_min_events(self) -> int:
        return max(1, self.max_events_per_write // 10)

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    async def submit(self, request: IngestRequest, request_id: str = "-") -> Reply:
        if len(self._waiting) >= self.max_waiting:
            metrics.REFUSED.inc()
            raise Overloaded("The server is busy with engagement; retry in a second.")
        future = asyncio.get_running_loop().create_future()
        self._waiting.append(_Waiting(request, request_id, future))
        self._waiting_event_count += len(request.submission.events)
        self._start_writes()
        return await future

    def _start_writes(self) -> None:
        while self._waiting and self._running < self.flushers:
            if self._running and self._waiting_event_count < self.parallel_min_events:
                # Small requests: one write at a time takes them all next (group commit);
                # a second writer would only split them and contend for the same rows.
                return
            taken: list[_Waiting] = []
            events = 0
            while self._waiting and (
                not taken
                or events + len(self._waiting[0].request.submission.events)
                <= self.max_events_per_write
            ):
                item = self._waiting.popleft()
                events += len(item.request.submission.events)
                self._waiting_event_count -= len(item.request.submission.events)
                taken.append(item)
            self._running += 1
            asyncio.get_running_loop().create_task(self._write(taken))

    async def _write(self, taken: list[_Waiting]) -> None:
        started = time.monotonic()
        try:
            replies: list = await asyncio.get_running_loop().run_in_executor(
                self._executor, _write_in_thread, taken
            )
        except asyncio.CancelledError:  # the loop is shutting down: nobody can be answered
            self._running -= 1
            for item in taken:
                item.future.cancel()
            raise
        except Exception as exc:  # noqa: BLE001 - every waiting request is answered
            replies = [exc] * len(taken)
        self._running -= 1
        for item, reply in zip(taken, replies, strict=True):
            if not item.future.done():
                item.future.set_result(reply)
        try:
            self.writes += 1
            metrics.GROUP_WRITES.inc()
            metrics.GROUP_REQUESTS.inc(len(taken))
            metrics.WRITE_SECONDS.observe(time.monotonic() - started)
        except Exception:  # metrics must never keep requests waiting
            logger.warning("could not count an ingest write", exc_info=True)
        self._start_writes()


_executors: dict[int, ThreadPoolExecutor] = {}
_executors_lock = threading.Lock()


def _executor(threads: int) -> ThreadPoolExecutor:
    """One pool of writer threads per process (each event loop gets its own queue)."""
    with _executors_lock:
        if threads not in _executors:
            _executors[threads] = ThreadPoolExecutor(threads, thread_name_prefix="ingest-write")
        return _executors[threads]


def _write_in_thread(taken: list[_Waiting]) -> list[Reply]:
    """Like a Django request: stale connections dropped before, the connection returned after."""
    ids = ",".join(item.request_id for item in taken[:5]) + ("…" if len(taken) > 5 else "")
    token = current_context_id.set(f"ingest[{ids}]" if len(taken) > 1 else taken[0].request_id)
    close_old_connections()
    try:
        return record_ingest_requests([item.request for item in taken])
    finally:
        close_old_connections()
        current_context_id.reset(token)
