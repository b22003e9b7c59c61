"""The progress rules, read from real rows through `figures_for_events` (the one read every
list, detail, CSV and stream payload uses): 0 %, partial, exactly 100 %, over 100 %, no
targets, voided runs, items available for assembly."""

from __future__ import annotations

import pytest

from events_app.progress import target_figures
from events_app.selectors import figures_for_events
from tests.events_app import builders as b

pytestmark = pytest.mark.django_db


@pytest.fixture
def bake(community):
    ev = b.event(community, "Bake-along")
    cookies = b.item(community, "cookies", yield_per_batch=12)
    return ev, cookies


def _production(ev, what, target, runs):
    b.production_target(ev, what, target)
    for batches in runs:
        b.production_run(ev, what, batches)
    (row,) = figures_for_events([ev.pk])[ev.pk].production
    return row


def test_a_target_with_nothing_produced_is_at_zero_percent_and_not_complete(bake):
    row = _production(*bake, target=4, runs=[])
    assert (row.produced_batches, row.produced_yield, row.percent) == (0, 0, 0.0)
    assert (row.remaining, row.overage, row.complete) == (4, 0, False)


def test_a_partly_produced_target_shows_its_percent_and_what_remains(bake):
    row = _production(*bake, target=4, runs=[1])
    assert (row.produced_batches, row.produced_yield, row.percent) == (1, 12, 25.0)
    assert (row.remaining, row.overage, row.complete) == (3, 0, False)


def test_a_target_produced_exactly_is_complete_at_100_percent_with_nothing_over(bake):
    row = _production(*bake, target=4, runs=[1, 3])
    assert (row.percent, row.remaining, row.overage, row.complete) == (100.0, 0, 0, True)


def test_overproduction_is_uncapped_in_percent_and_counted_as_overage(bake):
    row = _production(*bake, target=4, runs=[3, 3])
    assert (row.percent, row.remaining, row.overage, row.complete) == (150.0, 0, 2, True)


def test_the_kind_percent_caps_each_target_so_an_overshoot_never_hides_a_shortfall(community):
    ev = b.event(community)
    over, short = b.item(community, "cookies"), b.item(community, "bracelets")
    b.production_target(ev, over, 2)
    b.production_target(ev, short, 2)
    b.production_run(ev, over, 6)  # 300 %
    figures = figures_for_events([ev.pk])[ev.pk]
    assert figures.production_summary.percent == 50.0  # (100 + 0) / 2, not (300 + 0) / 2
    assert figures.production_summary.status == "in_progress"
    assert (figures.complete, figures.status) == (False, "in_progress")


def test_an_event_without_targets_is_none_of_each_kind_and_never_complete(community):
    ev = b.event(community)
    figures = figures_for_events([ev.pk])[ev.pk]
    assert figures.production_summary.status == "none"
    assert figures.assembly_summary.status == "none"
    assert (figures.status, figures.complete) == ("none", False)
    assert figures.deliveries == {"pending": 0, "ready": 0, "delivered": 0, "total": 0}


def test_the_event_is_complete_only_when_every_target_of_both_kinds_is(community):
    ev = b.event(community)
    cookies = b.item(community, "cookies")
    box = b.bundle(community, "gift box", {cookies: 6})
    b.production_target(ev, cookies, 1)
    b.assembly_target(ev, box, 2)
    b.production_run(ev, cookies, 1)  # 12 cookies: production complete
    b.assembly_run(ev, box, 1)
    half = figures_for_events([ev.pk])[ev.pk]
    assert half.production_summary.status == "complete"
    assert half.assembly_summary.status == "in_progress"
    assert (half.complete, half.status) == (False, "in_progress")
    b.assembly_run(ev, box, 1)
    done = figures_for_events([ev.pk])[ev.pk]
    assert (done.complete, done.status) == (True, "complete")
    assert done.assembly[0].assembled == 2


def test_a_voided_run_counts_for_nothing_in_progress_or_availability(community):
    ev = b.event(community)
    cookies = b.item(community, "cookies", yield_per_batch=12)
    box = b.bundle(community, "gift box", {cookies: 6})
    b.production_target(ev, cookies, 2)
    b.assembly_target(ev, box, 1)
    b.production_run(ev, cookies, 1)
    b.production_run(ev, cookies, 5, voided=True)
    b.assembly_run(ev, box, 1, voided=True)
    figures = figures_for_events([ev.pk])[ev.pk]
    assert (figures.production[0].produced_batches, figures.production[0].produced_yield) == (1, 12)
    assert figures.assembly[0].assembled == 0
    (cookie_stock,) = figures.available
    assert (cookie_stock.produced_yield, cookie_stock.consumed, cookie_stock.available) == (
        12,
        0,
        12,
    )


def test_available_is_the_produced_yield_less_what_assembly_consumed_per_item(community):
    ev = b.event(community)
    cookies = b.item(community, "cookies", yield_per_batch=12)
    bracelets = b.item(community, "bracelets", yield_per_batch=5)
    box = b.bundle(community, "gift box", {cookies: 6, bracelets: 1})
    b.production_run(ev, cookies, 2, actual_yield=20)  # actual yield, not 2 × 12
    b.production_run(ev, bracelets, 1)
    b.assembly_run(ev, box, 3)
    stock = {
        a.item: (a.produced_yield, a.consumed, a.available)
        for a in figures_for_events([ev.pk])[ev.pk].available
    }
    assert stock == {"cookies": (20, 18, 2), "bracelets": (5, 3, 2)}


def test_delivery_counts_by_status_add_up_to_the_total(community):
    ev = b.event(community)
    box = b.bundle(community, "gift box", {b.item(community): 1})
    for status in ("pending", "pending", "ready", "delivered"):
        b.delivery(ev, box, status)
    figures = figures_for_events([ev.pk])[ev.pk]
    assert figures.deliveries == {"pending": 2, "ready": 1, "delivered": 1, "total": 4}


def test_figures_keep_events_apart_and_answer_every_id_asked(community):
    first, second = b.event(community, "first"), b.event(community, "second")
    cookies = b.item(community)
    b.production_target(first, cookies, 1)
    b.production_target(second, cookies, 1)
    b.production_run(first, cookies, 1)
    figures = figures_for_events([first.pk, second.pk, 987654])
    assert figures[first.pk].complete and not figures[second.pk].complete
    assert figures[987654].status == "none"
    assert figures_for_events([]) == {}


@pytest.mark.parametrize(
    ("target", "done", "percent", "remaining", "overage", "complete"),
    [
        (4, 0, 0.0, 4, 0, False),
        (3, 1, 33.33, 2, 0, False),
        (4, 4, 100.0, 0, 0, True),
        (4, 6, 150.0, 0, 2, True),
    ],
)
def test_the_target_formula(target, done, percent, remaining, overage, complete):
    f = target_figures(target, done)
    assert (f.percent, f.remaining, f.overage, f.complete) == (
        percent,
        remaining,
        overage,
        complete,
    )


def test_stock_consumed_then_voided_from_production_shows_negative_instead_of_vanishing(community):
    ev = b.event(community)
    cookies = b.item(community, "cookies", yield_per_batch=12)
    box = b.bundle(community, "gift box", {cookies: 6})
    b.production_run(ev, cookies, 1, voided=True)  # voided after the box took its cookies
    b.assembly_run(ev, box, 1)
    (stock,) = figures_for_events([ev.pk])[ev.pk].available
    assert (stock.produced_yield, stock.consumed, stock.available) == (0, 6, -6)
