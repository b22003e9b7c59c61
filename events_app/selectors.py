"""Temporary: replaced by ws-evr at merge.

A plain version of `figures_for_events` so the writers can publish figures on this branch. It
reads with the current connection (inside the caller's transaction, so a writer sees its own
uncommitted runs); the real one (ws-evr) does the same in at most 4 queries.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from django.db.models import Count, Sum

from events_app.models import (
    AssemblyConsumption,
    AssemblyRun,
    AssemblyTarget,
    Delivery,
    Item,
    ProductionRun,
    ProductionTarget,
)
from events_app.progress import (
    EventFigures,
    ItemAvailability,
    assembly_progress,
    event_figures,
    production_progress,
)


def figures_for_events(event_ids: Sequence[int]) -> dict[int, EventFigures]:
    ids = list(event_ids)
    produced: dict[tuple[int, int], tuple[int, int]] = {
        (r["event_id"], r["item_id"]): (r["b"] or 0, r["y"] or 0)
        for r in ProductionRun.objects.filter(event_id__in=ids, voided_at__isnull=True)
        .values("event_id", "item_id")
        .annotate(b=Sum("batches"), y=Sum("actual_yield"))
    }
    assembled: dict[tuple[int, int], int] = {
        (r["event_id"], r["bundle_id"]): r["q"] or 0
        for r in AssemblyRun.objects.filter(event_id__in=ids, voided_at__isnull=True)
        .values("event_id", "bundle_id")
        .annotate(q=Sum("quantity"))
    }
    consumed: dict[tuple[int, int], int] = {
        (r["event_id"], r["item_id"]): r["q"] or 0
        for r in AssemblyConsumption.objects.filter(event_id__in=ids, run__voided_at__isnull=True)
        .values("event_id", "item_id")
        .annotate(q=Sum("quantity"))
    }
    deliveries: dict[int, dict[str, int]] = defaultdict(dict)
    for r in (
        Delivery.objects.filter(event_id__in=ids)
        .values("event_id", "status")
        .annotate(n=Count("pk"))
    ):
        deliveries[r["event_id"]][r["status"]] = r["n"]
    prod_rows = defaultdict(list)
    for t in ProductionTarget.objects.filter(event_id__in=ids).select_related("item"):
        batches, yielded = produced.get((t.event_id, t.item_id), (0, 0))
        prod_rows[t.event_id].append(
            production_progress(
                target_id=t.pk,
                item_id=t.item_id,
                item=t.item.name,
                unit=t.item.unit,
                target_batches=t.target_batches,
                produced_batches=batches,
                produced_yield=yielded,
            )
        )
    asm_rows = defaultdict(list)
    for a in AssemblyTarget.objects.filter(event_id__in=ids).select_related("bundle"):
        asm_rows[a.event_id].append(
            assembly_progress(
                target_id=a.pk,
                bundle_id=a.bundle_id,
                bundle=a.bundle.name,
                target_quantity=a.target_quantity,
                assembled=assembled.get((a.event_id, a.bundle_id), 0),
            )
        )
    item_ids = {item for _, item in (*produced, *consumed)}
    names = dict(Item.objects.filter(pk__in=item_ids).values_list("pk", "name"))
    available = defaultdict(list)
    for event_id, item_id in sorted(
        set(produced) | set(consumed), key=lambda k: (k[0], names[k[1]])
    ):
        yielded = produced.get((event_id, item_id), (0, 0))[1]
        used = consumed.get((event_id, item_id), 0)
        available[event_id].append(
            ItemAvailability(
                item_id=item_id,
                item=names[item_id],
                produced_yield=yielded,
                consumed=used,
                available=yielded - used,
            )
        )
    return {
        event_id: event_figures(
            event_id=event_id,
            production=prod_rows[event_id],
            assembly=asm_rows[event_id],
            deliveries_by_status=deliveries[event_id],
            available=available[event_id],
        )
        for event_id in ids
    }
