"""Fan-out from synchronous writers on Redis: one long-lived event loop per process sends every
event (a loop, a thread and a Redis connection per event cost 1.3 ms of CPU each), a send that
hangs gives up and leaves the event to the relay, and a forked child (a Celery prefork worker)
sends on a loop of its own."""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import threading
import time

import pytest
from channels.layers import get_channel_layer

from realtime import fanout
from realtime.models import OutboxEvent
from tests.factories import CommunityFactory
from tests.realtime.helpers import publish_committed

pytestmark = [pytest.mark.real_services, pytest.mark.django_db(transaction=True)]


def test_sends_from_different_threads_run_on_one_event_loop_that_stays_up(monkeypatch):
    loops: list[asyncio.AbstractEventLoop] = []
    real_asend = fanout.asend

    async def recording_asend(messages):
        loops.append(asyncio.get_running_loop())
        await real_asend(messages)

    monkeypatch.setattr(fanout, "asend", recording_asend)
    message = {"type": "test.ping", "group": "fanout-sender-test"}

    senders = [threading.Thread(target=fanout.send, args=([dict(message)],)) for _ in range(3)]
    for sender in senders:
        sender.start()
        sender.join()
    fanout.send([dict(message)])

    assert len(loops) == 4
    assert len(set(map(id, loops))) == 1  # every send on the same loop
    assert loops[0].is_running() and not loops[0].is_closed()  # kept, not made per send


def test_a_send_that_hangs_gives_up_logs_the_event_and_leaves_it_to_the_relay(monkeypatch, caplog):
    community = CommunityFactory()

    async def hanging_asend(messages):
        await asyncio.sleep(30)

    monkeypatch.setattr(fanout, "asend", hanging_asend)
    monkeypatch.setattr(fanout, "SEND_TIMEOUT_SECONDS", 0.2)

    started = time.monotonic()
    with caplog.at_level(logging.ERROR, logger="realtime.services"):
        row = publish_committed(community)
    took = time.monotonic() - started

    assert took < 5  # the writer did not wait for the hung send
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and f"event={row.event_id}" in errors[0].getMessage()
    assert OutboxEvent.objects.get(pk=row.pk).dispatched_at is None


def test_a_relay_batch_gets_time_in_proportion_to_its_size(monkeypatch):
    """The relay sends up to hundreds of events in one call after an outage: a timeout meant
    for one event would cut every such batch short, and the backlog would never drain."""
    sent: list[int] = []

    async def slow_asend(messages):
        for message in messages:
            await asyncio.sleep(0.01)  # a few Redis round trips each
            sent.append(message["n"])

    monkeypatch.setattr(fanout, "asend", slow_asend)
    monkeypatch.setattr(fanout, "SEND_TIMEOUT_SECONDS", 1.0)  # one event's allowance

    fanout.send([{"type": "test.ping", "group": "fanout-batch-test", "n": n} for n in range(150)])

    assert sent == list(range(150))  # 1.5 s or more in all: more than one event's allowance


def _send_from_child(group: str, done: multiprocessing.Queue) -> None:
    try:
        fanout.send([{"type": "test.ping", "group": group, "from": "child"}])
        done.put("sent")
    except Exception as exc:  # reported to the parent, which fails the test with it
        done.put(f"failed: {exc!r}")


@pytest.mark.asyncio
async def test_a_forked_child_sends_on_its_own_loop_and_its_event_arrives():
    """Even when the fork caught the parent's sender lock held."""
    layer = get_channel_layer()
    channel = await layer.new_channel("test.")
    group = f"fanout-fork-{time.monotonic_ns()}"
    await layer.group_add(group, channel)
    fanout.send([{"type": "test.ping", "group": group, "from": "parent"}])  # the parent's loop
    assert (await asyncio.wait_for(layer.receive(channel), 10))["from"] == "parent"

    context = multiprocessing.get_context("fork")
    done = context.Queue()
    child = context.Process(target=_send_from_child, args=(group, done), daemon=True)
    with fanout._sender._lock:  # another of the parent's threads was starting its loop
        child.start()
    try:
        outcome = await asyncio.get_running_loop().run_in_executor(None, done.get, True, 30)
        assert outcome == "sent"
        received = await asyncio.wait_for(layer.receive(channel), 10)
        assert received["from"] == "child"
    finally:
        child.join(timeout=10)
        if child.is_alive():  # stuck (on the parent's lock): never leave it behind
            child.kill()
        await layer.group_discard(group, channel)
    assert child.exitcode == 0
