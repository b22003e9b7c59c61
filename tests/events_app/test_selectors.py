"""The list of events: `when`, the `from`/`to` range and their validation, the order, the
cursor pages, and the caller's own transaction."""

from __future__ import annotations

import gc
from datetime import timedelta

import pytest
from django.core import signing
from django.db import transaction

from communities.errors import InvalidInput, NotFound
from events_app import selectors
from events_app.selectors import event_detail, list_events
from tests.events_app import builders as b
from tests.factories import CommunityFactory

pytestmark = pytest.mark.django_db

DAY = timedelta(days=1)


def _names(page):
    return [e.name for e in page.events]


@pytest.fixture
def calendar(community):
    """Yesterday's event, one running today (began yesterday), tomorrow's, next week's."""
    t = b.today()
    b.event(community, "ended yesterday", starts_on=t - 3 * DAY, ends_on=t - DAY)
    b.event(community, "running", starts_on=t - DAY, ends_on=t + DAY)
    b.event(community, "tomorrow", starts_on=t + DAY)
    b.event(community, "next week", starts_on=t + 7 * DAY, ends_on=t + 8 * DAY)
    return community


def test_upcoming_is_the_default_and_keeps_every_event_not_yet_ended(calendar):
    assert _names(list_events(calendar)) == ["running", "tomorrow", "next week"]


def test_an_event_ending_today_is_still_upcoming_and_not_past(community):
    b.event(community, "today", starts_on=b.today() - DAY, ends_on=b.today())
    assert _names(list_events(community, when="upcoming")) == ["today"]
    assert _names(list_events(community, when="past")) == []


def test_past_keeps_events_ended_before_today_and_all_keeps_everything(calendar):
    assert _names(list_events(calendar, when="past")) == ["ended yesterday"]
    assert len(list_events(calendar, when="all").events) == 4


def test_from_and_to_keep_the_events_taking_place_on_any_day_of_the_range_inclusive(calendar):
    t = b.today()
    # [tomorrow, tomorrow]: "running" (until tomorrow) and "tomorrow" overlap it.
    page = list_events(calendar, when="all", date_from=t + DAY, date_to=t + DAY)
    assert _names(page) == ["running", "tomorrow"]
    # Ends exactly on `from`, starts exactly on `to`: both inclusive.
    assert _names(list_events(calendar, when="all", date_from=t - DAY, date_to=t - DAY)) == [
        "ended yesterday",
        "running",
    ]
    assert _names(list_events(calendar, when="all", date_to=t - 2 * DAY)) == ["ended yesterday"]
    assert _names(list_events(calendar, when="all", date_from=t + 8 * DAY)) == ["next week"]


def test_the_range_combines_with_when(calendar):
    t = b.today()
    page = list_events(calendar, when="upcoming", date_from=t - 5 * DAY, date_to=t)
    assert _names(page) == ["running"]


def test_from_after_to_is_refused_naming_both(community):
    with pytest.raises(InvalidInput) as refused:
        list_events(community, date_from=b.today(), date_to=b.today() - DAY)
    assert set(refused.value.fields or {}) == {"from", "to"}


def test_an_unknown_when_is_refused(community):
    with pytest.raises(InvalidInput) as refused:
        list_events(community, when="soon")
    assert "when" in (refused.value.fields or {})


def test_events_are_ordered_by_start_date_then_name_then_id(community):
    t = b.today()
    b.event(community, "b", starts_on=t + DAY)
    b.event(community, "a", starts_on=t + 2 * DAY)
    b.event(community, "c", starts_on=t)
    b.event(community, "a", starts_on=t + DAY)
    assert _names(list_events(community)) == ["c", "a", "b", "a"]


def test_pages_walk_every_event_once_in_order_and_end_with_a_null_cursor(community):
    t = b.today()
    made = [b.event(community, f"e{n % 4}", starts_on=t + (n % 3) * DAY) for n in range(12)]
    expected = sorted(made, key=lambda e: (e.starts_on, e.name, e.pk))
    seen, cursor, pages = [], None, 0
    while True:
        page = list_events(community, cursor=cursor, limit=5)
        pages += 1
        seen += [e.id for e in page.events]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert pages == 3
    assert seen == [e.pk for e in expected]


def test_a_page_that_ends_exactly_at_the_last_event_has_no_next_cursor(community):
    for n in range(4):
        b.event(community, f"e{n}")
    assert list_events(community, limit=4).next_cursor is None
    first = list_events(community, limit=2)
    assert first.next_cursor is not None
    assert list_events(community, limit=2, cursor=first.next_cursor).next_cursor is None


def test_a_tampered_or_foreign_cursor_is_refused(community):
    b.event(community, "a")
    b.event(community, "b")
    cursor = list_events(community, limit=1).next_cursor
    assert cursor is not None
    forged = signing.dumps(["2020-01-01", "a", 1], salt="another purpose")
    for bad in (cursor[:-2] + ("AA" if not cursor.endswith("AA") else "BB"), "garbage", forged):
        with pytest.raises(InvalidInput) as refused:
            list_events(community, cursor=bad)
        assert "cursor" in (refused.value.fields or {})


def test_a_list_shows_only_its_own_communitys_events(community):
    b.event(community, "ours")
    b.event(CommunityFactory(), "theirs")
    assert _names(list_events(community)) == ["ours"]


def test_detail_of_another_communitys_event_is_not_found(community):
    theirs = b.event(CommunityFactory(), "theirs")
    with pytest.raises(NotFound):
        event_detail(community, theirs.pk)
    with pytest.raises(NotFound):
        event_detail(community, 2**70)


def test_a_caller_in_its_own_transaction_sees_its_own_uncommitted_runs(community):
    ev = b.event(community)
    cookies = b.item(community)
    b.production_target(ev, cookies, 2)
    with transaction.atomic():
        b.production_run(ev, cookies, 2)  # not committed yet
        (listed,) = list_events(community).events
        detail = event_detail(community, ev.pk)
        assert listed.figures.complete and detail.figures.complete
        assert listed.figures.production[0].produced_batches == 2
        transaction.set_rollback(True)
    assert not event_detail(community, ev.pk).figures.complete


def test_building_figures_pauses_the_collector_and_restores_it_as_found(calendar, monkeypatch):
    """The figures are built with the cyclic collector held off (docs/benchmarks.md); after a
    read, and after a read that failed, the collector is as the caller left it."""
    seen: list[bool] = []
    real_rows = selectors.figure_rows

    def spying_rows(ids):
        seen.append(gc.isenabled())
        return real_rows(ids)

    monkeypatch.setattr(selectors, "figure_rows", spying_rows)
    assert gc.isenabled()
    assert len(list_events(calendar, when="all").events) == 4
    assert seen == [False]
    assert gc.isenabled()

    gc.disable()
    try:
        list_events(calendar, when="all")
        assert not gc.isenabled()  # a caller that had it off keeps it off
    finally:
        gc.enable()

    def failing_rows(ids):
        raise RuntimeError("boom")

    monkeypatch.setattr(selectors, "figure_rows", failing_rows)
    with pytest.raises(RuntimeError):
        selectors.figures_for_events([1])
    assert gc.isenabled()
