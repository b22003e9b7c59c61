"""Delivery of committed events to every server process.

With Redis the channel layer carries each event once per process (the process's hub is the
only member of the group there). With the embedded in-memory layer there is only this process,
so events go straight to its hubs, thread-safely: writers may be request threads or in-process
task threads with their own event loops.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import InMemoryChannelLayer, get_channel_layer


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
    async_to_sync(asend)(messages)
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
