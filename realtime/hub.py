"""One hub per server process (per event loop): the only channel-layer listener.

A thousand clients of one community cost one group membership and one message per event
for this process; the hub then hands each event to its local connections in memory. Each
connection decides itself what to do with it (see realtime.connection).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import time
import weakref
from collections.abc import Sequence
from typing import Any, Protocol

from channels.layers import get_channel_layer

from realtime import metrics

logger = logging.getLogger(__name__)
GROUP_REFRESH_SECONDS = 3600.0
FREEZE_EVERY_SECONDS = 5.0  # well inside channels_redis' default group expiry (1 day)


class Listener(Protocol):
    def on_message(self, message: dict[str, Any]) -> None: ...

    def on_shutdown(self) -> None: ...


class StreamHub:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.groups: dict[str, set[Listener]] = {}
        self.listeners: set[Listener] = set()
        self.channel: str | None = None
        self._joined: set[str] = set()
        self._joining: dict[str, asyncio.Future] = {}
        self._tasks: list[asyncio.Task] = []
        self._started = False
        self._start_lock = asyncio.Lock()
        self.shutting_down = False

    async def start(self) -> None:
        async with self._start_lock:
            if self._started:
                return
            from realtime import fanout

            if not fanout.is_local():
                layer = get_channel_layer()
                assert layer is not None  # a shared layer is configured when not local
                # Redis and in-memory layers take a prefix; the stubs' base class does not.
                self.channel = await layer.new_channel("hub.")  # type: ignore[call-arg]
                self._tasks.append(self.loop.create_task(self._receive_loop(layer)))
                self._tasks.append(self.loop.create_task(self._refresh_loop(layer)))
            _install_shutdown_signal(self)
            self._tasks.append(self.loop.create_task(self._freeze_loop()))
            self._started = True

    async def subscribe(self, listener: Listener, groups: Sequence[str]) -> None:
        await self.start()
        self.listeners.add(listener)
        for group in groups:
            self.groups.setdefault(group, set()).add(listener)
            await self._join(group)

    async def unsubscribe(self, listener: Listener, groups: Sequence[str] | None = None) -> None:
        targets = list(self.groups) if groups is None else list(groups)
        for group in targets:
            members = self.groups.get(group)
            if members is None:
                continue
            members.discard(listener)
            if not members:
                del self.groups[group]
        if groups is None:
            self.listeners.discard(listener)
        # Groups left empty are discarded lazily by the refresh loop: a client reconnecting
        # a moment later would otherwise make the process leave and re-join.

    async def _join(self, group: str) -> None:
        """Returns once this process is in the group; concurrent callers share one join."""
        if self.channel is None:
            return
        pending = self._joining.get(group)
        if pending is not None:
            await asyncio.shield(pending)
            return
        if group in self._joined:
            return
        pending = self._joining[group] = self.loop.create_future()
        try:
            layer = get_channel_layer()
            assert layer is not None  # self.channel is only set with a shared layer
            await layer.group_add(group, self.channel)
            self._joined.add(group)
            pending.set_result(None)
        except Exception as exc:
            pending.set_exception(exc)
            raise
        finally:
            del self._joining[group]

    def dispatch(self, message: dict[str, Any]) -> None:
        sent_at = message.get("sent_at")
        if sent_at is not None and message.get("type") == "stream.event":
            metrics.DELIVERY_LATENCY.observe(max(0.0, time.time() - sent_at))
        for listener in tuple(self.groups.get(message.get("group", ""), ())):
            try:
                listener.on_message(message)
            except Exception:
                metrics.PUBLISH_FAILURES.inc()
                logger.error(
                    "stream listener failed group=%s event=%s type=%s",
                    message.get("group"),
                    message.get("id"),
                    message.get("event_type", message.get("type")),
                    exc_info=True,
                )

    async def _receive_loop(self, layer: Any) -> None:
        while True:
            try:
                message = await layer.receive(self.channel)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.error("hub receive failed; retrying in 1s", exc_info=True)
                await asyncio.sleep(1)
                continue
            self.dispatch(message)

    async def _refresh_loop(self, layer: Any) -> None:
        """Leaves groups nobody here listens to any more, and re-joins the rest before the
        channel layer's group expiry can drop this process from them."""
        last_rejoin = time.monotonic()
        while True:
            await asyncio.sleep(60.0)
            try:
                for group in list(self._joined):
                    if group not in self.groups:
                        self._joined.discard(group)
                        await layer.group_discard(group, self.channel)
                if time.monotonic() - last_rejoin >= GROUP_REFRESH_SECONDS:
                    last_rejoin = time.monotonic()
                    for group in list(self._joined):
                        await layer.group_add(group, self.channel)
            except Exception:
                logger.error("hub group refresh failed", exc_info=True)

    async def _freeze_loop(self) -> None:
        """Moves long-lived connection objects out of the collector's sight once the number of
        streams has grown: otherwise every full collection re-walks every idle connection
        (about 300 ms stop-the-world pauses at 2,000 clients). Refcounting still frees a closed
        connection's objects; only cyclic garbage that was frozen stays."""
        frozen_at = 0
        while True:
            await asyncio.sleep(FREEZE_EVERY_SECONDS)
            count = len(self.listeners)
            if count > frozen_at * 1.1 + 10:
                gc.freeze()
                frozen_at = count

    def shutdown(self) -> None:
        """Ends every stream cleanly; clients reconnect elsewhere with their last id."""
        self.shutting_down = True
        for listener in tuple(self.listeners):
            listener.on_shutdown()


_hubs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, StreamHub] = weakref.WeakKeyDictionary()


def get_hub() -> StreamHub:
    loop = asyncio.get_running_loop()
    hub = _hubs.get(loop)
    if hub is None:
        hub = _hubs[loop] = StreamHub(loop)
    return hub


def dispatch_local(messages: Sequence[dict[str, Any]]) -> int:
    """Embedded mode: hand events to every hub in this process from any thread."""
    reached = 0
    for loop, hub in list(_hubs.items()):
        if loop.is_closed():
            continue
        for message in messages:
            loop.call_soon_threadsafe(hub.dispatch, message)
        reached += 1
    return reached


def _install_shutdown_signal(hub: StreamHub) -> None:
    """Chains SIGTERM/SIGINT so streams end cleanly before the server's own handler runs."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        return
    for signum in (signal.SIGTERM, signal.SIGINT):
        previous = signal.getsignal(signum)

        def handler(sig: int, frame: Any, previous: Any = previous) -> None:
            hub.loop.call_soon_threadsafe(hub.shutdown)
            if callable(previous):
                previous(sig, frame)
            elif previous == signal.SIG_DFL:
                raise SystemExit(128 + sig)

        try:
            signal.signal(signum, handler)
        except (ValueError, OSError):
            logger.warning("could not install stream shutdown handler for %s", signum)
