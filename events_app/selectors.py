"""Reads of events with their progress: a constant number of queries, one consistent snapshot.

The seed this replaces asked the database once per target per event (12,015 queries for 500
events) and read each event's figures in a transaction of its own, so one list could mix two
moments. Here every read is a handful of grouped queries over all the events asked for, and a
list or a detail reads them all in ONE transaction: REPEATABLE READ + READ ONLY on PostgreSQL
(the snapshot is taken at the first query and held to the last), a plain transaction on SQLite
(one writer at a time: a reader's transaction already sees one state). A caller that is already
inside a transaction keeps it: a writer that reads inside its atomic block sees its own
uncommitted runs (the seed's rule).

What the figures mean is not decided here: `events_app/progress.py` builds them from the sums.
"""

from __future__ import annotations

import gc
import threading
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

from django.core import signing
from django.db import connection, transaction
from django.db.models import Count, IntegerField, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from communities.errors import InvalidInput, NotFound
from communities.models import Community
from events_app import progress
from events_app.figure_rows import delivery_rows, figure_rows
from events_app.models import (
    Delivery,
    DeliveryStatus,
    Event,
)
from events_app.progress import EventFigures

When = Literal["upcoming", "past", "all"]
WHEN_CHOICES: tuple[str, ...] = ("upcoming", "past", "all")
DEFAULT_WHEN: When = "upcoming"
DEFAULT_LIMIT = 50
MAX_LIMIT = 200
_CURSOR_SALT = "events_app.list_events.cursor"
_MAX_ID = 2**63 - 1
_EVENT_FIELDS = ("id", "name", "starts_on", "ends_on", "status", "description")
_DELIVERY_PREFIX = "deliveries_"


@dataclass(frozen=True)
class EventWithFigures:
    id: int
    name: str
    starts_on: date
    ends_on: date
    status: str
    description: str
    figures: EventFigures

    def as_document(self) -> dict[str, Any]:
        """The event as the API answers it, its figures left as their dataclasses: orjson
        writes those as `EventFigures.as_json()` would, ten times faster than `asdict`."""
        return {
            "id": self.id,
            "name": self.name,
            "starts_on": self.starts_on,
            "ends_on": self.ends_on,
            "status": self.status,
            "description": self.description,
            "progress": self.figures,
        }


@dataclass(frozen=True)
class EventPage:
    events: list[EventWithFigures]
    next_cursor: str | None
    when: str
    date_from: date | None
    date_to: date | None
    limit: int

    def as_document(self) -> dict[str, Any]:
        return {
            "events": [event.as_document() for event in self.events],
            "next_cursor": self.next_cursor,
            "when": self.when,
            "from": self.date_from,
            "to": self.date_to,
            "limit": self.limit,
        }


# --- The snapshot ------------------------------------------------------------------------------


@contextmanager
def read_snapshot() -> Iterator[None]:
    """One read-only transaction for everything read inside; the caller's own if it has one."""
    if connection.in_atomic_block:
        yield
        return
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        yield


# --- Figures: two queries whatever the number of events and targets ---------------------------

_pause_lock = threading.Lock()
_pauses = 0
_collector_was_enabled = False


@contextmanager
def _collector_paused() -> Iterator[None]:
    """The cyclic garbage collector held off while the figures are built: a list of 500 events
    allocates ~40,000 objects (rows, figures), none in a cycle (reference counting frees them),
    and the collections they trigger (each full one walking the whole process heap) cost
    ~40 % of the list's Python CPU (docs/benchmarks.md). Nested and concurrent pauses (other
    threads) are counted: the last one out restores the collector as the first one found it."""
    global _pauses, _collector_was_enabled
    with _pause_lock:
        if _pauses == 0:
            _collector_was_enabled = gc.isenabled()
            gc.disable()
        _pauses += 1
    try:
        yield
    finally:
        with _pause_lock:
            _pauses -= 1
            if _pauses == 0 and _collector_was_enabled:
                gc.enable()


