"""Events with their progress at E = 50, 200, 500, 2,000 events on PostgreSQL (issue 8, point 9).

    flock /tmp/bench.lock .venv/bin/python scripts/bench/events_progress.py

1. Database `progression_hub_bench_events` (dropped and recreated, migrated; dropped at the
   end unless --keep-db), no Redis (the embedded cache: nothing read here is cached).
2. Deterministic seed (random.Random(--seed)): one public community per E, each event with 10
   production targets, 5 assembly targets (bundles of two items), 5 runs per target (1 in 20
   voided), the assembly runs' consumption rows, 2 deliveries; dates spread over two years
   around today; the running totals recounted from the runs. VACUUM ANALYZE after seeding.
3. Per E, measured in-process on one connection (the pool's), after a warm-up call:
   - reference: PostgreSQL's own `SELECT 1` round trip, and `GET /healthz` through Django's
     test Client (the request machinery alone);
   - `selectors.list_events(when="all", limit=200)`: the selector alone, one page;
   - `GET /api/communities/<slug>/events?when=all&limit=200`: the whole HTTP request (auth, a
     read token, community lookup, selector, JSON), one page;
   - ALL E events, to compare with the seed's "list all events" (500 events: 12,015 queries,
     ~6.1 s): the selector in one call (`limit=E`), and over HTTP walking every page of 200
     by `next_cursor`.
   Before each E it waits (up to --max-wait s) for the 1-minute load average to fall under
   --quiet-load (the box is shared) and reports the load it measured at.
   CPU per call = this process's CPU + the PostgreSQL backends' (from /proc), per call: on a
   shared box it moves far less with the load than the wall times.
   Queries are counted in a separate call with CaptureQueriesContext (every statement, the
   transaction's BEGIN/SET/COMMIT included); times are wall-clock p50/p95 of --repeats calls.
Prints one JSON line per E and a Markdown table at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from scripts.bench.helpers import percentile, proc_cpu_seconds  # noqa: E402

PG_ADMIN = "postgres://postgres@127.0.0.1:5432/postgres"
DB_NAME = "progression_hub_bench_events"
SEED_SECONDS_AT_500 = 6.1  # the seed's list of 500 events (issue 8)
SEED_QUERIES_AT_500 = 12_015
PAGE = 200
PRODUCTION_TARGETS, ASSEMBLY_TARGETS, RUNS_PER_TARGET, DELIVERIES = 10, 5, 5, 2


def environment(db_name: str) -> dict[str, str]:
    env = {
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DEBUG": "1",
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{db_name}",
        "API_RATE_AUTHENTICATED": "1000000/m",
        "API_RATE_ANON": "1000000/m",
    }
    return env


def recreate_database(db_name: str, env: dict[str, str]) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(db_name))
        )
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(db_name)))
    full = {k: v for k, v in os.environ.items() if k != "REDIS_URL"} | env
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=ROOT,
        env=full,
        check=True,
    )


def drop_database(db_name: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(db_name))
        )


def django_ready(env: dict[str, str]) -> None:
    os.environ.pop("REDIS_URL", None)
    os.environ.update(env)
    import django

    django.setup()


def seed(size: int, rng: random.Random) -> tuple[str, str]:
    """A public community with `size` events of the benchmark's shape; (slug, read token)."""
    from django.db import transaction
    from django.utils import timezone

    from communities.services import create_api_token, create_community
    from events_app.models import (
        AssemblyConsumption,
        AssemblyRun,
        AssemblyTarget,
        Bundle,
        BundleComponent,
        Delivery,
        Event,
        Item,
        ProductionRun,
        ProductionTarget,
    )
    from events_app.services import totals

    batch = 5000
    today = timezone.localdate()
    with transaction.atomic():
        community = create_community(slug=f"bench-{size}", name=f"Bench {size}")
        token = create_api_token(community=community, name="dashboard", scopes=("read",))
        items = Item.objects.bulk_create(
            Item(community=community, name=f"item {n}", yield_per_batch=rng.randint(6, 24))
            for n in range(PRODUCTION_TARGETS)
        )
        bundles = Bundle.objects.bulk_create(
            Bundle(community=community, name=f"box {n}") for n in range(ASSEMBLY_TARGETS)
        )
        recipe = {b.pk: rng.sample(items, 2) for b in bundles}
        BundleComponent.objects.bulk_create(
            BundleComponent(bundle=b, item=part, quantity=rng.randint(1, 3))
            for b in bundles
            for part in recipe[b.pk]
        )
        events = Event.objects.bulk_create(
            (
                Event(
                    community=community,
                    name=f"drive {n:05}",
                    starts_on=(start := today + timedelta(days=rng.randint(-365, 365))),
                    ends_on=start + timedelta(days=rng.randint(0, 3)),
                )
                for n in range(size)
            ),
            batch_size=batch,
        )
        ProductionTarget.objects.bulk_create(
            (
                ProductionTarget(event=e, item=i, target_batches=rng.randint(5, 30))
                for e in events
                for i in items
            ),
            batch_size=batch,
        )
        AssemblyTarget.objects.bulk_create(
            (
                AssemblyTarget(event=e, bundle=b, target_quantity=rng.randint(2, 10))
                for e in events
                for b in bundles
            ),
            batch_size=batch,
        )
        voided = {"voided_at": timezone.now(), "void_reason": "typo"}

        def maybe_void() -> dict[str, Any]:
            return voided if rng.random() < 0.05 else {}

        ProductionRun.objects.bulk_create(
            (
                ProductionRun(
                    event=e,
                    item=i,
                    batches=(n := rng.randint(1, 6)),
                    actual_yield=n * i.yield_per_batch,
                    **maybe_void(),
                )
                for e in events
                for i in items
                for _ in range(RUNS_PER_TARGET)
            ),
            batch_size=batch,
        )
        runs = AssemblyRun.objects.bulk_create(
            (
                AssemblyRun(event=e, bundle=b, quantity=rng.randint(1, 2), **maybe_void())
                for e in events
                for b in bundles
                for _ in range(RUNS_PER_TARGET)
            ),
            batch_size=batch,
        )
        quantities = {(c.bundle_id, c.item_id): c.quantity for c in BundleComponent.objects.all()}
        AssemblyConsumption.objects.bulk_create(
            (
                AssemblyConsumption(
                    run=r,
                    event_id=r.event_id,
                    item=part,
                    quantity=r.quantity * quantities[(r.bundle_id, part.pk)],
                )
                for r in runs
                for part in recipe[r.bundle_id]
            ),
            batch_size=batch,
        )
        Delivery.objects.bulk_create(
            (
                Delivery(
                    event=e,
                    bundle=rng.choice(bundles),
                    recipient=f"shelter {n}",
                    status=rng.choice(("pending", "ready", "delivered")),
                )
                for e in events
                for n in range(DELIVERIES)
            ),
            batch_size=batch,
        )
        # The runs were bulk-created around the write services: count them as they would.
        totals.recount([e.pk for e in events])
    return community.slug, token.secret


