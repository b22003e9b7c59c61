"""Experimental builds of the ASGI app, to measure suggested fixes without editing app code.

    python -m scripts.bench.stream --server uvicorn --clients 2000 --variant nosession,timerwake

The server then serves `bench.variants:application` (PYTHONPATH includes scripts/): the real
config.asgi application with the patches named in BENCH_VARIANT applied in this process only.
They are evidence for docs/benchmarks.md, not code to run in production. Since the stream
fixes landed, nosession, timerwake, labels and gcfreeze are part of the app and are accepted
here as no-ops (described below as they were measured):

- nosession: the SSE route gets the user and session on its scope once, at connect, instead of
  through channels' AuthMiddlewareStack, whose SessionMiddleware wraps `send` and inspects the
  session on every body chunk written for the life of the stream.
- timerwake: the connection's pump waits on its wake event alone, with one keepalive timer per
  connection re-armed from the last write, instead of `asyncio.wait_for(wake.wait(), 15)` per
  wake-up, which creates a Task (and a timer) per event per connection.
- labels: the per-flush `metrics.X.labels(transport=...)` lookups are bound once.
- nohealthcheck: no psycopg-pool check (an extra round trip) on every connection checkout;
  each stream connect checks a connection out twice (grant, then stream position).
- leanconnect (implies nosession): no thread hop to resolve the user when the request has no
  session cookie (it is anonymous), and the community row looked up by slug is reused for one
  second instead of read on every connect. Measures how much of a connect burst is this work.
- gcstats: logs (WARNING, every 5 s) how much time the cyclic garbage collector took, per
  generation: py-spy charges it to whichever Python line allocated when it ran.
- gcfreeze: moves the objects alive after start-up and after each connection burst into the
  permanent generation (gc.freeze every 5 s), so full collections stop re-walking every idle
  connection's objects.
"""

from __future__ import annotations

import gc
import logging
import os
import threading
import time
from typing import Any

import config.asgi as base

VARIANTS = {v.strip() for v in os.environ.get("BENCH_VARIANT", "").split(",") if v.strip()}
KNOWN = {"nosession", "timerwake", "labels", "gcstats", "gcfreeze", "nohealthcheck", "leanconnect"}
if VARIANTS - KNOWN:
    raise SystemExit(f"unknown BENCH_VARIANT {sorted(VARIANTS - KNOWN)}; known: {sorted(KNOWN)}")


# nosession, timerwake, labels and gcfreeze are in the app now (realtime/stream_auth.py,
# realtime/connection.py, realtime/metrics.py, realtime/hub.py): accepted, nothing to patch.
application = base.application


class _GcStats:
    def __init__(self) -> None:
        self.started = 0.0
        self.totals = [0.0, 0.0, 0.0]
        self.counts = [0, 0, 0]
        self.longest = 0.0
        self.lock = threading.Lock()

    def callback(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self.started = time.perf_counter()
            return
        took = time.perf_counter() - self.started
        generation = info["generation"]
        with self.lock:
            self.totals[generation] += took
            self.counts[generation] += 1
            self.longest = max(self.longest, took)

    def report_forever(self) -> None:
        log = logging.getLogger("bench.gc")
        while True:
            time.sleep(5)
            with self.lock:
                totals, counts, longest = self.totals, self.counts, self.longest
                self.totals, self.counts, self.longest = [0.0, 0.0, 0.0], [0, 0, 0], 0.0
            log.warning(
                "gc last 5s: gen0 %d in %.0f ms, gen1 %d in %.0f ms, gen2 %d in %.0f ms, "
                "longest %.1f ms, tracked objects %d, frozen %d",
                counts[0], totals[0] * 1000, counts[1], totals[1] * 1000,
                counts[2], totals[2] * 1000, longest * 1000,
                len(gc.get_objects()), gc.get_freeze_count(),
            )  # fmt: skip


if "gcstats" in VARIANTS:
    _stats = _GcStats()
    gc.callbacks.append(_stats.callback)
    threading.Thread(target=_stats.report_forever, name="bench-gc-stats", daemon=True).start()
if "nohealthcheck" in VARIANTS:
    from django.db import connections

    connections.settings["default"]["CONN_HEALTH_CHECKS"] = False
if "leanconnect" in VARIANTS:
    from realtime import access

    _community_cache: dict[str, tuple[float, Any]] = {}
    _get_community = access.get_community

    def _cached_community(slug: str) -> Any:
        hit = _community_cache.get(slug)
        now = time.monotonic()
        if hit is not None and now - hit[0] < 1.0:
            return hit[1]
        community = _get_community(slug)
        _community_cache[slug] = (now, community)
        return community

    access.get_community = _cached_community
