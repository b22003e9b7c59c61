"""The streamer's pages for scripts/screenshots.py: the OBS overlay (1920×1080, shown over a
dark checkerboard so its transparency is visible, with an unlock being celebrated) and the
moderator console (1920×1080 and phone size; its events, jobs — a self-test running — and board
sections too), signed in as the demo's owner."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import BrowserContext, Page

from scripts.demo_pages import STREAMER, VIEWER_PASSWORD

Save = Callable[..., None]

CHECKERBOARD = """html { background-color: #1b1b24; background-image:
  linear-gradient(45deg, #262633 25%, transparent 25%, transparent 75%, #262633 75%),
  linear-gradient(45deg, #262633 25%, transparent 25%, transparent 75%, #262633 75%);
  background-size: 48px 48px; background-position: 0 0, 24px 24px; }"""

FORCE_UNLOCK = """async (key) => {
  const csrf = document.cookie.split('; ').find(c => c.startsWith('csrftoken=')).split('=')[1];
  const r = await fetch(`/api/communities/demo/nodes/${key}/force-unlock`, {
    method: 'POST', credentials: 'same-origin',
    headers: {'X-CSRFToken': csrf, 'Content-Type': 'application/json'},
    body: JSON.stringify({ignore_prerequisites: true}),
  });
  return r.status;
}"""


def shoot_streamer_pages(base_url: str, out: Path, chromium: str) -> list[Path]:
    from playwright.sync_api import sync_playwright

    written: list[Path] = []

    def save(page: Page, name: str, *, full: bool = False) -> None:
        path = out / f"{name}.png"
        page.screenshot(path=str(path), full_page=full)
        written.append(path)

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        for size, (width, height, scale) in {
            "desktop": (1920, 1080, 1),
            "phone": (390, 844, 2),
        }.items():
            context = browser.new_context(
                base_url=base_url,
                viewport={"width": width, "height": height},
                color_scheme="dark",
                device_scale_factor=scale,
            )
            page = context.new_page()
            page.goto("/accounts/login/?next=/c/demo/manage/")
            page.get_by_label("Username").fill(STREAMER)
            page.get_by_label("Password").fill(VIEWER_PASSWORD)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_selector("#conn[data-state='live']")
            page.wait_for_selector("#nodes tr[data-key]")
            save(page, f"console-{size}")
            jobs = page.get_by_test_id("jobs")
            jobs.get_by_label("Start a job").select_option("selftest")
            jobs.locator("#jp-units").fill("400")
            jobs.locator("#jp-delay_ms").fill("100")
            jobs.get_by_role("button", name="Start job").click()
            page.wait_for_function(
                "() => [...document.querySelectorAll('[data-testid=jobs] [role=progressbar]')]"
                ".some(b => Number(b.getAttribute('aria-valuenow')) >= 20)",
                timeout=60_000,
            )
            for section, name in (
                ("console-events", "events"),
                ("jobs", "jobs"),
                ("board", "board"),
            ):
                page.get_by_test_id(section).scroll_into_view_if_needed()
                save(page, f"console-{name}-{size}")
            page.evaluate("window.scrollTo(0, 0)")
            if size == "desktop":
                save(page, "console-full-desktop", full=True)
                page.get_by_role("button", name="Relock Emote Slots").click()
                page.wait_for_selector("#confirm[open]")
                save(page, "console-relock-dialog-desktop")
                page.keyboard.press("Escape")
                _overlay(context, page, save)
            context.close()
        browser.close()
    return written


def _overlay(context: BrowserContext, console: Page, save: Save) -> None:
    overlay = context.new_page()
    overlay.goto("/c/demo/overlay/?alert_seconds=30")
    overlay.wait_for_selector(".ov-root[data-stream='open']")
    overlay.add_style_tag(content=CHECKERBOARD)
    overlay.wait_for_selector("#ov-options li")
    save(overlay, "overlay-desktop")
    assert console.evaluate(FORCE_UNLOCK, "overlay_basics") == 200
    overlay.wait_for_selector("#ov-alert:not([hidden])")
    overlay.wait_for_function("document.getAnimations().every(a => a.playState !== 'running')")
    save(overlay, "overlay-unlock-desktop")
    overlay.goto("/c/demo/overlay/?widgets=bar&position=top-right&scale=0.8&accent=%2322c55e")
    overlay.wait_for_selector(".ov-root[data-stream='open']")
    overlay.add_style_tag(content=CHECKERBOARD)
    save(overlay, "overlay-bar-only-desktop")
