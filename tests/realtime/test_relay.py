"""The outbox relay (resend what commit never fanned out) and pruning (forget, but say so)."""

from __future__ import annotations

import json
import logging
from datetime import timedelta

import pytest
from django.utils import timezone

from realtime.models import OutboxEvent, Stream
from realtime.services import RelayResult, prune_outbox, relay_pending
from tests.factories import CommunityFactory
from tests.realtime.helpers import FanoutRecorder, publish_committed

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def undelivered(monkeypatch) -> FanoutRecorder:
    """The writer's fan-out reaches nobody (a crash, or no hub in this process)."""
    recorder = FanoutRecorder(delivered=False)
    monkeypatch.setattr("realtime.fanout.send", recorder)
    return recorder


def age(row: OutboxEvent, seconds: float) -> None:
    OutboxEvent.objects.filter(pk=row.pk).update(
        created_at=timezone.now() - timedelta(seconds=seconds)
    )


def dispatched_at(row: OutboxEvent):
    return OutboxEvent.objects.get(pk=row.pk).dispatched_at


def test_relay_resends_a_committed_undispatched_event_older_than_the_grace(
    undelivered, monkeypatch, settings
):
    settings.OUTBOX_RELAY_GRACE_SECONDS = 1.0
    row = publish_committed(CommunityFactory())
    assert dispatched_at(row) is None
    age(row, 5)
    relay = FanoutRecorder()
    monkeypatch.setattr("realtime.fanout.send", relay)

    result = relay_pending()

    assert result == RelayResult(sent=1, failed=0)
    assert relay.event_ids == [row.event_id]
    resent, original = (json.loads(m[0]["payload"]) for m in (relay.messages, undelivered.messages))
    assert {**resent, "occurred_at": None} == {**original, "occurred_at": None}
    assert dispatched_at(row) is not None


def test_relay_sends_each_event_once(undelivered, monkeypatch):
    row = publish_committed(CommunityFactory())
    age(row, 5)
    relay = FanoutRecorder()
    monkeypatch.setattr("realtime.fanout.send", relay)

    relay_pending()
    second = relay_pending()

    assert second == RelayResult(sent=0, failed=0)
    assert relay.event_ids == [row.event_id]


def test_relay_leaves_an_event_still_within_the_grace_to_its_writer(
    undelivered, monkeypatch, settings
):
    settings.OUTBOX_RELAY_GRACE_SECONDS = 30.0
    row = publish_committed(CommunityFactory())
    relay = FanoutRecorder()
    monkeypatch.setattr("realtime.fanout.send", relay)

    result = relay_pending()

    assert result == RelayResult(sent=0, failed=0)
    assert relay.messages == []
    assert dispatched_at(row) is None


def test_relay_resends_in_event_id_order(undelivered, monkeypatch):
    community = CommunityFactory()
    rows = [publish_committed(community) for _ in range(5)]
    for row in rows:
        age(row, 5)
    relay = FanoutRecorder()
    monkeypatch.setattr("realtime.fanout.send", relay)

    relay_pending()

    assert relay.event_ids == [1, 2, 3, 4, 5]


def test_failed_relay_send_keeps_the_event_pending_and_logs_at_error(
    undelivered, monkeypatch, caplog
):
    row = publish_committed(CommunityFactory())
    age(row, 5)

    def broken_send(messages):
        raise ConnectionError("redis is down")

    monkeypatch.setattr("realtime.fanout.send", broken_send)
    with caplog.at_level(logging.ERROR, logger="realtime.services"):
        result = relay_pending()

    assert result == RelayResult(sent=0, failed=1)
    assert dispatched_at(row) is None
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert f"event={row.event_id}" in errors[0].getMessage()
    assert errors[0].exc_info is not None

    relay = FanoutRecorder()
    monkeypatch.setattr("realtime.fanout.send", relay)
    assert relay_pending().sent == 1
    assert relay.event_ids == [row.event_id]


def test_prune_deletes_events_past_retention_and_records_pruned_through(fanout_recorder):
    first, second, fresh_only = CommunityFactory(), CommunityFactory(), CommunityFactory()
    old = [publish_committed(first) for _ in range(3)] + [publish_committed(second)]
    for row in old:
        age(row, 7200)
    for community in (first, first, second, fresh_only):
        publish_committed(community)

    deleted = prune_outbox(retention_seconds=3600)

    assert deleted == 4
    remaining = OutboxEvent.objects.order_by("community_id", "event_id")
    assert [(r.community_id, r.event_id) for r in remaining] == [
        (first.pk, 4),
        (first.pk, 5),
        (second.pk, 2),
        (fresh_only.pk, 1),
    ]
    pruned = dict(Stream.objects.values_list("community_id", "pruned_through"))
    assert pruned == {first.pk: 3, second.pk: 1, fresh_only.pk: 0}


def test_prune_uses_the_configured_retention_and_never_moves_pruned_through_back(
    fanout_recorder, settings
):
    settings.OUTBOX_RETENTION_SECONDS = 600
    community = CommunityFactory()
    rows = [publish_committed(community) for _ in range(3)]
    age(rows[0], 1200)
    age(rows[1], 300)

    assert prune_outbox() == 1
    assert Stream.objects.get(pk=community.pk).pruned_through == 1
    assert prune_outbox() == 0
    assert Stream.objects.get(pk=community.pk).pruned_through == 1
    assert publish_committed(community).event_id == 4
