"""Writes of the realtime backbone: publishing into the outbox, relaying and pruning it."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Max, Q
from django.utils import timezone

from communities.models import Community
from realtime import fanout, metrics, outbox_sql
from realtime.envelope import build_envelope, dumps
from realtime.models import OutboxEvent, Stream
from realtime.topics import ALL_TOPICS, access_group, group_name

logger = logging.getLogger(__name__)
RELAY_LEASE_SECONDS = 30


class PublishOutsideTransaction(RuntimeError):
    """publish() must share the writer's transaction, or a rollback could still publish."""


def publish(
    community: Community, topic: str, type: str, data: Any, *, coalesce_key: str = ""
) -> OutboxEvent:
    """Writes the event into the outbox; it fans out only if and after the transaction commits.

    Call it late in the writer's transaction: it locks the community's stream row until commit,
    which is what keeps ids gap-free and in commit order.
    """
    if topic not in ALL_TOPICS:
        raise ValueError(f"unknown topic {topic!r}; expected one of {ALL_TOPICS}")
    if not transaction.get_connection().in_atomic_block:
        raise PublishOutsideTransaction("realtime.publish must be called inside transaction.atomic")
    last_id, prev = _lock_stream(community.pk)
    row = outbox_sql.append(
        community=community,
        event_id=last_id + 1,
        topic=topic,
        type=type,
        data=data,
        prev=prev,
        coalesce_key=coalesce_key,
        created_at=timezone.now(),
    )
    message = stream_message(row, community.slug)
    transaction.on_commit(lambda: _fan_out_on_commit(row.pk, message))
    return row


def publish_snapshot(
    community: Community,
    topic: str,
    type: str,
    read: Callable[[], tuple[Any, str] | None],
) -> OutboxEvent | None:
    """Publishes a coalesced *snapshot* event (the state as it is now, not a change), in commit
    order with the community's other events.

    The stream row is locked *before* `read()` runs (it returns the data and the coalesce key,
    or None for nothing to say). Every event-writing transaction holds that lock until it
    commits, so the state read here includes every change whose event has a lower id and none
    whose event will have a higher one: a snapshot can never describe a target or a vote that
    an earlier event already closed. Reading first and locking after is what let a
    `progress.updated` of a closed target arrive after `tree.completed`.
    """
    with transaction.atomic():
        _lock_stream(community.pk)
        found = read()
        if found is None:
            return None
        data, coalesce_key = found
        return publish(community, topic, type, data, coalesce_key=coalesce_key)


def _lock_stream(community_id: int) -> tuple[int, dict[str, int]]:
    """Locks the community's stream row (made on first use); its last id and topic heads."""
    found = outbox_sql.lock_heads(community_id)
    if found is None:
        Stream.objects.bulk_create([Stream(community_id=community_id)], ignore_conflicts=True)
        found = outbox_sql.lock_heads(community_id)
        assert found is not None  # just made, and a stream row is never deleted alone
    return found


def _try_lock_stream(community_id: int) -> bool:
    locked = outbox_sql.try_lock(community_id)
    if locked is None:  # no stream row yet: make it, and wait for it like any first writer
        _lock_stream(community_id)
        return True
    return locked


def stream_message(row: OutboxEvent, community_slug: str) -> dict[str, Any]:
    """The channel-layer message for one event: the envelope pre-serialised once for everyone."""
    envelope = build_envelope(
        event_id=row.event_id,
        type=row.type,
        topic=row.topic,
        community=community_slug,
        occurred_at=row.created_at,
        data=row.data,
    )
    return {
        "type": "stream.event",
        "group": group_name(row.community_id, row.topic),
        "community_id": row.community_id,
        "id": row.event_id,
        "topic": row.topic,
        "event_type": row.type,
        "prev": row.prev,
        "coalesce": row.coalesce_key,
        "payload": dumps(envelope),
    }


