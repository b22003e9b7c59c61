"""Running totals of an event's live runs: what the figures read instead of summing the runs.

Every write service that records or voids a run calls one function here in its own transaction,
after taking the event's lock (`common.lock_event`): writes to one event are serialized, so a
total is read-modified-written by one writer at a time and commits (or rolls back) with the run
that changed it. A reader sees runs and totals of one snapshot; a writer reading inside its
transaction sees its own uncommitted totals. `recount` rebuilds them from the runs (the
migration's backfill, bulk seeds, tests that write runs without the services);
`tests/events_app/test_totals.py` holds them equal to the runs' sums after random writes and
voids, concurrent ones on PostgreSQL included.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence

from django.db.models import Count, F, Sum

from events_app.models import (
    AssemblyConsumption,
    AssemblyRun,
    EventBundleTotals,
    EventItemTotals,
    ProductionRun,
)

logger = logging.getLogger(__name__)


def count_production_run(run: ProductionRun, sign: int = 1) -> None:
    """Adds a live run to its item's totals (`sign=-1`: takes a voided one out)."""
    _add(
        EventItemTotals,
        run.event_id,
        {"item_id": run.item_id},
        production_runs=sign,
        produced_batches=sign * run.batches,
        produced_yield=sign * run.actual_yield,
    )


def count_assembly_run(
    run: AssemblyRun, consumption: Iterable[tuple[int, int]], sign: int = 1
) -> None:
    """Adds a live run (and what it consumed: (item id, quantity) pairs) to the totals."""
    if not _add(
        EventBundleTotals,
        run.event_id,
        {"bundle_id": run.bundle_id},
        assembly_runs=sign,
        assembled=sign * run.quantity,
    ):
        return
    for item_id, quantity in consumption:
        if not _add(
            EventItemTotals,
            run.event_id,
            {"item_id": item_id},
            consumptions=sign,
            consumed=sign * quantity,
        ):
            return


def uncount_assembly_run(run: AssemblyRun) -> None:
    """Takes a voided run and what it consumed out of the totals."""
    taken = AssemblyConsumption.objects.filter(run=run).values_list("item_id", "quantity")
    count_assembly_run(run, list(taken), sign=-1)


def _add(
    model: type[EventItemTotals] | type[EventBundleTotals],
    event_id: int,
    key: dict[str, int],
    **deltas: int,
) -> bool:
    """False if it had to recount the event's totals instead (they are then complete)."""
    rows = model.objects.filter(event_id=event_id, **key)
    if rows.update(**{name: F(name) + delta for name, delta in deltas.items()}):
        return True
    if all(delta >= 0 for delta in deltas.values()):
        model.objects.create(event_id=event_id, **key, **deltas)
        return True
    # Taking out what was never counted: the totals disagree with the runs (written around
    # the services?). The runs are the record: rebuild this event's totals from them.
    logger.error("event %s: no %s row for %s; recounting", event_id, model.__name__, key)
    recount([event_id])
    return False


def recount(event_ids: Sequence[int]) -> None:
    """Rebuilds the events' totals from their live runs (the caller holds the events' locks,
    or nobody else writes them: a migration, a seed)."""
    ids = list(event_ids)
    if not ids:
        return
    items: dict[tuple[int, int], dict[str, int]] = defaultdict(dict)
    produced = (
        ProductionRun.objects.filter(event_id__in=ids, voided_at__isnull=True)
        .order_by()
        .values_list("event_id", "item_id")
        .annotate(Count("id"), Sum("batches"), Sum("actual_yield"))
    )
    for event_id, item_id, runs, batches, produced_yield in produced:
        items[(event_id, item_id)].update(
            production_runs=runs, produced_batches=batches, produced_yield=produced_yield
        )
    consumed = (
        AssemblyConsumption.objects.filter(event_id__in=ids, run__voided_at__isnull=True)
        .order_by()
        .values_list("event_id", "item_id")
        .annotate(Count("id"), Sum("quantity"))
    )
    for event_id, item_id, rows, quantity in consumed:
        items[(event_id, item_id)].update(consumptions=rows, consumed=quantity)
    assembled = (
        AssemblyRun.objects.filter(event_id__in=ids, voided_at__isnull=True)
        .order_by()
        .values_list("event_id", "bundle_id")
        .annotate(Count("id"), Sum("quantity"))
    )
    EventItemTotals.objects.filter(event_id__in=ids).delete()
    EventBundleTotals.objects.filter(event_id__in=ids).delete()
    EventItemTotals.objects.bulk_create(
        (EventItemTotals(event_id=e, item_id=i, **sums) for (e, i), sums in items.items()),
        batch_size=2000,
    )
    EventBundleTotals.objects.bulk_create(
        (
            EventBundleTotals(event_id=e, bundle_id=b, assembly_runs=runs, assembled=quantity)
            for e, b, runs, quantity in assembled
        ),
        batch_size=2000,
    )
