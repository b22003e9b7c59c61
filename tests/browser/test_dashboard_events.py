"""The dashboard's events panel in a real browser: the events API's figures, moved live by a
bot's production run on the `events` topic, completions announced, past events apart."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from scripts.demo_pages import seed_community
from tests.browser.helpers import open_dashboard
from tests.factories import issue_token

pytestmark = pytest.mark.django_db(transaction=True)

RECORD_RUN = """async ([slug, secret, eventId, batches]) => {
  const t0 = performance.now();
  const r = await fetch(`/api/communities/${slug}/events/${eventId}/production-runs`, {
    method: 'POST',
    headers: {'Authorization': 'Bearer ' + secret, 'Content-Type': 'application/json'},
    body: JSON.stringify({item: 'cookies', batches, recorded_by: 'twitch:ann',
                          client_run_id: 'run-' + Math.random()}),
  });
  return {t0, status: r.status};
}"""


def bake_along(community: Any, *, days_from_today: int = 0, name: str = "Bake-along") -> Any:
    """A live event around today (or `days_from_today` away) with 4 batches of cookies and 2
    gift boxes to make and one delivery planned."""
    from events_app.services import catalogue, deliveries

    start = timezone.localdate() + timedelta(days=days_from_today)
    event = catalogue.create_event(
        community, name=name, starts_on=start, ends_on=start + timedelta(days=2), status="live"
    )
    from events_app.models import Item

    if not Item.objects.filter(community=community, name="cookies").exists():
        catalogue.create_item(community, name="cookies", yield_per_batch=12, unit="cookie")
        catalogue.create_bundle(community, name="gift box", components={"cookies": 6})
    catalogue.set_production_target(community, event.pk, "cookies", target_batches=4)
    catalogue.set_assembly_target(community, event.pk, "gift box", target_quantity=2)
    deliveries.create_delivery(community, event.pk, recipient="Shelter", bundle_ref="gift box")
    return event


def test_a_recorded_production_run_moves_the_events_bar_within_one_second(page: Any) -> None:
    community = seed_community("events-live")
    event = bake_along(community)
    secret = issue_token(community, "ingest").secret
    open_dashboard(page, community.slug)
    panel = page.get_by_test_id("events")
    cookies = panel.locator(".ev-target", has_text="cookies")
    expect(cookies).to_contain_text("0 / 4 batches · 0 %")
    expect(panel).to_contain_text("Deliveries: 1 pending · 0 ready · 0 delivered")
    page.evaluate(
        """() => {
          window.__moved = null;
          const fill = () => [...document.querySelectorAll('#events-list .ev-target')]
            .find(li => li.textContent.includes('cookies')).querySelector('.fill');
          const started = fill().style.width;
          const watch = new MutationObserver(() => {
            if (window.__moved === null && fill().style.width !== started) window.__moved = performance.now();
          });
          watch.observe(document.getElementById('events-list'), {subtree: true, childList: true, attributes: true});
        }"""
    )
    posted = page.evaluate(RECORD_RUN, [community.slug, secret, event.pk, 1])
    assert posted["status"] == 201, posted
    page.wait_for_function("window.__moved !== null", timeout=10_000)
    elapsed_ms = page.evaluate("window.__moved") - posted["t0"]
    assert elapsed_ms < 1000, f"the events bar moved {elapsed_ms:.0f} ms after the run"
    expect(cookies).to_contain_text("1 / 4 batches · 25 %")
    bar = cookies.get_by_role("progressbar")
    expect(bar).to_have_attribute("aria-valuenow", "25")
    # Over the goal: the label says the API's uncapped percent, the bar stops at 100 %.
    posted = page.evaluate(RECORD_RUN, [community.slug, secret, event.pk, 5])
    assert posted["status"] == 201, posted
    expect(cookies).to_contain_text("6 / 4 batches · 150 %")
    expect(bar).to_have_attribute("aria-valuenow", "100")
    assert cookies.locator(".fill").evaluate("e => e.style.width") == "100%"
    expect(cookies).to_contain_text("done")
    expect(page.locator("#announcer")).to_contain_text("the cookies target is reached")
    # The event is complete only when the assembly target is too.
    expect(panel.get_by_test_id("ev-complete")).to_have_count(0)


def test_an_event_completing_is_announced_and_badged(page: Any) -> None:
    from events_app.services import runs

    community = seed_community("events-complete")
    event = bake_along(community)
    open_dashboard(page, community.slug)
    panel = page.get_by_test_id("events")
    expect(panel.locator(".ev")).to_have_count(1)
    runs.record_production_run(community, event.pk, "cookies", batches=4)
    runs.record_assembly_run(community, event.pk, "gift box", quantity=2)
    expect(panel.get_by_test_id("ev-complete")).to_have_text("✓ Complete")
    expect(page.locator("#announcer")).to_contain_text("Bake-along is complete")
    expect(panel.locator(".ev-target", has_text="gift box")).to_contain_text(
        "2 / 2 assembled · 100 %"
    )


def test_past_events_are_behind_their_tab_and_an_empty_period_says_so(page: Any) -> None:
    community = seed_community("events-periods")
    bake_along(community, days_from_today=-10, name="Autumn drive")
    open_dashboard(page, community.slug)
    panel = page.get_by_test_id("events")
    expect(panel.locator("#events-empty")).to_contain_text("No upcoming events")
    expect(panel.locator(".ev")).to_have_count(0)
    panel.get_by_role("button", name="Past").click()
    expect(panel.get_by_role("button", name="Past")).to_have_attribute("aria-pressed", "true")
    expect(panel.locator(".ev")).to_have_count(1)
    expect(panel.locator(".ev")).to_contain_text("Autumn drive")
    expect(panel.locator("#events-empty")).to_be_hidden()
    # A new upcoming event arrives on the stream while "Past" is shown: not listed there.
    bake_along(community, name="Winter drive")
    panel.get_by_role("button", name="Upcoming").click()
    expect(panel.locator(".ev")).to_have_count(1)
    expect(panel.locator(".ev")).to_contain_text("Winter drive")


def test_an_event_created_while_the_page_is_open_appears(page: Any) -> None:
    community = seed_community("events-new")
    open_dashboard(page, community.slug)
    panel = page.get_by_test_id("events")
    expect(panel.locator("#events-empty")).to_be_visible()
    bake_along(community)
    expect(panel.locator(".ev")).to_have_count(1, timeout=10_000)
    expect(panel.locator(".ev-target", has_text="cookies")).to_contain_text("0 / 4 batches")


def test_a_private_communitys_member_sees_its_events_live_and_may_suggest(new_page: Any) -> None:
    from communities.models import Role
    from events_app.services import runs
    from tests.browser.helpers import sign_in
    from tests.factories import MembershipFactory, UserFactory

    community = seed_community("events-private", visibility="private")
    event = bake_along(community)
    member = UserFactory()
    MembershipFactory(user=member, community=community, role=Role.MEMBER)
    page = new_page()
    sign_in(page, member.username, f"/c/{community.slug}/")
    open_dashboard(page, community.slug)
    cookies = page.get_by_test_id("events").locator(".ev-target", has_text="cookies")
    expect(cookies).to_contain_text("0 / 4 batches")
    runs.record_production_run(community, event.pk, "cookies", batches=2)
    expect(cookies).to_contain_text("2 / 4 batches · 50 %")
    expect(page.get_by_test_id("suggest").get_by_label("Your suggestion")).to_be_visible()
