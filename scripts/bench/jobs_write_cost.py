"""What one job progress write costs, in one process with nobody else writing: statements sent
to PostgreSQL (BEGIN and COMMIT included), wall and CPU time, for an advance that publishes
nothing (inside the coalescing interval: the common case) and for one that publishes.

    flock /tmp/bench.lock .venv/bin/python -m scripts.bench.jobs_write_cost --writes 400

It uses the jobs benchmark's scratch database (`progression_bench_jobs`, dropped and
recreated unless `--keep-db`) and its Redis db (3); no server runs, so a published event fans
out to nobody (the channel-layer send is still made). Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from scripts.bench.helpers import percentile
from scripts.bench.jobs_progress import DEFAULT_DATABASE_URL, DEFAULT_REDIS_URL, setup_django
from scripts.bench.stream import bench_env, prepare


def measure(writes: int, interval_ms: int) -> dict[str, Any]:
    """`writes` advances of one claimed job with the coalescing interval at `interval_ms`
    (0: every advance publishes; huge: none after the stage's first)."""
    from django.conf import settings
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from communities.models import Visibility
    from communities.services import create_community
    from jobs.services import claim_run, create_job, progress

    settings.JOBS_PROGRESS_EVENT_INTERVAL_MS = interval_ms
    community = create_community(
        slug=f"cost-{interval_ms}-{time.monotonic_ns()}", name="cost", visibility=Visibility.PRIVATE
    )
    job = create_job(community, "selftest", {"units": writes})
    run = claim_run(str(job.pk), 1, "cost")
    assert run is not None
    progress.begin_stage(run, "counting", writes)
    wall: list[float] = []
    cpu: list[float] = []
    statements: list[int] = []
    published = 0
    sql: list[str] = []
    for n in range(1, writes + 1):
        with CaptureQueriesContext(connection) as captured:
            w, c = time.perf_counter(), time.process_time()
            published += progress.advance(run, "counting", n, f"unit {n}")
            wall.append((time.perf_counter() - w) * 1000)
            cpu.append((time.process_time() - c) * 1000)
        statements.append(len(captured.captured_queries))
        if n == writes // 2:
            sql = [q["sql"][:90] for q in captured.captured_queries]
    wall.sort()
    cpu.sort()
    return {
        "interval_ms": interval_ms,
        "writes": writes,
        "published": published,
        "statements_max": max(statements),
        "statements_median": sorted(statements)[len(statements) // 2],
        "wall_p50_ms": round(percentile(wall, 50) or 0, 3),
        "wall_p99_ms": round(percentile(wall, 99) or 0, 3),
        "cpu_p50_ms": round(percentile(cpu, 50) or 0, 3),
        "sql_of_one": sql,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--writes", type=int, default=400)
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL)
    parser.add_argument("--log-level", default="WARNING")
    parser.add_argument("--keep-db", action="store_true")
    args = parser.parse_args()
    env = bench_env(args)
    prepare(args, env)
    import os

    os.environ.update(env)
    setup_django()
    result = {
        "quiet": measure(args.writes, 3_600_000),
        "publishing": measure(args.writes, 0),
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
