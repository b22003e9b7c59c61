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
    AssemblyConsumption,
    AssemblyRun,
    AssemblyTarget,
    Bundle,
    Delivery,
    Item,
    ProductionRun,
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

    The live (non-voided) runs are summed per (event, item|bundle) once (`produced` serves both
    the targets and the stock), then joined: a correlated sum per target was three times slower
    at 200 events. An item consumed whose production was voided since still shows in the
    stock, with a negative balance, instead of vanishing. Every table is read through its
    event index, the runs joined to the consumption too (a run's event is its consumption's):
    without that filter PostgreSQL read every assembly run of the database to join 50 events'.
    """
    tables = {
        "prun": ProductionRun._meta.db_table,
        "arun": AssemblyRun._meta.db_table,
        "cons": AssemblyConsumption._meta.db_table,
        "ptarget": ProductionTarget._meta.db_table,
        "atarget": AssemblyTarget._meta.db_table,
        "item": Item._meta.db_table,
        "bundle": Bundle._meta.db_table,
    }
    where: list[str] = []
    params: list[Any] = []
    columns = ("event_id", "c.event_id", "r.event_id", "event_id", "t.event_id", "t.event_id")
    for column in columns:
        clause, values = _event_filter(column, event_ids)
        where.append(clause)
        params += values
    sql = """
        WITH produced AS (
            SELECT event_id, item_id, SUM(batches) AS batches, SUM(actual_yield) AS yield
            FROM {prun} WHERE voided_at IS NULL AND {w0}
            GROUP BY event_id, item_id
        ), consumed AS (
            SELECT c.event_id, c.item_id, SUM(c.quantity) AS quantity
            FROM {cons} c JOIN {arun} r ON r.id = c.run_id
            WHERE r.voided_at IS NULL AND {w1} AND {w2}
            GROUP BY c.event_id, c.item_id
        ), assembled AS (
            SELECT event_id, bundle_id, SUM(quantity) AS quantity
            FROM {arun} WHERE voided_at IS NULL AND {w3}
            GROUP BY event_id, bundle_id
        )
        SELECT 'p', t.event_id, t.id, t.item_id, i.name, i.unit, t.target_batches,
               COALESCE(p.batches, 0), COALESCE(p.yield, 0)
        FROM {ptarget} t
        JOIN {item} i ON i.id = t.item_id
        LEFT JOIN produced p ON p.event_id = t.event_id AND p.item_id = t.item_id
        WHERE {w4}
        UNION ALL
        SELECT 'a', t.event_id, t.id, t.bundle_id, b.name, '', t.target_quantity,
               COALESCE(a.quantity, 0), 0
        FROM {atarget} t
        JOIN {bundle} b ON b.id = t.bundle_id
        LEFT JOIN assembled a ON a.event_id = t.event_id AND a.bundle_id = t.bundle_id
        WHERE {w5}
        UNION ALL
        SELECT 's', s.event_id, s.item_id, s.item_id, i.name, '', 0,
               CAST(SUM(s.consumed) AS BIGINT), CAST(SUM(s.produced) AS BIGINT)
        FROM (
            SELECT event_id, item_id, yield AS produced, 0 AS consumed FROM produced
            UNION ALL
            SELECT event_id, item_id, 0, quantity FROM consumed
        ) s
        JOIN {item} i ON i.id = s.item_id
        GROUP BY s.event_id, s.item_id, i.name
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
