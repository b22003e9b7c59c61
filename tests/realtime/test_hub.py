"""The per-process hub: one channel-layer listener handing events to local streams."""

from __future__ import annotations

import asyncio
import logging

import pytest
from channels.layers import get_channel_layer

from realtime.topics import group_name
from tests.realtime.helpers import apublish, settle

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]


class Listener:
    def __init__(self, fail: bool = False) -> None:
        self.messages: list[dict] = []
        self.shutdowns = 0
        self.fail = fail

    def on_message(self, message: dict) -> None:
        if self.fail:
            raise RuntimeError("listener broke")
        self.messages.append(message)

    def on_shutdown(self) -> None:
        self.shutdowns += 1


async def test_a_failing_listener_does_not_stop_delivery_to_the_others(hub, caplog):
    broken, healthy = Listener(fail=True), Listener()
    group = group_name(1, "progression")
    await hub.subscribe(broken, [group])
    await hub.subscribe(healthy, [group])

    with caplog.at_level(logging.ERROR, logger="realtime.hub"):
        hub.dispatch({"type": "stream.event", "group": group, "id": 1})

    assert [m["id"] for m in healthy.messages] == [1]
    assert any(r.levelno == logging.ERROR for r in caplog.records)


async def test_shutdown_reaches_every_listener_once(hub):
    listeners = [Listener(), Listener()]
    for listener in listeners:
        await hub.subscribe(listener, [group_name(1, "events")])

    hub.shutdown()

    assert [listener.shutdowns for listener in listeners] == [1, 1]
    assert hub.shutting_down


async def test_unsubscribed_listener_gets_nothing_more(hub):
    listener = Listener()
    group = group_name(1, "jobs")
    await hub.subscribe(listener, [group])
    await hub.unsubscribe(listener)

    hub.dispatch({"type": "stream.event", "group": group, "id": 1})
    hub.shutdown()

    assert listener.messages == []
    assert listener.shutdowns == 0


@pytest.mark.real_services
async def test_second_stream_joining_a_group_still_being_joined_misses_no_event(
    hub, open_stream, community, monkeypatch
):
    """The hub joins each channel-layer group once per process. A stream that subscribes while
    that join is still in flight must not go live before the process is in the group."""
    layer = get_channel_layer()
    real_group_add = layer.group_add

    async def slow_group_add(group: str, channel: str) -> None:
        await asyncio.sleep(0.5)
        await real_group_add(group, channel)

    monkeypatch.setattr(layer, "group_add", slow_group_add)
    first = asyncio.ensure_future(open_stream(community, {"progression"}))
    await asyncio.sleep(0.05)  # the first stream is now inside group_add
    second = await open_stream(community, {"progression"}, gap_grace=0.05)

    await apublish(community, "progression")  # committed after the second stream went live
    await asyncio.wait_for(first, 5)
    await second.wait_for_events(1, timeout=2)
    await settle()

    assert second.event_ids == [1]
