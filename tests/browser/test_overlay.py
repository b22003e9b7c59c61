"""The OBS overlay in a real browser: a burst of unlocks shown one by one, in order; a private
community's overlay with its key, stopped when the owner revokes the key in the console."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from communities.models import Role
from scripts.demo_pages import seed_community
from tests.browser.helpers import sign_in
from tests.factories import MembershipFactory, issue_token

pytestmark = pytest.mark.django_db(transaction=True)

ALERT_SECONDS = 1.5
LIVE = ".ov-root[data-stream='open']"

# Records, inside the page, every alert as it appears and disappears (name, times).
WATCH_ALERTS = """() => {
  window.__alerts = [];
  const box = document.getElementById('ov-alert');
  const name = document.getElementById('ov-alert-name');
  new MutationObserver(() => {
    const now = performance.now();
    const last = window.__alerts[window.__alerts.length - 1];
    if (!box.hidden && (!last || last.hidden !== null)) {
      window.__alerts.push({name: name.textContent, shown: now, hidden: null});
    } else if (box.hidden && last && last.hidden === null) {
      last.hidden = now;
    }
  }).observe(box, {attributes: true, attributeFilter: ['hidden'], childList: true, subtree: true});
}"""

# Three force-unlocks posted back to back from the page (a bot with an admin token).
UNLOCK_THREE = """async ([slug, secret, keys]) => {
  const statuses = [];
  for (const key of keys) {
    const r = await fetch(`/api/communities/${slug}/nodes/${key}/force-unlock`, {
      method: 'POST',
      headers: {'Authorization': 'Bearer ' + secret, 'Content-Type': 'application/json'},
      body: JSON.stringify({ignore_prerequisites: true}),
    });
    statuses.push(r.status);
  }
  return statuses;
}"""


def test_the_overlay_shows_each_of_three_quick_unlocks_in_order_each_for_its_turn(
    page: Any,
) -> None:
    community = seed_community("burst-club")
    secret = issue_token(community, "admin").secret
    page.set_viewport_size({"width": 1920, "height": 1080})
    page.goto(f"/c/{community.slug}/overlay/?alert_seconds={ALERT_SECONDS}")
    page.wait_for_selector(LIVE, timeout=20_000)
    tree = page.evaluate(f"fetch('/api/communities/{community.slug}/tree').then(r => r.json())")
    chosen = [n for n in tree["nodes"] if n["state"] != "target" and n["level"] == 0][:3]
    page.evaluate(WATCH_ALERTS)

    statuses = page.evaluate(UNLOCK_THREE, [community.slug, secret, [n["key"] for n in chosen]])

    assert statuses == [200, 200, 200]
    page.wait_for_function(
        "window.__alerts.length === 3 && window.__alerts[2].hidden !== null", timeout=30_000
    )
    alerts = page.evaluate("window.__alerts")
    assert [a["name"] for a in alerts] == [n["name"] for n in chosen]
    for alert in alerts:  # each stayed for its whole turn, none cut short by the next
        assert alert["hidden"] - alert["shown"] >= ALERT_SECONDS * 1000 * 0.9, alerts
    for earlier, later in zip(alerts, alerts[1:], strict=False):
        assert later["shown"] >= earlier["hidden"], alerts
    expect(page.locator("#ov-alert")).to_be_hidden()


def test_the_overlay_is_transparent_and_shows_the_vote_with_its_chat_hint(page: Any) -> None:
    community = seed_community("vote-club", open_vote=True)
    page.set_viewport_size({"width": 1920, "height": 1080})
    page.goto(f"/c/{community.slug}/overlay/?position=bottom-left&accent=%23ff0066")
    page.wait_for_selector(LIVE, timeout=20_000)

    expect(page.locator("#ov-vote")).to_be_visible()
    expect(page.locator("#ov-options li").first).to_contain_text("!vote 1")
    expect(page.locator("#ov-countdown")).not_to_be_empty()
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background in ("rgba(0, 0, 0, 0)", "transparent")
    accent = page.evaluate(
        "getComputedStyle(document.querySelector('.ov-root')).getPropertyValue('--ov-accent')"
    )
    assert accent.strip() == "#ff0066"


def test_a_private_overlay_works_with_its_key_and_stops_when_the_owner_revokes_it(
    new_page: Any,
) -> None:
    community = seed_community("hidden-stream", visibility="private")
    owner = MembershipFactory(community=community, role=Role.OWNER).user
    console = new_page()
    sign_in(console, owner.username, f"/c/{community.slug}/manage/")
    expect(console.locator("#conn")).to_have_attribute("data-state", "live", timeout=20_000)

    # The owner creates a key: its URL is shown once, with a copy button.
    console.get_by_test_id("overlay-keys").get_by_label("Name").fill("OBS main scene")
    console.get_by_role("button", name="Create overlay key").click()
    secret_box = console.locator("#key-secret")
    expect(secret_box).to_be_visible()
    expect(secret_box.get_by_role("button", name="Copy")).to_be_visible()
    overlay_url = secret_box.locator("code").inner_text()
    assert "/overlay/?key=ok_" in overlay_url

    obs = new_page(1920, 1080)
    assert obs.goto(f"/c/{community.slug}/overlay/").status == 404  # no key: unknown
    assert obs.goto(overlay_url).status == 200
    obs.wait_for_selector(LIVE, timeout=20_000)
    expect(obs.locator("#ov-target")).not_to_have_text("…")

    # Revoked in the console: the open overlay stops within seconds, and a reload is a 404.
    console.locator("#keys li", has_text="OBS main scene").get_by_role("button").click()
    console.locator("#confirm-ok").click()
    expect(console.locator("#keys li", has_text="OBS main scene")).to_contain_text("revoked")
    expect(obs.locator(".ov-root")).to_have_attribute("data-stream", "stopped", timeout=10_000)
    expect(obs.locator(".ov-root")).to_be_hidden()
    assert obs.goto(overlay_url).status == 404
