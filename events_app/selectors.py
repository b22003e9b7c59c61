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

from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

from django.core import signing
from django.db import connection, transaction
from django.db.models import Count, IntegerField, OuterRef, Q, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from communities.errors import InvalidInput, NotFound
from communities.models import Community
from events_app import progress
from events_app.models import (
    AssemblyConsumption,
    AssemblyRun,
    AssemblyTarget,
    Delivery,
    Event,
    Item,
    ProductionRun,
    ProductionTarget,
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


@dataclass(frozen=True)
class EventWithFigures:
    id: int
    name: str
    starts_on: date
    ends_on: date
    status: str
    description: str
    figures: EventFigures

    def as_json(self) -> dict[str, Any]:
        body = self.figures.as_json()
        body.pop("event_id")
        return {
            "id": self.id,
            "name": self.name,
            "starts_on": self.starts_on.isoformat(),
            "ends_on": self.ends_on.isoformat(),
            "status": self.status,
            "description": self.description,
            "progress": body,
        }


@dataclass(frozen=True)
class EventPage:
    events: list[EventWithFigures]
    next_cursor: str | None
    when: str
    date_from: date | None
    date_to: date | None
    limit: int

    def as_json(self) -> dict[str, Any]:
        return {
            "events": [event.as_json() for event in self.events],
            "next_cursor": self.next_cursor,
            "when": self.when,
            "from": self.date_from.isoformat() if self.date_from else None,
            "to": self.date_to.isoformat() if self.date_to else None,
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


# --- Figures: four grouped queries whatever the number of events and targets ------------------


def _sum_of_live_runs(
    model: type[ProductionRun] | type[AssemblyRun], field: str, **match: Any
) -> Any:
    """Sum of `field` over the non-voided runs matching the outer target (0 when none)."""
    runs = (
        model.objects.filter(voided_at__isnull=True, **{k: OuterRef(v) for k, v in match.items()})
        .order_by()
        .values("event_id")
        .annotate(total=Sum(field))
        .values("total")
    )
    return Coalesce(Subquery(runs, output_field=IntegerField()), Value(0))


def _production_rows(event_ids: Sequence[int]) -> QuerySet[ProductionTarget, tuple[Any, ...]]:
    match = {"event_id": "event_id", "item_id": "item_id"}
    return (
        ProductionTarget.objects.filter(event_id__in=event_ids)
        .annotate(
            produced_batches=_sum_of_live_runs(ProductionRun, "batches", **match),
            produced_yield=_sum_of_live_runs(ProductionRun, "actual_yield", **match),
        )
        .order_by("event_id", "item__name", "id")
        .values_list(
            "event_id",
            "id",
            "item_id",
            "item__name",
            "item__unit",
            "target_batches",
            "produced_batches",
            "produced_yield",
        )
    )


def _assembly_rows(event_ids: Sequence[int]) -> QuerySet[AssemblyTarget, tuple[Any, ...]]:
    match = {"event_id": "event_id", "bundle_id": "bundle_id"}
    return (
        AssemblyTarget.objects.filter(event_id__in=event_ids)
        .annotate(assembled=_sum_of_live_runs(AssemblyRun, "quantity", **match))
        .order_by("event_id", "bundle__name", "id")
        .values_list("event_id", "id", "bundle_id", "bundle__name", "target_quantity", "assembled")
    )


def _delivery_rows(event_ids: Sequence[int]) -> QuerySet[Delivery, tuple[Any, ...]]:
    return (
        Delivery.objects.filter(event_id__in=event_ids)
        .order_by()
        .values("event_id", "status")
        .annotate(n=Count("id"))
        .values_list("event_id", "status", "n")
    )


def _availability_rows(event_ids: Sequence[int]) -> list[tuple[Any, ...]]:
    """Per event and item: yield of its live production runs, and what its live assembly runs
    consumed. One pass over both (UNION ALL): an item consumed whose production was voided
    since still shows, with a negative balance, instead of vanishing."""
    marks = ", ".join(["%s"] * len(event_ids))
    sql = f"""
        SELECT u.event_id, u.item_id, i.name, SUM(u.produced), SUM(u.consumed)
        FROM (
            SELECT p.event_id AS event_id, p.item_id AS item_id,
                   p.actual_yield AS produced, 0 AS consumed
            FROM {ProductionRun._meta.db_table} p
            WHERE p.voided_at IS NULL AND p.event_id IN ({marks})
            UNION ALL
            SELECT c.event_id, c.item_id, 0, c.quantity
            FROM {AssemblyConsumption._meta.db_table} c
            JOIN {AssemblyRun._meta.db_table} r ON r.id = c.run_id
            WHERE r.voided_at IS NULL AND c.event_id IN ({marks})
        ) u
        JOIN {Item._meta.db_table} i ON i.id = u.item_id
        GROUP BY u.event_id, u.item_id, i.name
        ORDER BY u.event_id, i.name, u.item_id
    """  # noqa: S608 - table names from the models, values as parameters
    with connection.cursor() as cursor:
        cursor.execute(sql, [*event_ids, *event_ids])
        return list(cursor.fetchall())


def figures_for_events(event_ids: Sequence[int]) -> dict[int, EventFigures]:
    """Every asked event's figures (an unknown or empty one: kinds "none"), in four queries,
    on the current connection and in the current transaction (none of its own)."""
    ids = list(dict.fromkeys(int(pk) for pk in event_ids))
    if not ids:
        return {}
    production: dict[int, list[progress.ProductionProgress]] = defaultdict(list)
    for event_id, pk, item_id, item, unit, target, batches, produced in _production_rows(ids):
        production[event_id].append(
            progress.production_progress(
                target_id=pk,
                item_id=item_id,
                item=item,
                unit=unit,
                target_batches=target,
                produced_batches=int(batches),
                produced_yield=int(produced),
            )
        )
    assembly: dict[int, list[progress.AssemblyProgress]] = defaultdict(list)
    for event_id, pk, bundle_id, bundle, target, assembled in _assembly_rows(ids):
        assembly[event_id].append(
            progress.assembly_progress(
                target_id=pk,
                bundle_id=bundle_id,
                bundle=bundle,
                target_quantity=target,
                assembled=int(assembled),
            )
        )
    deliveries: dict[int, dict[str, int]] = defaultdict(dict)
    for event_id, status, count in _delivery_rows(ids):
        deliveries[event_id][status] = int(count)
    available: dict[int, list[progress.ItemAvailability]] = defaultdict(list)
    for event_id, item_id, item, produced, consumed in _availability_rows(ids):
        available[event_id].append(
            progress.ItemAvailability(
                item_id=item_id,
                item=item,
                produced_yield=int(produced),
                consumed=int(consumed),
                available=int(produced) - int(consumed),
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


def _with_figures(rows: Sequence[dict[str, Any]]) -> list[EventWithFigures]:
    figures = figures_for_events([row["id"] for row in rows])
    return [EventWithFigures(**row, figures=figures[row["id"]]) for row in rows]


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

    Six queries at most whatever the page size and the number of targets: the isolation
    statement (PostgreSQL, when this opens the transaction), the page, then the four of
    `figures_for_events`. The API caps `limit` at MAX_LIMIT; callers in-process may ask more.
    """
    position = _check_list_input(when, date_from, date_to, cursor, limit)
    with read_snapshot():
        query = _page_query(community, when, date_from, date_to, position)
        rows = list(query.values(*_EVENT_FIELDS)[: limit + 1])
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
    """One event of the community with its figures, read in one snapshot (six queries at most).
    Another community's event is as unknown as a missing one."""
    with read_snapshot():
        rows = (
            list(Event.objects.filter(community=community, pk=event_id).values(*_EVENT_FIELDS))
            if 0 < event_id <= _MAX_ID
            else []
        )
        if not rows:
            raise NotFound(f"No event {event_id} in {community.slug}.")
        (event,) = _with_figures(rows)
    return event
