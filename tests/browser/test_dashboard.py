"""The viewer dashboard in a real browser: live progress, the tree graph, recent unlocks."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from scripts.demo_pages import generated_tree, seed_community
from tests.browser.helpers import open_dashboard, post_engagement_from_page
from tests.factories import issue_token

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_posted_engagement_event_moves_the_bar_within_one_second(page: Any) -> None:
    community = seed_community("bar-moves")
    secret = issue_token(community, "ingest").secret
    open_dashboard(page, community.slug)
    before = page.locator("#numbers").inner_text()
    # Watch the bar from inside the page: the time from the POST to its repaint.
    page.evaluate(
        """(before) => {
          window.__moved = null;
          const el = document.getElementById('numbers');
          new MutationObserver((_, obs) => {
            if (el.textContent !== before) { window.__moved = performance.now(); obs.disconnect(); }
          }).observe(el, {childList: true, characterData: true, subtree: true});
        }""",
        before,
    )
    posted = post_engagement_from_page(page, community.slug, secret, 3)
    assert posted["status"] == 200, posted
    page.wait_for_function("window.__moved !== null", timeout=10_000)
    elapsed_ms = page.evaluate("window.__moved") - posted["t0"]
    assert elapsed_ms < 1000, f"the bar moved {elapsed_ms:.0f} ms after the post"
    cost = page.evaluate("window.PHDashboard.state.progress.cost")
    expect(page.locator("#numbers")).to_contain_text(f"3 / {cost} points")
    assert page.locator("#bar").get_attribute("aria-valuenow") == str(round(300 / cost))
    width = page.locator("#bar-fill").evaluate("e => parseFloat(e.style.width)")
    assert width == pytest.approx(300 / cost, abs=0.01)


def test_a_200_node_tree_is_drawn_readably_and_a_node_opens_its_details(page: Any) -> None:
    community = seed_community("big-tree", tree=generated_tree(200))
    page.set_viewport_size({"width": 1920, "height": 1080})
    open_dashboard(page, community.slug)
    nodes = page.locator(".tnode")
    expect(nodes).to_have_count(200)
    report = page.evaluate(
        """() => {
          const boxes = [...document.querySelectorAll('.tnode')].map(b => b.getBoundingClientRect());
          let overlaps = 0;
          for (let i = 0; i < boxes.length; i++) for (let j = i + 1; j < boxes.length; j++) {
            const a = boxes[i], b = boxes[j];
            if (a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom) overlaps++;
          }
          const tooSmall = boxes.filter(b => b.width < 120 || b.height < 40).length;
          const fontPx = parseFloat(getComputedStyle(document.querySelector('.tnode .tname')).fontSize);
          return {overlaps, tooSmall, fontPx, edges: document.querySelectorAll('.tree-edges .edge').length,
                  columns: new Set(boxes.map(b => Math.round(b.left + document.getElementById('tree').scrollLeft))).size};
        }"""
    )
    assert report["overlaps"] == 0, report
    assert report["tooSmall"] == 0, report
    assert report["fontPx"] >= 12, report
    assert report["columns"] == 10, report  # one column per tier
    assert report["edges"] >= 180, report  # every node past tier 0 has 1 to 3 prerequisites
    # Exactly one node is the target; the legend names every state.
    expect(page.locator(".tnode.target")).to_have_count(1)
    for state in ("Locked", "Available", "Target", "Unlocked", "Maxed"):
        expect(page.locator(".legend")).to_contain_text(state)
    target = page.locator(".tnode.target")
    name = target.locator(".tname").inner_text()
    target.focus()
    page.keyboard.press("Enter")
    dialog = page.locator("#node-dialog")
    expect(dialog).to_be_visible()
    expect(dialog.locator("h2")).to_have_text(name)
    expect(dialog).to_contain_text("Current target")
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()


def test_recent_unlocks_come_from_history_and_show_each_unlock_once(page: Any) -> None:
    from progression.services import admin_actions

    community = seed_community("unlocks-feed")
    open_dashboard(page, community.slug)
    feed = page.locator("#feed .unlock")
    welcome = feed.filter(has_text="Welcome Wagon")  # the demo tree's auto-unlocked node
    expect(welcome).to_have_count(1)
    admin_actions.force_unlock(community, "emote_slots", by="test")
    streamed = feed.filter(has_text="Emote Slots")
    expect(streamed).to_have_count(1, timeout=15_000)
    expect(page.locator("#announcer")).to_contain_text("Unlocked: Emote Slots", timeout=5_000)
    page.reload()
    page.wait_for_selector("body[data-ready='1']")
    expect(feed.filter(has_text="Emote Slots")).to_have_count(1)
    expect(feed.filter(has_text="Welcome Wagon")).to_have_count(1)


def test_time_to_unlock_says_what_it_needs_until_chat_sets_a_pace(page: Any) -> None:
    import time

    community = seed_community("eta-pace")
    secret = issue_token(community, "ingest").secret
    open_dashboard(page, community.slug)
    expect(page.get_by_test_id("eta")).to_have_text("Time to unlock: —")
    expect(page.get_by_test_id("eta-hint")).to_contain_text("once chat has been adding points")
    # Points keep coming (one a little while apart): the estimate appears once it has a pace.
    eta = page.get_by_test_id("eta")
    deadline = time.monotonic() + 30
    while "to unlock" not in eta.inner_text() or "—" in eta.inner_text():
        assert time.monotonic() < deadline, eta.inner_text()
        assert post_engagement_from_page(page, community.slug, secret, 1)["status"] == 200
        page.wait_for_timeout(500)  # chat's pace, not a wait for a result
    expect(eta).to_contain_text("≈")
    expect(page.get_by_test_id("eta-hint")).to_contain_text("at the pace of the last")


def test_the_demo_tree_fits_a_desktop_screen_and_a_phone_is_told_to_scroll(new_page: Any) -> None:
    community = seed_community("tree-fits")
    desktop = new_page(1920, 1080)
    open_dashboard(desktop, community.slug)
    tree = desktop.locator("#tree")
    expect(desktop.locator(".tnode")).not_to_have_count(0)
    assert tree.evaluate("e => e.scrollWidth <= e.clientWidth"), "the tree is cut at 1920 px"
    expect(desktop.locator("#tree-scroll-hint")).to_be_hidden()
    phone = new_page(390, 844)
    open_dashboard(phone, community.slug)
    expect(phone.locator("#tree-scroll-hint")).to_be_visible()
    assert phone.locator("#tree").evaluate("e => e.scrollWidth > e.clientWidth")
