"""Delivery of committed events to every server process.

With Redis the channel layer carries each event once per process (the process's hub is the
only member of the group there). With the embedded in-memory layer there is only this process,
so events go straight to its hubs, thread-safely: writers may be request threads or in-process
task threads with their own event loops.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Sequence
from typing import Any

from channels.layers import InMemoryChannelLayer, get_channel_layer

SEND_TIMEOUT_SECONDS = 5.0


def is_local() -> bool:
    return isinstance(get_channel_layer(), InMemoryChannelLayer)


def send(messages: Sequence[dict[str, Any]]) -> bool:
    """Returns False when nothing could take the events here (embedded mode, no hub in this
    process, e.g. a management command): the web process's relay then delivers them."""
    if not messages:
        return True
    _stamp(messages)
    if is_local():
        from realtime.hub import dispatch_local

        return dispatch_local(messages) > 0
    # A writer sends one event; the relay up to hundreds, one after another: each gets time.
    _sender.run(asend(messages), SEND_TIMEOUT_SECONDS * (1 + len(messages) / 50))
    return True


async def asend(messages: Sequence[dict[str, Any]]) -> None:
    _stamp(messages)
    if is_local():
        from realtime.hub import dispatch_local

        dispatch_local(messages)
        return
    layer = get_channel_layer()
    assert layer is not None  # not local: a shared layer is configured
    for message in messages:
        await layer.group_send(message["group"], message)


def _stamp(messages: Sequence[dict[str, Any]]) -> None:
    now = time.time()
    for message in messages:
        message.setdefault("sent_at", now)


class _SenderLoop:
    """One event loop on a thread of its own per process, for synchronous writers' sends.

    `async_to_sync` from a plain thread starts a thread and an event loop per call, and
    channels_redis keeps its connections per event loop, so every event paid for a thread, a
    loop and a new Redis connection (1.3 ms of CPU per event; docs/benchmarks.md, "Jobs
    progress"). Here the loop, and so the connections, live as long as the process. A forked
    child (a Celery prefork worker) starts its own on first use. A send that takes longer than
    the timeout raises, so the writer logs it and the relay resends; clients drop an id they
    already have."""

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        """Also run in a forked child: the parent's thread is not there, and its lock may have
        been held by another of the parent's threads at the fork."""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        loop, thread = self._loop, self._thread
        if loop is not None and thread is not None and thread.is_alive():
            return loop
        with self._lock:
            if self._loop is None or self._thread is None or not self._thread.is_alive():
                loop = asyncio.new_event_loop()
                thread = threading.Thread(
                    target=loop.run_forever, name="fanout-sender", daemon=True
                )
                thread.start()
                self._loop, self._thread = loop, thread
            return self._loop

    def run(self, coroutine: Any, timeout: float) -> Any:
        future = asyncio.run_coroutine_threadsafe(coroutine, self._running_loop())
        try:
            return future.result(timeout)
        except BaseException:
            future.cancel()
            raise


_sender = _SenderLoop()
os.register_at_fork(after_in_child=_sender._reset)
