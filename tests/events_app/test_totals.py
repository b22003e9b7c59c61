"""The running totals the figures read (`events_app/services/totals.py`) stay equal to the sums
of the live runs they stand for: after random writes and voids through the services, with
writers racing on PostgreSQL, after a run written around the services, and when rebuilt by
`recount` or by the migration's backfill.
"""

from __future__ import annotations

import importlib
import logging
import random
from collections import defaultdict
from collections.abc import Sequence
from datetime import date

import pytest
from django.db import connection
from django.db.models import Count, Sum

from communities.errors import Conflict
from events_app.models import (
    AssemblyConsumption,
    AssemblyRun,
    Bundle,
    Event,
    EventBundleTotals,
    EventItemTotals,
    Item,
    ProductionRun,
)
from events_app.selectors import figures_for_events
from events_app.services import catalogue, runs, totals
from tests.progression.concurrency_helpers import run_concurrently

Sums = dict[tuple[str, int, int], tuple[int, ...]]


def sums_of_runs(event_ids: Sequence[int]) -> Sums:
    """What the totals must hold, summed from the live runs (rows of zeros left out)."""
    found: dict[tuple[str, int, int], list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0])
    produced = (
        ProductionRun.objects.filter(event_id__in=event_ids, voided_at__isnull=True)
        .values_list("event_id", "item_id")
        .annotate(Count("id"), Sum("batches"), Sum("actual_yield"))
    )
    for event_id, item_id, n, batches, produced_yield in produced:
        found[("item", event_id, item_id)][0:3] = [n, batches, produced_yield]
    consumed = (
        AssemblyConsumption.objects.filter(event_id__in=event_ids, run__voided_at__isnull=True)
        .values_list("event_id", "item_id")
        .annotate(Count("id"), Sum("quantity"))
    )
    for event_id, item_id, n, quantity in consumed:
        found[("item", event_id, item_id)][3:5] = [n, quantity]
    assembled = (
        AssemblyRun.objects.filter(event_id__in=event_ids, voided_at__isnull=True)
        .values_list("event_id", "bundle_id")
        .annotate(Count("id"), Sum("quantity"))
    )
    for event_id, bundle_id, n, quantity in assembled:
        found[("bundle", event_id, bundle_id)] = [n, quantity]
    return {key: tuple(values) for key, values in found.items()}


def stored_totals(event_ids: Sequence[int]) -> Sums:
    found: Sums = {}
    for t in EventItemTotals.objects.filter(event_id__in=event_ids):
        values = (
            t.production_runs,
            t.produced_batches,
            t.produced_yield,
            t.consumptions,
            t.consumed,
        )
        if any(values):
            found[("item", t.event_id, t.item_id)] = values
    for b in EventBundleTotals.objects.filter(event_id__in=event_ids):
        if b.assembly_runs or b.assembled:
            found[("bundle", b.event_id, b.bundle_id)] = (b.assembly_runs, b.assembled)
    return found


def _second_event(community) -> Event:
    return catalogue.create_event(
        community,
        name="Spring",
        starts_on=date(2027, 3, 1),
        ends_on=date(2027, 3, 2),
        status="live",
    )


def _random_write(rng: random.Random, community, events, items, box) -> None:
    """One write through the services: a run, an assembly, or a void; refusals are part of it."""
    event = rng.choice(events)
    roll = rng.random()
    try:
        if roll < 0.4:
            item = rng.choice(items)
            runs.record_production_run(community, event.pk, item.pk, batches=rng.randint(1, 4))
        elif roll < 0.7:
            runs.record_assembly_run(community, event.pk, box.pk, quantity=rng.randint(1, 2))
        elif roll < 0.85:
            live = list(
                ProductionRun.objects.filter(event=event, voided_at__isnull=True).values_list(
                    "pk", flat=True
                )
            )
            if live:
                runs.void_production_run(community, event.pk, rng.choice(live), reason="typo")
        else:
            live = list(
                AssemblyRun.objects.filter(event=event, voided_at__isnull=True).values_list(
                    "pk", flat=True
                )
            )
            if live:
                runs.void_assembly_run(community, event.pk, rng.choice(live), reason="typo")
    except Conflict:
        pass  # short of yield, or a void that would leave less than was consumed