def figures_for_events(event_ids: Sequence[int]) -> dict[int, EventFigures]:
    """Every asked event's figures (an unknown or empty one: kinds "none"), in two queries (the
    deliveries by status; the targets with their sums and the stock) whatever the number of
    events and targets, on the current connection and in the current transaction (none of its
    own: a writer calling it inside its atomic block sees its own uncommitted runs)."""
    ids = list(dict.fromkeys(int(pk) for pk in event_ids))
    if not ids:
        return {}
    deliveries: dict[int, dict[str, int]] = defaultdict(dict)
    for event_id, status, count in delivery_rows(ids):
        deliveries[event_id][status] = int(count)
    return _figures(ids, deliveries)


def _figures(
    ids: list[int], deliveries: Mapping[int, Mapping[str, int]]
) -> dict[int, EventFigures]:
    """The figures from one query (every number in it an integer) and the deliveries already
    counted (by `figures_for_events`, or by the page query of a list)."""
    if not ids:
        return {}
    with _collector_paused():
        return _build(ids, deliveries)


def _build(ids: list[int], deliveries: Mapping[int, Mapping[str, int]]) -> dict[int, EventFigures]:
    production: dict[int, list[progress.ProductionProgress]] = defaultdict(list)
    assembly: dict[int, list[progress.AssemblyProgress]] = defaultdict(list)
    available: dict[int, list[progress.ItemAvailability]] = defaultdict(list)
    for kind, event_id, pk, ref_id, name, unit, target, done, produced in figure_rows(ids):
        if kind == "p":
            production[event_id].append(
                progress.production_progress(
                    target_id=pk,
                    item_id=ref_id,
                    item=name,
                    unit=unit,
                    target_batches=target,
                    produced_batches=done,
                    produced_yield=produced,
                )
            )
        elif kind == "a":
            assembly[event_id].append(
                progress.assembly_progress(
                    target_id=pk,
                    bundle_id=ref_id,
                    bundle=name,
                    target_quantity=target,
                    assembled=done,
                )
            )
        else:
            available[event_id].append(
                progress.item_availability(
                    item_id=ref_id, item=name, produced_yield=produced, consumed=done
                )
            )
    return {
        pk: progress.event_figures(
            event_id=pk,
            production=production.get(pk, ()),
            assembly=assembly.get(pk, ()),
            deliveries_by_status=deliveries.get(pk, {}),
            available=available.get(pk, ()),
        )
        for pk in ids
    }


# --- The list and the detail -------------------------------------------------------------------


def encode_cursor(starts_on: date, name: str, pk: int) -> str:
    """Opaque and signed: a client can hand it back, not forge or edit it."""
    return signing.dumps([starts_on.isoformat(), name, pk], salt=_CURSOR_SALT, compress=True)


def decode_cursor(cursor: str) -> tuple[date, str, int]:
    try:
        raw = signing.loads(cursor, salt=_CURSOR_SALT)
        starts_on, name, pk = raw
        if not isinstance(name, str) or not isinstance(pk, int) or isinstance(pk, bool):
            raise ValueError("bad cursor fields")
        return date.fromisoformat(starts_on), name, pk
    except (signing.BadSignature, ValueError, TypeError) as exc:
        raise InvalidInput(
            "Invalid cursor.", fields={"cursor": ["not a cursor this list handed out"]}
        ) from exc


def _check_list_input(
    when: str, date_from: date | None, date_to: date | None, cursor: str | None, limit: int
) -> tuple[date, str, int] | None:
    """Every problem at once, each under its parameter's name."""
    fields: dict[str, list[str]] = {}
    if when not in WHEN_CHOICES:
        fields["when"] = [f"one of {', '.join(WHEN_CHOICES)}"]
    if date_from is not None and date_to is not None and date_from > date_to:
        fields["from"] = ["must not be after `to`"]
        fields["to"] = ["must not be before `from`"]
    if limit < 1:
        fields["limit"] = ["at least 1"]
    position = None
    if cursor:
        try:
            position = decode_cursor(cursor)
        except InvalidInput as exc:
            fields.update(exc.fields or {})
    if fields:
        raise InvalidInput("Invalid event list parameters.", fields=fields)
    return position