def wait_for_quiet(threshold: float, max_wait: float) -> float:
    """Waits (up to `max_wait` s) for the 1-minute load average to drop under `threshold`: the
    box is shared. Returns the load average when measuring starts (reported with the figures)."""
    deadline = time.monotonic() + max_wait
    while os.getloadavg()[0] >= threshold and time.monotonic() < deadline:
        time.sleep(5)
    return round(os.getloadavg()[0], 2)


class BackendCpu:
    """CPU seconds spent by the PostgreSQL backends serving the benchmark's database, read from
    /proc (PostgreSQL runs on this box): with this process's own CPU, what a call costs
    whatever else the shared box is doing (wall times stretch with the load, CPU much less)."""

    def __init__(self, db_name: str) -> None:
        import psycopg

        self.db_name = db_name
        self.admin = psycopg.connect(PG_ADMIN, autocommit=True)

    def seconds(self) -> float:
        rows = self.admin.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s", (self.db_name,)
        ).fetchall()
        return sum(proc_cpu_seconds(pid) for (pid,) in rows)


def reuse(size: int) -> tuple[str, str]:
    """A community seeded by an earlier run (--keep-db), with a fresh read token."""
    from communities.models import Community
    from communities.services import create_api_token

    community = Community.objects.get(slug=f"bench-{size}")
    token = create_api_token(community=community, name="dashboard", scopes=("read",))
    return community.slug, token.secret


def timed(call: Callable[[], Any], repeats: int, backends: BackendCpu) -> dict[str, float]:
    call()  # warm-up: connection, query compilation, imports
    times = []
    cpu_before, server_before = time.process_time(), backends.seconds()
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    client_cpu = (time.process_time() - cpu_before) * 1000 / repeats
    server_cpu = (backends.seconds() - server_before) * 1000 / repeats
    times.sort()
    return {
        "p50_ms": round(statistics.median(times), 2),
        "p95_ms": round(percentile(times, 95) or 0.0, 2),
        "cpu_ms": round(client_cpu + server_cpu, 2),
        "db_cpu_ms": round(server_cpu, 2),
        "n": repeats,
    }


def queries(call: Callable[[], Any]) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    call()  # warm: a token's first use stamps its last_used_at, a write the reads never make
    with CaptureQueriesContext(connection) as captured:
        call()
    return len(captured)


