"""realtime.publish: the outbox row, ids, heads, rollbacks, and the fan-out after commit."""

from __future__ import annotations

import json
import logging
from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from django.db import transaction
from django.utils import timezone

import realtime
from realtime.models import OutboxEvent, Stream
from realtime.services import PublishOutsideTransaction, relay_pending
from realtime.topics import ALL_TOPICS, group_name
from tests.factories import CommunityFactory
from tests.realtime.helpers import (
    ENVELOPE_KEYS,
    FanoutRecorder,
    apublish,
    publish_committed,
    until,
)

pytestmark = pytest.mark.django_db(transaction=True)


def outbox_ids(community) -> list[int]:
    return list(
        OutboxEvent.objects.filter(community=community)
        .order_by("event_id")
        .values_list("event_id", flat=True)
    )


def test_publish_writes_one_outbox_row_with_topic_type_data_and_time(fanout_recorder):
    community = CommunityFactory()
    before = timezone.now()

    row = publish_committed(community, "jobs", "jobs.job.progressed", {"job": 9, "pct": 40})

    stored = OutboxEvent.objects.get(pk=row.pk)
    assert (stored.community_id, stored.event_id) == (community.pk, 1)
    assert (stored.topic, stored.type) == ("jobs", "jobs.job.progressed")
    assert stored.data == {"job": 9, "pct": 40}
    assert before <= stored.created_at <= timezone.now()


def test_event_ids_count_up_per_community_independently_of_other_communities(fanout_recorder):
    first, second = CommunityFactory(), CommunityFactory()

    ids_first = [publish_committed(first).event_id for _ in range(3)]
    ids_second = [publish_committed(second).event_id for _ in range(2)]
    ids_first.append(publish_committed(first).event_id)

    assert ids_first == [1, 2, 3, 4]
    assert ids_second == [1, 2]
    assert outbox_ids(first) == [1, 2, 3, 4]
    assert outbox_ids(second) == [1, 2]
    assert Stream.objects.get(pk=first.pk).last_id == 4
    assert Stream.objects.get(pk=second.pk).last_id == 2


def test_prev_holds_the_head_of_every_topic_before_the_event(fanout_recorder):
    community = CommunityFactory()
    nothing_yet = dict.fromkeys(ALL_TOPICS, 0)

    rows = [
        publish_committed(community, topic, f"{topic}.thing.happened")
        for topic in ("progression", "events", "progression", "jobs", "admin")
    ]

    assert [OutboxEvent.objects.get(pk=r.pk).prev for r in rows] == [
        nothing_yet,
        {**nothing_yet, "progression": 1},
        {**nothing_yet, "progression": 1, "events": 2},
        {**nothing_yet, "progression": 3, "events": 2},
        {**nothing_yet, "progression": 3, "events": 2, "jobs": 4},
    ]
    assert fanout_recorder.messages[-1]["prev"] == rows[-1].prev


def test_rolled_back_transaction_publishes_nothing_and_leaves_no_hole_in_ids(fanout_recorder):
    community = CommunityFactory()
    publish_committed(community)

    with pytest.raises(RuntimeError, match="writer failed"):
        with transaction.atomic(durable=True):
            realtime.publish(community, "progression", "progression.node.unlocked", {})
            raise RuntimeError("writer failed")

    assert outbox_ids(community) == [1]
    assert fanout_recorder.event_ids == [1]
    assert publish_committed(community).event_id == 2
    assert outbox_ids(community) == [1, 2]
    assert fanout_recorder.event_ids == [1, 2]


def test_event_in_a_rolled_back_savepoint_is_dropped_while_the_outer_write_commits(
    fanout_recorder,
):
    community = CommunityFactory()

    with transaction.atomic(durable=True):
        kept = realtime.publish(community, "progression", "progression.node.unlocked", {"n": 1})
        try:
            with transaction.atomic():
                realtime.publish(community, "jobs", "jobs.job.failed", {"n": 2})
                raise RuntimeError("inner step failed")
        except RuntimeError:
            pass

    assert outbox_ids(community) == [kept.event_id] == [1]
    assert fanout_recorder.event_ids == [1]
    assert Stream.objects.get(pk=community.pk).head_jobs == 0
    assert publish_committed(community, "jobs").event_id == 2