def _page_query(
    community: Community,
    when: str,
    date_from: date | None,
    date_to: date | None,
    position: tuple[date, str, int] | None,
) -> QuerySet[Event]:
    events = Event.objects.filter(community=community)
    today = timezone.localdate()
    if when == "upcoming":
        events = events.filter(ends_on__gte=today)
    elif when == "past":
        events = events.filter(ends_on__lt=today)
    # Overlap: the event takes place on at least one day of [from, to].
    if date_from is not None:
        events = events.filter(ends_on__gte=date_from)
    if date_to is not None:
        events = events.filter(starts_on__lte=date_to)
    if position is not None:
        starts_on, name, pk = position
        events = events.filter(
            Q(starts_on__gt=starts_on)
            | Q(starts_on=starts_on, name__gt=name)
            | Q(starts_on=starts_on, name=name, id__gt=pk)
        )
    return events.order_by("starts_on", "name", "id")


def _delivery_counts() -> dict[str, Any]:
    """Per delivery status, the event's number of deliveries in it: the page query carries
    them (one correlated count each), which saves the list and the detail a query."""
    return {
        f"{_DELIVERY_PREFIX}{status}": Coalesce(
            Subquery(
                Delivery.objects.filter(event_id=OuterRef("pk"), status=status)
                .order_by()
                .values("event_id")
                .annotate(n=Count("id"))
                .values("n"),
                output_field=IntegerField(),
            ),
            Value(0),
        )
        for status in DeliveryStatus.values
    }


def _rows(events: QuerySet[Event]) -> QuerySet[Event, dict[str, Any]]:
    return events.values(*_EVENT_FIELDS, **_delivery_counts())


def _with_figures(rows: Sequence[dict[str, Any]]) -> list[EventWithFigures]:
    deliveries: dict[int, dict[str, int]] = {}
    events: list[dict[str, Any]] = []
    for row in rows:
        counts = {
            k.removeprefix(_DELIVERY_PREFIX): int(row.pop(k))
            for k in list(row)
            if k.startswith(_DELIVERY_PREFIX)
        }
        deliveries[row["id"]] = counts
        events.append(row)
    figures = _figures([row["id"] for row in events], deliveries)
    return [EventWithFigures(**row, figures=figures[row["id"]]) for row in events]


def list_events(
    community: Community,
    *,
    when: str = DEFAULT_WHEN,
    date_from: date | None = None,
    date_to: date | None = None,
    cursor: str | None = None,
    limit: int = DEFAULT_LIMIT,
) -> EventPage:
    """A page of the community's events with their figures, ordered by start date, name, id.

    The same statements whatever the page size and the number of targets: the page (with each
    event's delivery counts) and the figures (`figure_rows`), plus the transaction's own when
    this opens it (PostgreSQL: BEGIN, the isolation statement, COMMIT; SQLite: BEGIN, COMMIT):
    5 on PostgreSQL, 4 on SQLite, 2 inside the caller's transaction. The API caps `limit` at
    MAX_LIMIT; callers in-process may ask more.
    """
    position = _check_list_input(when, date_from, date_to, cursor, limit)
    with read_snapshot():
        query = _page_query(community, when, date_from, date_to, position)
        rows = list(_rows(query)[: limit + 1])
        page = _with_figures(rows[:limit])
    last = page[-1] if len(rows) > limit else None
    return EventPage(
        events=page,
        next_cursor=encode_cursor(last.starts_on, last.name, last.id) if last else None,
        when=when,
        date_from=date_from,
        date_to=date_to,
        limit=limit,
    )


def event_detail(community: Community, event_id: int) -> EventWithFigures:
    """One event of the community with its figures, read in one snapshot (the statements of a
    list). Another community's event is as unknown as a missing one."""
    with read_snapshot():
        rows = (
            list(_rows(Event.objects.filter(community=community, pk=event_id)))
            if 0 < event_id <= _MAX_ID
            else []
        )
        if not rows:
            raise NotFound(f"No event {event_id} in {community.slug}.")
        (event,) = _with_figures(rows)
    return event