def measure(
    size: int, slug: str, secret: str, repeats: int, backends: BackendCpu
) -> dict[str, Any]:
    from django.db import connection
    from django.test import Client

    from communities.models import Community
    from events_app import selectors

    community = Community.objects.get(slug=slug)
    client = Client()
    auth = {"Authorization": f"Bearer {secret}"}
    url = f"/api/communities/{slug}/events"

    def select_one() -> None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()

    def healthz() -> None:
        assert client.get("/healthz").status_code == 200

    def selector_page() -> None:
        page = selectors.list_events(community, when="all", limit=PAGE)
        assert len(page.events) == min(PAGE, size)

    def http_page() -> None:
        answer = client.get(url, {"when": "all", "limit": str(PAGE)}, headers=auth)
        assert answer.status_code == 200, answer.content[:300]

    def selector_all() -> None:
        assert len(selectors.list_events(community, when="all", limit=size).events) == size

    pages = {"n": 0}

    def http_all() -> None:
        cursor, seen, pages["n"] = None, 0, 0
        while True:
            query: dict[str, Any] = {"when": "all", "limit": PAGE}
            if cursor:
                query["cursor"] = cursor
            body = client.get(url, query, headers=auth).json()
            seen += len(body["events"])
            pages["n"] += 1
            cursor = body["next_cursor"]
            if cursor is None:
                break
        assert seen == size

    whole_repeats = max(3, repeats // 2)
    result: dict[str, Any] = {
        "events": size,
        "load_1m": round(os.getloadavg()[0], 2),
        "reference": {
            "select_1": timed(select_one, repeats * 5, backends),
            "healthz": timed(healthz, repeats * 5, backends),
        },
        "selector_page": {
            "queries": queries(selector_page),
            **timed(selector_page, repeats, backends),
        },
        "http_page": {"queries": queries(http_page), **timed(http_page, repeats, backends)},
        "selector_all": {
            "queries": queries(selector_all),
            **timed(selector_all, whole_repeats, backends),
        },
        "http_all": {"queries": queries(http_all), **timed(http_all, whole_repeats, backends)},
    }
    result["http_all"]["pages"] = pages["n"]
    return result


def table(results: list[dict[str, Any]]) -> str:
    lines = [
        "| E | load | SELECT 1 p50 | /healthz p50 | selector page (200): q, p50 / p95 ms "
        "| HTTP page (200): q, p50 / p95 ms | selector all E: q, p50 / p95 ms "
        "| HTTP all E (pages): q, p50 / p95 ms |",
        "|---|---|---|---|---|---|---|---|",
    ]

    def cell(r: dict[str, Any], key: str) -> str:
        m = r[key]
        extra = f" ({m['pages']} pages)" if "pages" in m else ""
        return f"{m['queries']}{extra}, {m['p50_ms']} / {m['p95_ms']} ({m['cpu_ms']} CPU)"

    for r in results:
        ref = r["reference"]
        lines.append(
            f"| {r['events']:,} | {r['load_1m']} | {ref['select_1']['p50_ms']} ms | {ref['healthz']['p50_ms']} ms "
            f"| {cell(r, 'selector_page')} | {cell(r, 'http_page')} | {cell(r, 'selector_all')} "
            f"| {cell(r, 'http_all')} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", default="50,200,500,2000")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--seed", type=int, default=8)
    parser.add_argument("--db", default=DB_NAME)
    parser.add_argument("--keep-db", action="store_true")
    parser.add_argument(
        "--reuse-db", action="store_true", help="measure a database kept by --keep-db (no seed)"
    )
    parser.add_argument("--quiet-load", type=float, default=2.0, help="wait for load under this")
    parser.add_argument("--max-wait", type=float, default=300.0, help="seconds, per size")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    env = environment(args.db)
    if not args.reuse_db:
        recreate_database(args.db, env)
    django_ready(env)
    from django.db import connection

    if args.reuse_db:
        seeded = {size: reuse(size) for size in sizes}
    else:
        rng = random.Random(args.seed)  # noqa: S311 - a reproducible seed, not a secret
        started = time.perf_counter()
        seeded = {size: seed(size, rng) for size in sizes}
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
        print(json.dumps({"seeded_s": round(time.perf_counter() - started, 1)}), flush=True)
    results = []
    backends = BackendCpu(args.db)
    try:
        for size in sizes:
            slug, secret = seeded[size]
            wait_for_quiet(args.quiet_load, args.max_wait)
            result = measure(size, slug, secret, args.repeats, backends)
            results.append(result)
            print(json.dumps(result), flush=True)
    finally:
        connection.close()
        backends.admin.close()
        if not args.keep_db:
            drop_database(args.db)
    print(table(results))
    for r in results:
        if r["events"] == 500:
            for key in ("selector_all", "http_all"):
                wall, cpu = r[key]["p50_ms"] / 1000, r[key]["cpu_ms"] / 1000
                print(
                    f"E=500 all events, {key}: {SEED_SECONDS_AT_500 / wall:.0f}x faster by p50 "
                    f"wall, {SEED_SECONDS_AT_500 / cpu:.0f}x by CPU, than the seed's "
                    f"{SEED_SECONDS_AT_500} s ({SEED_QUERIES_AT_500:,} queries)"
                )


if __name__ == "__main__":
    main()