def test_publish_outside_a_transaction_is_refused_and_writes_nothing(fanout_recorder):
    community = CommunityFactory()

    with pytest.raises(PublishOutsideTransaction):
        realtime.publish(community, "progression", "progression.node.unlocked", {})

    assert outbox_ids(community) == []
    assert fanout_recorder.messages == []


def test_publish_to_an_unknown_topic_is_refused_and_writes_nothing(fanout_recorder):
    community = CommunityFactory()

    with pytest.raises(ValueError, match="unknown topic 'chat'"):
        with transaction.atomic():
            realtime.publish(community, "chat", "chat.message.sent", {})

    assert outbox_ids(community) == []
    assert Stream.objects.filter(pk=community.pk, last_id__gt=0).exists() is False


def test_envelope_is_exactly_id_type_topic_community_occurred_at_data(fanout_recorder):
    community = CommunityFactory()

    row = publish_committed(community, "events", "events.event.started", {"event": 3})

    envelope = json.loads(fanout_recorder.messages[0]["payload"])
    assert set(envelope) == ENVELOPE_KEYS
    assert envelope == {
        "id": 1,
        "type": "events.event.started",
        "topic": "events",
        "community": community.slug,
        "occurred_at": row.created_at.isoformat().replace("+00:00", "Z"),
        "data": {"event": 3},
    }
    assert envelope["occurred_at"].endswith("Z")


def test_nothing_leaves_before_commit(fanout_recorder):
    community = CommunityFactory()

    with transaction.atomic(durable=True):
        publish_inside = realtime.publish(community, "progression", "progression.node.unlocked", {})
        assert fanout_recorder.messages == []

    assert fanout_recorder.event_ids == [publish_inside.event_id]


@pytest.mark.asyncio
async def test_committed_event_reaches_a_hub_listener_and_is_marked_dispatched(hub):
    community = await database_sync_to_async(CommunityFactory)()
    received: list[dict] = []

    class Listener:
        def on_message(self, message: dict) -> None:
            received.append(message)

        def on_shutdown(self) -> None:
            pass

    listener = Listener()
    await hub.subscribe(listener, [group_name(community.pk, "progression")])
    try:
        row = await apublish(community, "progression", "progression.node.unlocked", {"node": 7})
        other = await apublish(community, "events", "events.event.started", {})
        await until(lambda: received, what="the event to reach the hub")
    finally:
        await hub.unsubscribe(listener)

    assert [m["id"] for m in received] == [row.event_id]
    assert other.event_id not in [m["id"] for m in received]
    assert json.loads(received[0]["payload"])["data"] == {"node": 7}
    stored = await database_sync_to_async(OutboxEvent.objects.get)(pk=row.pk)
    assert stored.dispatched_at is not None


def test_failed_fan_out_is_logged_at_error_with_the_event_id_and_left_for_the_relay(
    monkeypatch, caplog
):
    community = CommunityFactory()

    def broken_send(messages):
        raise ConnectionError("redis is down")

    monkeypatch.setattr("realtime.fanout.send", broken_send)
    with caplog.at_level(logging.ERROR, logger="realtime.services"):
        row = publish_committed(community)

    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert f"event={row.event_id}" in errors[0].getMessage()
    assert f"community={community.pk}" in errors[0].getMessage()
    assert OutboxEvent.objects.get(pk=row.pk).dispatched_at is None

    recorder = FanoutRecorder()
    monkeypatch.setattr("realtime.fanout.send", recorder)
    OutboxEvent.objects.filter(pk=row.pk).update(created_at=timezone.now() - timedelta(seconds=5))
    assert relay_pending().sent == 1
    assert recorder.event_ids == [row.event_id]


def test_data_that_cannot_be_stored_leaves_no_hole_in_the_ids_even_if_the_error_is_caught(
    fanout_recorder,
):
    community = CommunityFactory()
    first = publish_committed(community)

    with transaction.atomic(durable=True):
        with pytest.raises(TypeError):
            realtime.publish(community, "progression", "progression.node.unlocked", {1: object()})
        # the writer swallowed it and carried on: its transaction must not commit a moved stream

    after = publish_committed(community)

    assert after.event_id == first.event_id + 1
    assert outbox_ids(community) == [first.event_id, after.event_id]
    assert after.prev["progression"] == first.event_id