def _fan_out_on_commit(pk: int, message: dict[str, Any]) -> None:
    metrics.EVENTS_PUBLISHED.labels(topic=message["topic"]).inc()
    try:
        delivered = fanout.send([message])
    except Exception:
        metrics.PUBLISH_FAILURES.inc()
        logger.error(
            "fan-out failed; the relay will resend community=%s event=%s type=%s",
            message["community_id"],
            message["id"],
            message["event_type"],
            exc_info=True,
        )
        return
    if not delivered:
        return
    outbox_sql.mark_dispatched(pk, timezone.now())


@dataclass(frozen=True)
class RelayResult:
    sent: int
    failed: int


def relay_pending(*, older_than_seconds: float | None = None, limit: int = 500) -> RelayResult:
    """Resends committed events that were never fanned out (the writer died or the send failed).

    Rows are claimed with a short lease (`claimed_until`) so two relays never send the same
    batch; they are marked dispatched only after the send, so a relay that dies mid-send leaves
    them to the next pass once the lease runs out.
    """
    grace = (
        settings.OUTBOX_RELAY_GRACE_SECONDS if older_than_seconds is None else older_than_seconds
    )
    now = timezone.now()
    cutoff = now - timedelta(seconds=grace)
    with transaction.atomic():
        candidates = (
            OutboxEvent.objects.filter(dispatched_at__isnull=True, created_at__lte=cutoff)
            .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
            .order_by("community_id", "event_id")
            .select_for_update(skip_locked=True)
            .values_list("pk", flat=True)[:limit]
        )
        pks = list(candidates)
        if not pks:
            return RelayResult(sent=0, failed=0)
        OutboxEvent.objects.filter(pk__in=pks).update(
            claimed_until=now + timedelta(seconds=RELAY_LEASE_SECONDS)
        )
    rows = list(
        OutboxEvent.objects.filter(pk__in=pks)
        .select_related("community")
        .order_by("community_id", "event_id")
    )
    messages = [stream_message(row, row.community.slug) for row in rows]
    try:
        fanout.send(messages)
    except Exception:
        OutboxEvent.objects.filter(pk__in=pks).update(claimed_until=None)
        metrics.PUBLISH_FAILURES.inc()
        logger.error(
            "relay send failed for %d events (first community=%s event=%s)",
            len(rows),
            rows[0].community_id,
            rows[0].event_id,
            exc_info=True,
        )
        return RelayResult(sent=0, failed=len(rows))
    OutboxEvent.objects.filter(pk__in=pks, dispatched_at__isnull=True).update(
        dispatched_at=timezone.now()
    )
    metrics.EVENTS_RELAYED.inc(len(rows))
    logger.warning("relay resent %d events that were not fanned out after commit", len(rows))
    return RelayResult(sent=len(rows), failed=0)


def prune_outbox(*, retention_seconds: int | None = None) -> int:
    """Deletes events older than the retention and records, per community, what is gone."""
    seconds = settings.OUTBOX_RETENTION_SECONDS if retention_seconds is None else retention_seconds
    cutoff = timezone.now() - timedelta(seconds=seconds)
    old = (
        OutboxEvent.objects.filter(created_at__lt=cutoff)
        .values("community_id")
        .annotate(through=Max("event_id"))
    )
    deleted_total = 0
    for entry in old:
        with transaction.atomic():
            Stream.objects.filter(
                pk=entry["community_id"], pruned_through__lt=entry["through"]
            ).update(pruned_through=entry["through"])
            deleted, _ = OutboxEvent.objects.filter(
                community_id=entry["community_id"], event_id__lte=entry["through"]
            ).delete()
        deleted_total += deleted
    if deleted_total:
        logger.info("outbox pruned %d events older than %ss", deleted_total, seconds)
    return deleted_total


def notify_access_changed_on_commit(
    *, user_id: int | None = None, token_id: int | None = None, overlay_key_id: int | None = None
) -> None:
    """After commit, tells every server process to re-check this user's, token's or overlay
    key's streams."""
    group = access_group(user_id=user_id, token_id=token_id, overlay_key_id=overlay_key_id)

    def send() -> None:
        try:
            fanout.send([{"type": "access.changed", "group": group}])
        except Exception:
            metrics.PUBLISH_FAILURES.inc()
            logger.error("access-change notice failed group=%s", group, exc_info=True)

    transaction.on_commit(send)
