"""The moderator console's events section in a real browser: a moderator builds an event and
records a run, and a second moderator's console follows live; a short assembly run names the
missing items; voids ask for a reason; deliveries only move forward; a plain member gets none of
these controls."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from playwright.sync_api import expect

from communities.models import Role
from events_app.models import Event
from events_app.services import catalogue, runs
from scripts.demo_pages import seed_community
from tests.browser.helpers import sign_in
from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db(transaction=True)
# A shared two-core machine can be slow: every wait is generous (a pass is still fast).
WAIT = 20_000


def open_console(page: Any, username: str, slug: str) -> None:
    sign_in(page, username, f"/c/{slug}/manage/")
    expect(page.locator("#conn")).to_have_attribute("data-state", "live", timeout=20_000)


def event_row(page: Any, name: str) -> Any:
    return page.get_by_test_id("ev-row").filter(has_text=name)


def bake_along(community: Any, *, with_bundle: bool = True) -> Event:
    """Today's bake-along: cookies (12 per batch), bracelets; a gift box = 6 cookies + 1
    bracelet; targets: 2 batches of cookies and 2 gift boxes."""
    cookies = catalogue.create_item(community, name="cookies", yield_per_batch=12, unit="cookie")
    bracelets = catalogue.create_item(community, name="bracelets")
    today = date.today()
    event = catalogue.create_event(
        community, name="Bake-along", starts_on=today, ends_on=today, status="live"
    )
    catalogue.set_production_target(community, event.pk, cookies.pk, target_batches=2)
    if with_bundle:
        box = catalogue.create_bundle(
            community, name="gift box", components={cookies.pk: 6, bracelets.pk: 1}
        )
        catalogue.set_assembly_target(community, event.pk, box.pk, target_quantity=2)
    return event


def test_a_moderator_builds_an_event_records_a_run_and_another_console_follows(
    new_page: Any,
) -> None:
    community = seed_community("events-room")
    first = MembershipFactory(community=community, role=Role.MODERATOR).user
    second = MembershipFactory(community=community, role=Role.OWNER).user
    console = new_page()
    open_console(console, first.username, community.slug)
    watcher = new_page()
    open_console(watcher, second.username, community.slug)
    expect(watcher.locator("#ev-empty")).to_be_visible(timeout=WAIT)

    # An item, made inline.
    console.locator("#ev-catalogue > summary").click()
    new_item = console.get_by_role("form", name="New item")
    new_item.get_by_label("Name").fill("cookies")
    new_item.get_by_label("Units per batch").fill("12")
    new_item.get_by_role("button", name="Add item").click()
    expect(console.locator("#ev-items")).to_contain_text(
        "cookies · 12 units per batch", timeout=WAIT
    )
    # The event: its details open at once.
    console.locator("#ev-new > summary").click()
    new_event = console.locator("#ev-new")
    new_event.get_by_label("Name").fill("Winter bake-along")
    new_event.get_by_role("button", name="Create event").click()
    row = event_row(console, "Winter bake-along")
    expect(row.get_by_role("button", name="Details of Winter bake-along")).to_have_attribute(
        "aria-expanded", "true", timeout=WAIT
    )
    target = row.get_by_role("form", name="Production target")
    target.get_by_label("Item").select_option(label="cookies")
    target.get_by_label("Batches").fill("2")
    target.get_by_role("button", name="Set production target").click()
    bar = row.get_by_test_id("ev-production-bar")
    expect(row.get_by_test_id("ev-production-figure")).to_have_text("0% · 0/1 target", timeout=WAIT)
    # The other console learns of the event from the stream (its target published figures).
    watched = event_row(watcher, "Winter bake-along").get_by_test_id("ev-production-bar")
    expect(watched).to_have_attribute("aria-valuenow", "0", timeout=WAIT)

    run = row.get_by_role("form", name="Record a production run")
    run.get_by_label("Item").select_option(label="cookies")
    run.get_by_label("Batches").fill("1")
    run.get_by_label("Made by (optional)").fill("Ann")
    run.get_by_role("button", name="Record production run").click()

    expect(bar).to_have_attribute("aria-valuenow", "50", timeout=WAIT)
    expect(watched).to_have_attribute("aria-valuenow", "50", timeout=WAIT)
    expect(row.locator("tr[data-run]")).to_contain_text("cookies: 1 batch → 12", timeout=WAIT)
    expect(row.locator(".ev-available")).to_contain_text("cookies: 12 available", timeout=WAIT)
    expect(console.locator("#announcer")).not_to_have_text("", timeout=WAIT)
    csv = row.get_by_role("link", name="Download Winter bake-along as CSV")
    event_id = Event.objects.get(name="Winter bake-along").pk
    expect(csv).to_have_attribute(
        "href", f"/api/communities/{community.slug}/events/{event_id}/progress.csv"
    )


def test_an_assembly_run_short_of_components_names_the_missing_items(new_page: Any) -> None:
    community = seed_community("short-room")
    moderator = MembershipFactory(community=community, role=Role.MODERATOR).user
    bake_along(community)
    console = new_page(390, 844)  # a phone
    open_console(console, moderator.username, community.slug)
    row = event_row(console, "Bake-along")
    expect(row.get_by_test_id("ev-assembly-figure")).to_have_text("0% · 0/1 target", timeout=WAIT)

    row.get_by_role("button", name="Details of Bake-along").click()
    assembly = row.get_by_role("form", name="Record an assembly run")
    assembly.get_by_label("Bundle", exact=True).select_option(label="gift box")
    assembly.get_by_role("button", name="Record assembly run").click()

    missing = assembly.get_by_test_id("ev-error-fields")
    expect(missing).to_contain_text("cookies: needed 6, available 0", timeout=WAIT)
    expect(missing).to_contain_text("bracelets: needed 1, available 0", timeout=WAIT)
    expect(assembly.get_by_role("alert")).to_contain_text("Not enough produced", timeout=WAIT)
    expect(row.get_by_test_id("ev-assembly-bar")).to_have_attribute(
        "aria-valuenow", "0", timeout=WAIT
    )
    # On a phone the section fits the screen: nothing in it sticks out sideways (its tables
    # scroll inside their own box).
    sticking_out = console.evaluate(
        """() => Array.from(document.querySelectorAll('#events *'))
             .filter(e => !e.closest('.table-wrap') && e.getBoundingClientRect().right > 390)
             .map(e => e.outerHTML.slice(0, 80))"""
    )
    assert sticking_out == []


def test_a_void_asks_for_a_reason_and_deliveries_only_move_forward(new_page: Any) -> None:
    community = seed_community("void-room")
    moderator = MembershipFactory(community=community, role=Role.MODERATOR).user
    event = bake_along(community)
    runs.record_production_run(community, event.pk, "cookies", batches=1, recorded_by="Ann")
    console = new_page()
    open_console(console, moderator.username, community.slug)
    row = event_row(console, "Bake-along")
    expect(row.get_by_test_id("ev-production-bar")).to_have_attribute(
        "aria-valuenow", "50", timeout=WAIT
    )
    row.get_by_role("button", name="Details of Bake-along").click()

    row.locator("tr[data-run]").get_by_role("button", name="Void").click()
    dialog = console.locator("#confirm")
    dialog.get_by_role("button", name="Void run").click()
    expect(console.locator("#confirm-error")).to_contain_text("Give a reason", timeout=WAIT)
    dialog.get_by_label("Reason").fill("counted twice")
    dialog.get_by_role("button", name="Void run").click()
    expect(dialog).to_be_hidden(timeout=WAIT)
    expect(row.get_by_test_id("ev-production-bar")).to_have_attribute(
        "aria-valuenow", "0", timeout=WAIT
    )
    expect(row.locator("tr[data-run]")).to_contain_text("Voided: counted twice", timeout=WAIT)

    delivery = row.get_by_role("form", name="New delivery")
    delivery.get_by_label("Recipient").fill("Shelter")
    delivery.get_by_role("button", name="Add delivery").click()
    ready = row.get_by_role("button", name="Mark ready: Shelter")
    delivered = row.get_by_role("button", name="Mark delivered: Shelter")
    expect(ready).to_be_enabled(timeout=WAIT)
    expect(delivered).to_be_disabled(timeout=WAIT)
    ready.click()
    expect(row.get_by_test_id("ev-delivery-status")).to_have_text("ready", timeout=WAIT)
    expect(ready).to_be_disabled(timeout=WAIT)
    delivered.click()
    expect(row.get_by_test_id("ev-delivery-status")).to_have_text("delivered", timeout=WAIT)
    expect(delivered).to_be_disabled(timeout=WAIT)
    expect(row.locator(".ev-deliveries")).to_have_text(
        "Deliveries: 0 pending · 0 ready · 1 delivered", timeout=WAIT
    )


def test_a_plain_member_gets_no_event_controls(new_page: Any) -> None:
    community = seed_community("member-room")
    member = MembershipFactory(community=community, role=Role.MEMBER).user
    event = bake_along(community, with_bundle=False)
    page = new_page()
    sign_in(page, member.username, f"/c/{community.slug}/")

    expect(page.locator("#events-list")).to_contain_text("Bake-along", timeout=WAIT)
    expect(page.get_by_role("button", name="Record production run")).to_have_count(0, timeout=WAIT)
    assert page.goto(f"/c/{community.slug}/manage/").status == 403
    runs_list = page.evaluate(
        "([s, e]) => fetch(`/api/communities/${s}/events/${e}/runs`).then(r => r.status)",
        [community.slug, event.pk],
    )
    assert runs_list == 403
