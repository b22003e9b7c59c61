"""The two statements behind every event's figures, whatever the number of events and targets:
the delivery counts by status, and everything else in one (`figure_rows`). Plain rows; what
they mean is `events_app/progress.py`'s, and `events_app/selectors.py` builds the figures.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import connection
from django.db.models import Count, QuerySet

from events_app.models import (
    AssemblyTarget,
    Bundle,
    Delivery,
    EventBundleTotals,
    EventItemTotals,
    Item,
    ProductionTarget,
)


def _event_filter(column: str, event_ids: Sequence[int]) -> tuple[str, list[Any]]:
    """`column` among the asked events: one array parameter on PostgreSQL (a list of
    placeholders there costs the driver more than the query), placeholders on SQLite."""
    if connection.vendor == "postgresql":
        return f"{column} = ANY(%s)", [list(event_ids)]
    return f"{column} IN ({', '.join(['%s'] * len(event_ids))})", list(event_ids)


def figure_rows(event_ids: Sequence[int]) -> list[tuple[Any, ...]]:
    """Everything but the deliveries, in one query, as rows of
    (kind, event, id, item or bundle id, name, unit, target, done, produced):

    - 'p', a production target: target batches, batches produced, yield produced;
    - 'a', an assembly target: target quantity, bundles assembled;
    - 's', an item's stock in the event: yield produced, consumed by assembly.

    The sums of the live (non-voided) runs are read from their running totals
    (`EventItemTotals`, `EventBundleTotals`, kept by `events_app/services/totals.py` in each
    write's transaction), not summed here: summing every run of 500 events cost PostgreSQL
    ~50 ms per list (docs/benchmarks.md). An item shows in the stock while it has a live
    production run or consumption; one consumed whose production was voided since shows with
    a negative balance instead of vanishing. Every table is read through its event index.
    """
    tables = {
        "totals": EventItemTotals._meta.db_table,
        "btotals": EventBundleTotals._meta.db_table,
        "ptarget": ProductionTarget._meta.db_table,
        "atarget": AssemblyTarget._meta.db_table,
        "item": Item._meta.db_table,
        "bundle": Bundle._meta.db_table,
    }
    where: list[str] = []
    params: list[Any] = []
    # The totals are filtered by the asked events too: joined on the targets' event alone,
    # PostgreSQL hashed the whole totals table (every community's) for 50 events.
    for column in ("s.event_id", "t.event_id", "s.event_id", "t.event_id", "s.event_id"):
        clause, values = _event_filter(column, event_ids)
        where.append(clause)
        params += values
    sql = """
        SELECT 'p', t.event_id, t.id, t.item_id, i.name, i.unit, t.target_batches,
               COALESCE(s.produced_batches, 0), COALESCE(s.produced_yield, 0)
        FROM {ptarget} t
        JOIN {item} i ON i.id = t.item_id
        LEFT JOIN {totals} s ON s.event_id = t.event_id AND s.item_id = t.item_id AND {w0}
        WHERE {w1}
        UNION ALL
        SELECT 'a', t.event_id, t.id, t.bundle_id, b.name, '', t.target_quantity,
               COALESCE(s.assembled, 0), 0
        FROM {atarget} t
        JOIN {bundle} b ON b.id = t.bundle_id
        LEFT JOIN {btotals} s ON s.event_id = t.event_id AND s.bundle_id = t.bundle_id AND {w2}
        WHERE {w3}
        UNION ALL
        SELECT 's', s.event_id, s.item_id, s.item_id, i.name, '', 0, s.consumed, s.produced_yield
        FROM {totals} s
        JOIN {item} i ON i.id = s.item_id
        WHERE {w4} AND (s.production_runs > 0 OR s.consumptions > 0)
        ORDER BY 2, 1, 5, 3
    """.format(**tables, **{f"w{n}": clause for n, clause in enumerate(where)})  # noqa: S608 - tables from the models, values as parameters
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return list(cursor.fetchall())


def delivery_rows(event_ids: Sequence[int]) -> QuerySet[Delivery, tuple[Any, ...]]:
    return (
        Delivery.objects.filter(event_id__in=event_ids)
        .order_by()
        .values("event_id", "status")
        .annotate(n=Count("id"))
        .values_list("event_id", "status", "n")
    )
