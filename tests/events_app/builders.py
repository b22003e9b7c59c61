"""Rows for the read tests, made directly with the ORM (the write services are not needed to
read): an event, its items, bundles, targets, runs (voided or not), consumption, deliveries.
Runs are counted in the event's running totals (`events_app/services/totals.py`) as the write
services count them: the figures read those totals.

`seed_events` bulk-creates many events with the same shape, for the query-count tests.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from datetime import date, timedelta

from django.utils import timezone

from communities.models import Community
from events_app.models import (
    AssemblyConsumption,
    AssemblyRun,
    AssemblyTarget,
    Bundle,
    BundleComponent,
    Delivery,
    Event,
    Item,
    ProductionRun,
    ProductionTarget,
)
from events_app.services import totals

_batches = itertools.count(1)


def today() -> date:
    return timezone.localdate()


def event(
    community: Community,
    name: str = "Bake-along",
    *,
    starts_on: date | None = None,
    ends_on: date | None = None,
) -> Event:
    start = starts_on or today()
    return Event.objects.create(
        community=community, name=name, starts_on=start, ends_on=ends_on or start
    )


def item(community: Community, name: str = "cookies", *, yield_per_batch: int = 12) -> Item:
    return Item.objects.create(community=community, name=name, yield_per_batch=yield_per_batch)


def bundle(community: Community, name: str, components: Mapping[Item, int]) -> Bundle:
    made = Bundle.objects.create(community=community, name=name)
    BundleComponent.objects.bulk_create(
        BundleComponent(bundle=made, item=part, quantity=qty) for part, qty in components.items()
    )
    return made


def production_target(ev: Event, what: Item, batches: int) -> ProductionTarget:
    return ProductionTarget.objects.create(event=ev, item=what, target_batches=batches)


def assembly_target(ev: Event, what: Bundle, quantity: int) -> AssemblyTarget:
    return AssemblyTarget.objects.create(event=ev, bundle=what, target_quantity=quantity)


def _void(voided: bool) -> dict[str, object]:
    return {"voided_at": timezone.now(), "void_reason": "typo"} if voided else {}


def production_run(
    ev: Event, what: Item, batches: int, *, actual_yield: int | None = None, voided: bool = False
) -> ProductionRun:
    """The run, counted in the event's running totals when live, as the write service does."""
    produced = what.yield_per_batch * batches if actual_yield is None else actual_yield
    run = ProductionRun.objects.create(
        event=ev, item=what, batches=batches, actual_yield=produced, **_void(voided)
    )
    if not voided:
        totals.count_production_run(run)
    return run


def assembly_run(ev: Event, what: Bundle, quantity: int, *, voided: bool = False) -> AssemblyRun:
    """The run and what it consumed (quantity × each component), counted in the event's running
    totals when live, as the write service does."""
    run = AssemblyRun.objects.create(event=ev, bundle=what, quantity=quantity, **_void(voided))
    taken = AssemblyConsumption.objects.bulk_create(
        AssemblyConsumption(run=run, event=ev, item_id=c.item_id, quantity=quantity * c.quantity)
        for c in what.components.all()
    )
    if not voided:
        totals.count_assembly_run(run, [(c.item_id, c.quantity) for c in taken])
    return run


def delivery(ev: Event, what: Bundle, status: str = "pending", *, to: str = "Ada") -> Delivery:
    return Delivery.objects.create(event=ev, bundle=what, recipient=to, status=status)


def seed_events(
    community: Community,
    count: int,
    *,
    production_targets: int = 2,
    assembly_targets: int = 1,
    runs_per_target: int = 1,
    start: date | None = None,
) -> list[Event]:
    """`count` events, each with the same targets, runs, consumption and two deliveries."""
    first = start or today()
    tag = next(_batches)  # each call its own names: a community may be seeded again
    items = Item.objects.bulk_create(
        Item(community=community, name=f"item {tag}.{n:03}", yield_per_batch=10)
        for n in range(production_targets)
    )
    bundles = Bundle.objects.bulk_create(
        Bundle(community=community, name=f"bundle {tag}.{n:03}") for n in range(assembly_targets)
    )
    BundleComponent.objects.bulk_create(
        BundleComponent(bundle=b, item=items[0], quantity=1) for b in bundles
    )
    events = Event.objects.bulk_create(
        Event(
            community=community,
            name=f"event {tag}.{n:05}",
            starts_on=first + timedelta(days=n % 300),
            ends_on=first + timedelta(days=n % 300 + 1),
        )
        for n in range(count)
    )
    ProductionTarget.objects.bulk_create(
        ProductionTarget(event=e, item=i, target_batches=4) for e in events for i in items
    )
    AssemblyTarget.objects.bulk_create(
        AssemblyTarget(event=e, bundle=b, target_quantity=3) for e in events for b in bundles
    )
    ProductionRun.objects.bulk_create(
        ProductionRun(event=e, item=i, batches=1, actual_yield=10)
        for e in events
        for i in items
        for _ in range(runs_per_target)
    )
    runs = AssemblyRun.objects.bulk_create(
        AssemblyRun(event=e, bundle=b, quantity=1)
        for e in events
        for b in bundles
        for _ in range(runs_per_target)
    )
    AssemblyConsumption.objects.bulk_create(
        AssemblyConsumption(run=r, event_id=r.event_id, item=items[0], quantity=1) for r in runs
    )
    totals.recount([e.pk for e in events])
    if bundles:
        Delivery.objects.bulk_create(
            Delivery(event=e, bundle=bundles[0], recipient=f"r{n}", status=status)
            for e in events
            for n, status in enumerate(("pending", "delivered"))
        )
    return events
