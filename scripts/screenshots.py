"""Screenshots of the viewer pages at 1920×1080 and at phone size (390×844), into
docs/screenshots/: `python scripts/screenshots.py` (needs /usr/bin/chromium).

It seeds its own demo on var/screenshots.sqlite3 (scripts/demo_pages.py: the demo tree mid-way
with a vote open, the demo bake-along event under way, a 200-node tree, a private community, a
viewer account), serves it with uvicorn on a free port, and drives Chromium with Playwright.
Regenerate after changing a page.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scripts.demo_pages import VIEWER, VIEWER_PASSWORD, Server, prepare  # noqa: E402
from scripts.screenshots_streamer import CHECKERBOARD  # noqa: E402

SIZES = {"desktop": (1920, 1080), "phone": (390, 844)}
READY = "body[data-ready='1']"


def shoot(base_url: str, out: Path, chromium: str) -> list[Path]:
    from playwright.sync_api import Page, sync_playwright

    written: list[Path] = []

    def save(page: Page, name: str, size: str, *, full: bool = False) -> None:
        path = out / f"{name}-{size}.png"
        page.screenshot(path=str(path), full_page=full)
        written.append(path)

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        for size, (width, height) in SIZES.items():
            for scheme in ("dark",):
                context = browser.new_context(
                    base_url=base_url,
                    viewport={"width": width, "height": height},
                    color_scheme=scheme,
                    device_scale_factor=1 if size == "desktop" else 2,
                )
                page = context.new_page()
                page.goto("/")
                save(page, "home", size)
                page.goto("/c/demo/")
                page.wait_for_selector(READY)
                page.wait_for_selector("#conn[data-state='live']")
                page.wait_for_selector("#events-list .ev")
                save(page, "dashboard", size)
                if size == "desktop":
                    save(page, "dashboard-full", size, full=True)
                page.locator("[data-testid=events]").scroll_into_view_if_needed()
                save(page, "dashboard-events", size)
                page.locator(".tnode.target").click()
                page.wait_for_selector("#node-dialog[open]")
                save(page, "node-details", size)
                page.keyboard.press("Escape")
                page.goto("/c/big-tree/")
                page.wait_for_selector(READY)
                page.locator("[data-testid=tree-card]").scroll_into_view_if_needed()
                save(page, "tree-200", size)
                page.goto("/accounts/signup/?next=/c/demo/")
                save(page, "sign-up", size)
                page.goto("/accounts/login/?next=/c/demo/")
                save(page, "sign-in", size)
                page.get_by_label("Username").fill(VIEWER + ("" if size == "desktop" else "-phone"))
                page.get_by_label("Password").fill(VIEWER_PASSWORD)
                page.get_by_role("button", name="Sign in").click()
                page.wait_for_selector(READY)
                page.locator(".vote-option button").first.click()
                page.wait_for_selector(".vote-option.chosen")
                page.locator("[data-testid=vote]").scroll_into_view_if_needed()
                save(page, "dashboard-voted", size)
                box = page.locator("[data-testid=suggest]")
                box.get_by_label("Your suggestion").fill("A !lurk counter on the overlay")
                box.get_by_role("button", name="Send suggestion").click()
                box.locator(".suggest-ok").wait_for()
                box.scroll_into_view_if_needed()
                save(page, "dashboard-suggest", size)
                if size == "phone":  # the desktop overlay shots: screenshots_streamer.py
                    page.goto("/c/demo/overlay/")
                    page.wait_for_selector(".ov-root[data-stream='open']")
                    page.add_style_tag(content=CHECKERBOARD)
                    page.wait_for_selector("#ov-options li")
                    save(page, "overlay", size)
                context.close()
        browser.close()
    return written


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default=str(ROOT / "docs" / "screenshots"))
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    env = prepare(str(ROOT / "var" / "screenshots.sqlite3"))
    server = Server(env)
    try:
        from scripts.screenshots_streamer import shoot_streamer_pages

        for path in shoot(server.base_url, out, args.chromium):
            print(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)
        for path in shoot_streamer_pages(server.base_url, out, args.chromium):
            print(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
