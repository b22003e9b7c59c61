"""What the `events` topic says after a write: completion marks first, then the new figures.

Called by every writer at the end of its transaction, while it still holds the event's lock
(`common.lock_event`), so the figures read here are the event's figures as of this commit and
no other writer of the event can interleave. `completed_at` on targets and events is flipped
with a conditional UPDATE (`completed_at IS NULL` to complete, `IS NOT NULL` to reopen): the
row count says whether this write is the one that changed it, so `events.target.completed`
is published exactly once per completion even if the lock were ever bypassed.
"""

from __future__ import annotations

import logging

from django.db.models import Model, QuerySet
from django.utils import timezone

import realtime
from events_app import events
from events_app.models import AssemblyTarget, Delivery, Event, ProductionTarget
from events_app.progress import AssemblyProgress, EventFigures, ProductionProgress
from events_app.selectors import figures_for_events

logger = logging.getLogger(__name__)


def publish_event_changes(event: Event, *, reason: str) -> EventFigures:
    """Marks and announces completions and reopenings, then the coalesced progress snapshot.
    `reason` says what kind of write it was (`production_run`, `void`, `target`, ...)."""
    figures = figures_for_events([event.pk])[event.pk]
    marked = _marked(ProductionTarget.objects.filter(event=event))
    for prod in figures.production:
        if prod.complete != marked.get(prod.target_id):
            _flip(event, ProductionTarget.objects.filter(pk=prod.target_id), prod, reason)
    marked = _marked(AssemblyTarget.objects.filter(event=event))
    for asm in figures.assembly:
        if asm.complete != marked.get(asm.target_id):
            _flip(event, AssemblyTarget.objects.filter(pk=asm.target_id), asm, reason)
    _flip_event(event, figures, reason)
    realtime.publish(
        event.community,
        events.TOPIC,
        events.PROGRESS_UPDATED,
        events.progress_payload(event, figures),
        coalesce_key=events.progress_coalesce_key(event.pk),
    )
    return figures


def publish_delivery(delivery: Delivery, event: Event, *, previous_status: str | None) -> None:
    realtime.publish(
        event.community,
        events.TOPIC,
        events.DELIVERY_UPDATED,
        events.delivery_payload(delivery, previous_status=previous_status),
    )


def _marked(targets: QuerySet[Model]) -> dict[int, bool]:
    """Which targets are marked complete now: only those whose figures disagree are updated
    (the conditional UPDATE in `_mark` still decides who announces)."""
    return {pk: at is not None for pk, at in targets.values_list("pk", "completed_at")}


def _mark(rows: QuerySet[Model], complete: bool) -> bool:
    """True if this call changed the mark (and so must announce it)."""
    if complete:
        return rows.filter(completed_at__isnull=True).update(completed_at=timezone.now()) == 1
    return rows.filter(completed_at__isnull=False).update(completed_at=None) == 1


def _flip(
    event: Event,
    rows: QuerySet[Model],
    row: ProductionProgress | AssemblyProgress,
    reason: str,
) -> None:
    if not _mark(rows, row.complete):
        return
    kind = events.TARGET_COMPLETED if row.complete else events.TARGET_REOPENED
    logger.info("event %s target %s: %s (%s)", event.pk, row.target_id, kind, reason)
    realtime.publish(
        event.community, events.TOPIC, kind, events.target_payload(event, row, reason=reason)
    )


def _flip_event(event: Event, figures: EventFigures, reason: str) -> None:
    if figures.complete == (event.completed_at is not None):  # read under the event's lock
        return
    if not _mark(Event.objects.filter(pk=event.pk), figures.complete):
        return
    kind = events.EVENT_COMPLETED if figures.complete else events.EVENT_REOPENED
    logger.info("event %s: %s (%s)", event.pk, kind, reason)
    realtime.publish(
        event.community,
        events.TOPIC,
        kind,
        events.event_completion_payload(event, figures, reason=reason),
    )
