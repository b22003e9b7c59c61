"""Reads for streams: where a community's stream stands, and events to replay."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from realtime.models import OutboxEvent, Stream


@dataclass(frozen=True)
class StreamPosition:
    head: int  # last event id handed out
    pruned_through: int  # events up to this id are gone


def stream_position(community_id: int) -> StreamPosition:
    row = Stream.objects.filter(pk=community_id).values_list("last_id", "pruned_through").first()
    return StreamPosition(*row) if row else StreamPosition(0, 0)


def events_between(
    community_id: int, topics: Iterable[str], after: int, upto: int | None, limit: int
) -> list[OutboxEvent]:
    """Committed events with after < id <= upto on the given topics, oldest first."""
    rows = OutboxEvent.objects.filter(
        community_id=community_id, topic__in=list(topics), event_id__gt=after
    )
    if upto is not None:
        rows = rows.filter(event_id__lte=upto)
    return list(rows.select_related("community").order_by("event_id")[:limit])


def undispatched_summary() -> tuple[int, float | None]:
    """How many committed events wait for fan-out, and when the oldest was written."""
    from django.db.models import Count, Min
    from django.utils import timezone

    agg = OutboxEvent.objects.filter(dispatched_at__isnull=True).aggregate(
        n=Count("pk"), oldest=Min("created_at")
    )
    lag = (timezone.now() - agg["oldest"]).total_seconds() if agg["oldest"] else None
    return agg["n"], lag
