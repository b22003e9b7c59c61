"""Pages in the browser (issue 11, point 12): time from navigation to the dashboard showing
live data, and frame times while 100 events a second arrive.

    flock /tmp/bench.lock .venv/bin/python -m scripts.bench.pages [--runs 7] [--seconds 10]

Seeds its own demo (scripts/demo_pages.py, var/bench-pages.sqlite3: the demo tree and a
200-node tree), serves it with uvicorn (the embedded default) and drives /usr/bin/chromium
with Playwright.

- load: navigation start to the `ph:live` mark, which the dashboard sets once the progress and
  the tree are drawn and the stream is open (fresh context each run: cold cache).
- frames, two ways, 10 s each: (a) "posted": a bot posts 100 engagement events/s over HTTP
  (what the page receives is the server's coalesced snapshots, counted); (b) "injected": 100
  stream envelopes/s (progress and vote snapshots alternating) handed straight to the
  dashboard's event handler, the client's worst case. Frame times are rAF-to-rAF deltas, plus
  Chromium's long tasks (over 50 ms).
"""

from __future__ import annotations

import argparse
import json
import statistics
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from scripts.demo_pages import Server, prepare

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"

FRAME_PROBE = """() => {
  window.__frames = []; window.__long = []; window.__events = 0;
  let last = performance.now();
  function tick(t) { window.__frames.push(t - last); last = t; window.__raf = requestAnimationFrame(tick); }
  window.__raf = requestAnimationFrame(tick);
  try { new PerformanceObserver(l => l.getEntries().forEach(e => window.__long.push(e.duration)))
        .observe({type: 'longtask', buffered: false}); } catch (e) {}
}"""

INJECT = """([seconds, rate]) => new Promise(resolve => {
  const handler = window.PHDashboard.onEvent;
  const p = window.PHDashboard.state.progress, v = window.PHDashboard.state.vote;
  let id = 1e9, sent = 0, acc = p.accumulated;
  const started = performance.now();
  const timer = setInterval(() => {
    const due = Math.floor((performance.now() - started) / 1000 * rate);
    while (sent < due) {
      sent++; id++;
      if (sent % 2 && v) {
        const opts = v.options.map((o, i) => Object.assign({}, o, {votes: o.votes + (i === sent % v.options.length ? 1 : 0)}));
        handler({id, type: 'progression.vote.cast', data: Object.assign({}, v, {options: opts, total_votes: v.total_votes + 1})});
      } else {
        acc += 1;
        handler({id, type: 'progression.progress.updated', data: Object.assign({}, p, {accumulated: acc,
          percent: Math.min(100, 100 * acc / p.cost)})});
      }
    }
    if (performance.now() - started >= seconds * 1000) { clearInterval(timer); resolve(sent); }
  }, 10);
})"""


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


def measure_load(browser: Any, base: str, slug: str, runs: int) -> dict[str, float]:
    times = []
    for _ in range(runs):
        context = browser.new_context(base_url=base, viewport={"width": 1920, "height": 1080})
        page = context.new_page()
        page.goto(f"/c/{slug}/")
        page.wait_for_selector("body[data-ready='1']", timeout=30_000)
        times.append(page.evaluate("performance.getEntriesByName('ph:live')[0].startTime"))
        context.close()
    return {
        "median_ms": round(statistics.median(times)),
        "max_ms": round(max(times)),
        "min_ms": round(min(times)),
    }


def post_at(base: str, secret: str, rate: int, seconds: float) -> int:
    sent = 0
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {secret}"}) as client:
        started = time.monotonic()
        while (elapsed := time.monotonic() - started) < seconds:
            due = int(elapsed * rate)
            while sent < due:
                client.post(
                    "/api/communities/demo/engagement",
                    json={
                        "platform_user_id": f"u{sent % 50}",
                        "metric": "message",
                        "value": 1,
                        "message_id": f"bench-{time.time_ns()}-{sent}",
                    },
                )
                sent += 1
            time.sleep(0.002)
    return sent


def frames_report(page: Any) -> dict[str, Any]:
    data = page.evaluate("() => ({frames: window.__frames.slice(1), long: window.__long})")
    frames = data["frames"]
    return {
        "frames": len(frames),
        "max_frame_ms": round(max(frames), 1) if frames else None,
        "p99_frame_ms": round(percentile(frames, 0.99), 1),
        "frames_over_50ms": sum(1 for f in frames if f > 50),
        "long_tasks": len(data["long"]),
        "longest_task_ms": round(max(data["long"]), 1) if data["long"] else 0,
    }


def bot_secret(env: dict[str, str]) -> str:
    import subprocess
    import sys

    code = (
        "import django; django.setup()\n"
        "from communities.models import Community\n"
        "from communities.services import create_api_token\n"
        "c = Community.objects.get(slug='demo')\n"
        "print(create_api_token(community=c, name='bench', scopes=('ingest',)).secret)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**env, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip().splitlines()[-1]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rate", type=int, default=100)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    env = prepare(str(ROOT / "var" / "bench-pages.sqlite3"))
    secret = bot_secret(env)
    server = Server(env)
    results: dict[str, Any] = {}
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            results["load_demo_tree"] = measure_load(browser, server.base_url, "demo", args.runs)
            results["load_200_nodes"] = measure_load(
                browser, server.base_url, "big-tree", args.runs
            )
            context = browser.new_context(
                base_url=server.base_url, viewport={"width": 1920, "height": 1080}
            )
            page = context.new_page()
            page.goto("/c/demo/")
            page.wait_for_selector("body[data-ready='1']")
            page.evaluate(
                "() => { window.__seen = 0; window.PHDashboard.onEventHook = () => window.__seen++; }"
            )
            page.evaluate(FRAME_PROBE)
            posted = [0]
            thread = threading.Thread(
                target=lambda: posted.__setitem__(
                    0, post_at(server.base_url, secret, args.rate, args.seconds)
                )
            )
            thread.start()
            while thread.is_alive():
                page.wait_for_timeout(200)  # keep the page's frames flowing; not a test wait
            results["posted"] = {
                **frames_report(page),
                "events_posted": posted[0],
                "stream_events_received": page.evaluate("window.__seen"),
            }
            page.evaluate(FRAME_PROBE)
            sent = page.evaluate(INJECT, [args.seconds, args.rate])
            results["injected"] = {**frames_report(page), "events_injected": sent}
            context.close()
            browser.close()
    finally:
        server.stop()
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
