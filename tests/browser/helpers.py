"""Small helpers for the browser tests: seeding through scripts/demo_pages.py, signing in
through the real form, posting engagement from inside the page (so the page measures)."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Page, expect

from tests.factories import PASSWORD

READY = "body[data-ready='1']"


def open_dashboard(page: Page, slug: str) -> None:
    page.goto(f"/c/{slug}/")
    page.wait_for_selector(READY, timeout=20_000)
    expect(page.locator("#conn")).to_have_attribute("data-state", "live", timeout=20_000)


def sign_in(page: Page, username: str, next_path: str) -> None:
    page.goto(f"/accounts/login/?next={next_path}")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"**{next_path}")


def post_engagement_from_page(page: Page, slug: str, secret: str, value: int) -> Any:
    """Posts one chat event with `fetch` and returns the page's own clock at the post."""
    return page.evaluate(
        """async ([slug, secret, value]) => {
          const t0 = performance.now();
          const r = await fetch(`/api/communities/${slug}/engagement`, {
            method: 'POST',
            headers: {'Authorization': 'Bearer ' + secret, 'Content-Type': 'application/json'},
            body: JSON.stringify({platform_user_id: 'ann', display_name: 'Ann', metric: 'message',
                                  value, message_id: 'm-' + Math.random()}),
          });
          return {t0, status: r.status, body: await r.json()};
        }""",
        [slug, secret, value],
    )