@pytest.mark.django_db
def test_totals_equal_the_live_runs_after_random_writes_and_voids(
    community, event, cookies: Item, bracelets: Item, gift_box: Bundle
):
    events = [event, _second_event(community)]
    ids = [e.pk for e in events]
    rng = random.Random(8)  # noqa: S311 - a reproducible sequence, not a secret
    for step in range(150):
        _random_write(rng, community, events, [cookies, bracelets], gift_box)
        if step % 15 == 14:
            assert stored_totals(ids) == sums_of_runs(ids), f"after step {step}"
    assert AssemblyRun.objects.filter(voided_at__isnull=False).exists()  # voids did happen
    assert ProductionRun.objects.filter(voided_at__isnull=False).exists()
    figures = figures_for_events(ids)
    for ev in events:  # the stock the figures show is what the assembly guard counts
        shown = {a.item_id: a.available for a in figures[ev.pk].available}
        assert shown == {
            k: v
            for k, v in runs.available_yield(ev, [cookies.pk, bracelets.pk]).items()
            if k in shown
        }


@pytest.mark.django_db
def test_an_item_whose_runs_are_all_voided_leaves_the_stock(community, event, cookies: Item):
    run = runs.record_production_run(community, event.pk, cookies.pk, batches=1).run
    assert [a.item for a in figures_for_events([event.pk])[event.pk].available] == ["cookies"]
    runs.void_production_run(community, event.pk, run.pk, reason="typo")
    figures = figures_for_events([event.pk])[event.pk]
    assert figures.available == ()
    assert figures.production[0].produced_batches == 0


@pytest.mark.django_db
def test_a_run_written_around_the_services_is_recounted_when_voided(
    community, event, cookies: Item, caplog
):
    runs.record_production_run(community, event.pk, cookies.pk, batches=1)
    EventItemTotals.objects.filter(event=event).delete()  # as if never counted
    stray = ProductionRun.objects.create(event=event, item=cookies, batches=2, actual_yield=24)
    with caplog.at_level(logging.ERROR, logger="events_app.services.totals"):
        runs.void_production_run(community, event.pk, stray.pk, reason="typo")
    assert "recounting" in caplog.text
    assert stored_totals([event.pk]) == sums_of_runs([event.pk])
    assert figures_for_events([event.pk])[event.pk].production[0].produced_batches == 1


@pytest.mark.django_db
def test_recount_and_the_migration_backfill_rebuild_the_same_totals(
    community, event, cookies: Item, bracelets: Item, gift_box: Bundle
):
    events = [event, _second_event(community)]
    ids = [e.pk for e in events]
    rng = random.Random(3)  # noqa: S311 - a reproducible sequence, not a secret
    for _ in range(60):
        _random_write(rng, community, events, [cookies, bracelets], gift_box)
    expected = sums_of_runs(ids)
    assert stored_totals(ids) == expected

    totals.recount(ids)
    assert stored_totals(ids) == expected

    migration = importlib.import_module("events_app.migrations.0002_running_totals")
    EventItemTotals.objects.all().delete()
    EventBundleTotals.objects.all().delete()
    with connection.cursor() as cursor:
        cursor.execute(migration.FILL_ITEMS)
        cursor.execute(migration.FILL_BUNDLES)
    assert stored_totals(ids) == expected


@pytest.mark.real_services
@pytest.mark.django_db(transaction=True)
def test_totals_stay_equal_to_the_runs_with_concurrent_writers(community):
    """Six clients, each on its own connection, write and void at random on two events at
    once; every total still equals its runs' sum (the event lock serializes each event's)."""
    cookies = catalogue.create_item(community, name="cookies", yield_per_batch=12)
    bracelets = catalogue.create_item(community, name="bracelets", yield_per_batch=1)
    box = catalogue.create_bundle(
        community, name="box", components={cookies.pk: 6, bracelets.pk: 1}
    )
    events = [
        catalogue.create_event(
            community,
            name=name,
            starts_on=date(2026, 12, 1),
            ends_on=date(2026, 12, 2),
            status="live",
        )
        for name in ("North", "South")
    ]
    ids = [e.pk for e in events]

    def client(seed: int) -> int:
        rng = random.Random(seed)  # noqa: S311 - a reproducible sequence, not a secret
        for _ in range(25):
            _random_write(rng, community, events, [cookies, bracelets], box)
        return seed

    ran = run_concurrently([lambda s=s: client(s) for s in range(6)])
    errors = [r.error for r in ran if r.error is not None]
    assert not errors, errors[0]
    assert ProductionRun.objects.filter(event_id__in=ids).count() > 10
    assert stored_totals(ids) == sums_of_runs(ids)
