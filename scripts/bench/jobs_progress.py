"""Jobs progress benchmark (issue 9, point 11): 50 jobs advancing at once, 10 updates/s each,
through the real advance service, watched by SSE clients on the `jobs` topic.

    flock /tmp/bench.lock python -m scripts.bench.jobs_progress --jobs 50 --rate 10 \
        --seconds 20 --clients 4 --communities 50

One invocation:
 1. database `progression_bench_jobs` (dropped, recreated, migrated), Redis db 3 (flushed; `--redis-url` to change);
 2. a private community, a `read` token, `--jobs` selftest jobs (queued; no worker runs them);
 3. one uvicorn process (the `uvicorn` preset of scripts/bench/stream.py) on a free port;
 4. `--clients` SSE clients (this file's `clients` mode, one uvloop process, raw sockets, the
    token in the header) on /api/communities/<slug>/stream?topics=jobs;
 5. `--publishers` publisher processes (this file's `publish` mode) claim the jobs like a
    runner, say they are ready, and start together on one clock. Each job ticks `rate` times a
    second on an absolute schedule: tick 0 `begin_stage`, ticks 1..units
    `jobs.services.progress.advance`, then `complete` (`--threads` writer threads in all, one
    per process by default, each driving several jobs). Job i starts i / jobs of `--spread`
    seconds (default 1) after the first, as independently started jobs do; `--lockstep` makes
    every job tick in the same instant, the worst case for one community's stream lock. They
    report each job's own count rate (added up: `updates_per_s`) and their CPU per update.
    The job's `message` carries `t`, the wall-clock time just before the write: receive time
    - t is the whole path (conditional UPDATE, coalescing, outbox, commit, fan-out over Redis,
    server hub, client socket); receive time - the envelope's `occurred_at` (the outbox row's
    time) is the publish-to-receive part. Coalescing lets at most one `progressed` per job per
    200 ms out, so about half the updates become events when the schedule is kept (more when
    the publishers fall behind, fewer when the community's stream is busy);
 6. each client waits for every job's terminal event; lost terminal states = jobs × clients -
    terminal events received;
 7. the reference: scripts/bench/stream.py with the same clients, at the rate of events the
    jobs run actually published, in the same invocation (`--no-reference` skips it);
 8. the server's own view, scraped from its /metrics: the send-to-hub latency and how often a
    client's live events crossed so far that the gap was fetched from the outbox.
Prints one JSON line and a summary; `--json-out` appends the JSON line to a file.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from scripts.bench.helpers import ROOT, free_port, percentile, raise_nofile
from scripts.bench.stream import LineReader, bench_env, prepare, start_server, stop, wait_quiet

PY = sys.executable
LOG_DIR = ROOT / "var" / "bench"
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/progression_bench_jobs"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/3"  # this engineer's own db
TERMINAL = (b"jobs.job.succeeded", b"jobs.job.failed", b"jobs.job.cancelled")


def setup_django() -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()


# --- setup mode: the community, the token, the jobs ------------------------------------------
def cmd_setup(args: argparse.Namespace) -> dict[str, Any]:
    from communities.models import Visibility
    from communities.services import create_api_token, create_community
    from jobs.services import create_job

    units = int(args.rate * args.seconds)
    streams: list[dict[str, str]] = []
    jobs: list[str] = []
    for index in range(args.communities):
        community = create_community(
            slug=f"{args.slug}-{index}", name=f"Benchmark {index}", visibility=Visibility.PRIVATE
        )
        token = create_api_token(community=community, name="bench", scopes=("read",))
        streams.append({"slug": community.slug, "token": token.secret})
        mine = range(index, args.jobs, args.communities)
        jobs += [str(create_job(community, "selftest", {"units": units}).pk) for _ in mine]
    return {"streams": streams, "jobs": jobs, "units": units}


# --- publish mode: runners advancing jobs ----------------------------------------------------
def cmd_publish(args: argparse.Namespace) -> dict[str, Any]:
    from django.db import connection

    from jobs.services import claim_run, progress

    plan: list[tuple[str, float]] = json.loads(args.jobs_json)  # (job id, phase in a tick)
    units = args.units
    runs = [
        (claim_run(job_id, 1, f"bench-{os.getpid()}-{job_id}"), phase) for job_id, phase in plan
    ]
    assert all(run for run, _ in runs), "a job could not be claimed"
    late_ms: list[float] = []
    write_ms: list[float] = []
    published = [0]
    rates: list[float] = []
    lock = threading.Lock()
    print(json.dumps({"ready": len(runs)}), flush=True)  # then wait for the common start
    start_at = float(sys.stdin.readline())
    start = time.perf_counter() + (start_at - time.time())
    cpu_start = time.process_time()

    def drive(mine: list[tuple[Any, float]]) -> None:
        """Tick n of a job is due at start + (phase + n) / rate: tick 0 begins the stage, ticks
        1..units count, tick units + 1 completes it."""
        counted: dict[int, float] = {}  # job index: first count's time; ~index: last count's
        timeline = sorted(
            (start + (phase + n) / args.rate, n, index)
            for index, (_, phase) in enumerate(mine)
            for n in range(units + 2)
        )
        try:
            for due, n, index in timeline:
                run = mine[index][0]
                delay = due - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                behind = max(0.0, (time.perf_counter() - due) * 1000)
                t = time.time()
                if n == 0:
                    progress.begin_stage(run, "counting", units, f"t={t:.6f}")
                    continue
                if n > units:
                    progress.complete(run, {"units": units}, f"t={t:.6f}")
                    continue
                sent = progress.advance(run, "counting", n, f"t={t:.6f}")
                if n in (1, units):
                    counted[index if n == 1 else ~index] = time.perf_counter()
                with lock:
                    write_ms.append((time.time() - t) * 1000)
                    published[0] += int(sent)
                    late_ms.append(behind)
            with lock:  # the rate each job kept from its first count to its last
                rates.extend(
                    (units - 1) / (counted[~index] - counted[index]) for index in range(len(mine))
                )
        finally:
            connection.close()

    threads = [
        threading.Thread(target=drive, args=(runs[i :: args.threads],))
        for i in range(min(args.threads, len(runs)))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    write_ms.sort()
    return {
        "updates": len(write_ms),
        "progress_events": published[0],
        "job_rates_sum": round(sum(rates), 2),
        "elapsed_s": round(time.perf_counter() - start, 2),
        "cpu_ms_per_update": round((time.process_time() - cpu_start) * 1000 / len(write_ms), 3),
        "write_p50_ms": round(percentile(write_ms, 50) or 0, 2),
        "write_p99_ms": round(percentile(write_ms, 99) or 0, 2),
        "behind_schedule_max_ms": round(max(late_ms or [0.0]), 1),
    }


# --- clients mode: SSE listeners ---------------------------------------------------------------
class Listener(asyncio.Protocol):
    """One SSE client on a raw socket (HTTP/1.0: the body is the stream, no chunking)."""

    def __init__(self, bench: ClientBench, stream: dict[str, str], jobs: int) -> None:
        self.bench = bench
        self.stream = stream
        self.jobs = jobs
        self.buffer = b""
        self.head_done = False
        self.terminal: set[str] = set()
        self.last_version: dict[str, int] = {}
        self.backwards = 0
        self.done = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        request = (
            f"GET /api/communities/{self.stream['slug']}/stream?topics=jobs HTTP/1.0\r\n"
            f"Host: 127.0.0.1\r\nAccept: text/event-stream\r\n"
            f"Authorization: Bearer {self.stream['token']}\r\n\r\n"
        )
        transport.write(request.encode())  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        now = time.time()
        self.buffer += data
        if not self.head_done:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            if not self.buffer.startswith((b"HTTP/1.1 200", b"HTTP/1.0 200")):
                self.bench.errors.append(self.buffer[:200].decode("latin-1"))
                self.transport.close()
                return
            self.buffer = self.buffer[end + 4 :]
            self.head_done = True
            self.bench.connected += 1
        *frames, self.buffer = self.buffer.split(b"\n\n")
        for frame in frames:
            self.on_frame(frame, now)

    def on_frame(self, frame: bytes, now: float) -> None:
        if b"\ndata: " not in frame and not frame.startswith(b"data: "):
            return
        event = b""
        data = b""
        for line in frame.split(b"\n"):
            if line.startswith(b"event: "):
                event = line[7:]
            elif line.startswith(b"data: "):
                data = line[6:]
        if not event.startswith(b"jobs.job."):
            return
        envelope = json.loads(data)
        job = envelope["data"]
        version = job["version"]
        if version <= self.last_version.get(job["id"], 0):
            self.backwards += 1
        self.last_version[job["id"]] = version
        message = job["message"]
        if message.startswith("t="):
            latency = now - float(message[2:])
            self.bench.latencies.append(latency)
            occurred = datetime.fromisoformat(envelope["occurred_at"]).timestamp()
            self.bench.from_publish.append(now - occurred)
            if event in TERMINAL:
                self.bench.terminal_latencies.append(latency)
        if event in TERMINAL:
            self.terminal.add(job["id"])
            if len(self.terminal) == self.jobs and not self.done.done():
                self.done.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.bench.drops += 1
            self.done.set_result(None)


class ClientBench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.jobs = args.jobs
        self.connected = 0
        self.drops = 0
        self.errors: list[str] = []
        self.latencies: list[float] = []
        self.terminal_latencies: list[float] = []
        self.from_publish: list[float] = []  # from the outbox row's time (inside the write)


async def run_clients(args: argparse.Namespace) -> None:
    bench = ClientBench(args)
    loop = asyncio.get_running_loop()
    streams = json.loads(args.streams_json)
    per_stream = [len(range(i, args.jobs, len(streams))) for i in range(len(streams))]
    listeners = []
    for _ in range(args.clients):
        for stream, jobs in zip(streams, per_stream, strict=True):
            _, listener = await loop.create_connection(
                functools.partial(Listener, bench, stream, jobs), "127.0.0.1", args.port
            )
            listeners.append(listener)
    deadline = time.monotonic() + 30
    while bench.connected + len(bench.errors) < len(listeners) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    print(json.dumps({"event": "connected", "connected": bench.connected}), flush=True)
    await loop.run_in_executor(None, sys.stdin.readline)  # the publishers are done
    await asyncio.wait([listener.done for listener in listeners], timeout=args.max_wait)
    latencies = sorted(x * 1000 for x in bench.latencies)
    terminal = sum(len(listener.terminal) for listener in listeners)
    from_publish = sorted(x * 1000 for x in bench.from_publish)
    terminal_ms = sorted(x * 1000 for x in bench.terminal_latencies)
    print(
        json.dumps(
            {
                "event": "result",
                "connected": bench.connected,
                "errors": bench.errors[:3],
                "drops": bench.drops,
                "deliveries": len(latencies),
                "terminal_received": terminal,
                "terminal_lost": args.clients * args.jobs - terminal,
                "connections": len(listeners),
                "versions_backwards": sum(listener.backwards for listener in listeners),
                "p50_ms": _round(percentile(latencies, 50)),
                "p95_ms": _round(percentile(latencies, 95)),
                "p99_ms": _round(percentile(latencies, 99)),
                "max_ms": _round(latencies[-1] if latencies else None),
                "from_publish_p50_ms": _round(percentile(from_publish, 50)),
                "from_publish_p99_ms": _round(percentile(from_publish, 99)),
                "terminal_p50_ms": _round(percentile(terminal_ms, 50)),
                "terminal_p99_ms": _round(percentile(terminal_ms, 99)),
            }
        ),
        flush=True,
    )
    for listener in listeners:
        listener.transport.close()


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


# --- orchestration -----------------------------------------------------------------------------
def run_json(argv: list[str], env: dict[str, str], timeout: float) -> dict[str, Any]:
    done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:4])} failed:\n{done.stdout}\n{done.stderr}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def run_jobs(args: argparse.Namespace, env: dict[str, str]) -> dict[str, Any]:
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    me = [PY, "-m", "scripts.bench.jobs_progress"]
    slug = f"bench-jobs-{time.strftime('%H%M%S')}"
    made = run_json(
        [*me, "setup", "--slug", slug, "--jobs", str(args.jobs), "--rate", str(args.rate),
         "--seconds", str(args.seconds), "--communities", str(args.communities)], env, 300,
    )  # fmt: skip
    port = free_port()
    server = start_server("uvicorn", port, env, LOG_DIR / f"jobs-{slug}-server.log")
    clients: subprocess.Popen[str] | None = None
    try:
        clients = subprocess.Popen(
            [*me, "clients", "--port", str(port), "--streams-json", json.dumps(made["streams"]),
             "--jobs", str(args.jobs), "--clients", str(args.clients),
             "--max-wait", str(args.max_wait)],
            cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            preexec_fn=raise_nofile,  # noqa: PLW1509 - the child needs the raised fd limit
        )  # fmt: skip
        reader = LineReader(clients.stdout)
        connected = reader.json_line(60)
        # Jobs started independently neither start nor tick in step: job i starts i / jobs of
        # `--spread` seconds after the first (`--lockstep`: every job at once, the worst case
        # for a community's stream lock).
        ticks = 0.0 if args.lockstep else args.spread * args.rate
        plan = [(job_id, ticks * index / args.jobs) for index, job_id in enumerate(made["jobs"])]
        shares = [plan[i :: args.publishers] for i in range(args.publishers)]
        pub_env = dict(env, DB_POOL_MAX=str(args.threads + 4))
        publishers = [
            subprocess.Popen(
                [
                    *me,
                    "publish",
                    "--jobs-json",
                    json.dumps(share),
                    "--units",
                    str(made["units"]),
                    "--rate",
                    str(args.rate),
                    "--threads",
                    str(max(1, args.threads // args.publishers)),
                ],
                cwd=ROOT,
                env=pub_env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )  # fmt: skip
            for share in shares
        ]
        try:
            readers = [LineReader(p.stdout) for p in publishers]
            for reader_of_one in readers:  # every publisher has claimed its jobs
                reader_of_one.json_line(120)
            start_at = f"{time.time() + 0.5}\n"  # then all clocks start together
            for p in publishers:
                assert p.stdin is not None
                p.stdin.write(start_at)
                p.stdin.close()
            published = [r.json_line(args.seconds + 300) for r in readers]
        finally:
            for p in publishers:
                if p.poll() is None:
                    p.kill()
        assert clients.stdin is not None
        clients.stdin.write("done\n")
        clients.stdin.flush()
        outcome = reader.json_line(args.max_wait + 30)
        server_side = scrape_server(port)
    finally:
        if clients is not None and clients.poll() is None:
            clients.kill()
        stop(server)
    updates = sum(p["updates"] for p in published)
    # + each job's stage begun and its terminal event
    events = sum(p["progress_events"] for p in published) + 2 * args.jobs
    elapsed = max(p["elapsed_s"] for p in published)
    return {
        "jobs": args.jobs,
        "rate_per_job": args.rate,
        "communities": args.communities,
        "clients": args.clients,
        "connected": connected["connected"],
        "publishers": args.publishers,
        "updates": updates,
        # every job's own count rate, added up: the updates/s while all of them run
        "updates_per_s": round(sum(p["job_rates_sum"] for p in published), 1),
        "intended_updates_per_s": args.jobs * args.rate,
        "spread_s": 0.0 if args.lockstep else args.spread,
        "elapsed_s": elapsed,
        "events": events,
        "events_per_s": round(events / (elapsed - args.spread * (not args.lockstep)), 1),
        "publisher_cpu_ms_per_update": round(
            sum(p["cpu_ms_per_update"] * p["updates"] for p in published) / updates, 3
        ),
        "publisher_behind_max_ms": max(p["behind_schedule_max_ms"] for p in published),
        "write_p50_ms": max(p["write_p50_ms"] for p in published),
        "write_p99_ms": max(p["write_p99_ms"] for p in published),
        **{k: v for k, v in outcome.items() if k != "event"},
        "server": server_side,
    }


def scrape_server(port: int) -> dict[str, Any]:
    """What the server saw: the send-to-hub latency of live events (the Redis hop and the
    server's own queueing, without the writer's part) and how often a client's live events
    crossed (a later id arrived first) so that one waited for the other or was fetched."""
    import urllib.request

    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    buckets: list[tuple[float, float]] = []
    found: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("stream_delivery_latency_seconds_bucket"):
            le = line.split('le="', 1)[1].split('"', 1)[0]
            buckets.append((float(le), float(line.rsplit(" ", 1)[1])))
        for name in ("stream_gap_catch_ups_total", "stream_events_coalesced_total"):
            if line.startswith(name + " "):
                found[name] = float(line.rsplit(" ", 1)[1])
    total = buckets[-1][1] if buckets else 0.0
    hub_ms = {
        f"hub_within_{int(le * 1000)}ms_pct": round(100 * count / total, 2)
        for le, count in buckets
        if total and le in (0.005, 0.01, 0.025, 0.05, 0.1)
    }
    return {
        **hub_ms,
        "gap_catch_ups": found.get("stream_gap_catch_ups_total", 0),
        "coalesced": found.get("stream_events_coalesced_total", 0),
    }


def run_reference(args: argparse.Namespace, clients: int, rate: float) -> dict[str, Any]:
    """The stream benchmark with as many connections, at the rate one community's stream got."""
    out = LOG_DIR / f"jobs-reference-{os.getpid()}.jsonl"
    out.unlink(missing_ok=True)
    subprocess.run(
        [PY, "-m", "scripts.bench.stream", "--server", "uvicorn", "--clients", str(clients),
         "--rate", str(rate), "--seconds", str(args.seconds), "--tries", "1",
         "--quiet-wait", str(args.quiet_wait),
         "--json-out", str(out)],
        cwd=ROOT, check=True, timeout=args.seconds + 600, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    result = json.loads(out.read_text().splitlines()[-1])
    return {k: result.get(k) for k in ("clients", "rate", "p50_ms", "p99_ms", "max_ms", "missing")}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "mode", nargs="?", default="run", choices=("run", "setup", "publish", "clients")
    )
    parser.add_argument("--jobs", type=int, default=50)
    parser.add_argument("--rate", type=float, default=10.0, help="updates per second per job")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--clients", type=int, default=20, help="listeners per community")
    parser.add_argument("--communities", type=int, default=1, help="jobs spread over these")
    # One writer thread per process by default, as Celery's prefork workers run jobs: threads
    # of one process holding the stream lock would wait for each other's GIL while holding it.
    parser.add_argument("--publishers", type=int, default=10, help="publisher processes")
    parser.add_argument("--threads", type=int, default=10, help="writer threads in all")
    parser.add_argument("--max-wait", type=float, default=60.0)
    parser.add_argument("--no-reference", action="store_true")
    parser.add_argument("--spread", type=float, default=1.0, help="seconds over which jobs start")
    parser.add_argument("--lockstep", action="store_true", help="every job ticks at once")
    parser.add_argument("--quiet-pct", type=float, default=30.0, help="wait for the box to calm")
    parser.add_argument("--quiet-wait", type=float, default=300.0, help="but no longer than this")
    parser.add_argument("--json-out", type=Path)
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL)
    parser.add_argument("--log-level", default="WARNING")
    parser.add_argument("--keep-db", action="store_true")
    # internal modes
    parser.add_argument("--slug", default="")
    parser.add_argument("--jobs-json", default="[]")
    parser.add_argument("--units", type=int, default=0)
    parser.add_argument("--streams-json", default="[]")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    if args.mode in ("setup", "publish"):
        setup_django()
        result = cmd_setup(args) if args.mode == "setup" else cmd_publish(args)
        print(json.dumps(result), flush=True)
        return 0
    if args.mode == "clients":
        import uvloop

        uvloop.run(run_clients(args))
        return 0
    raise_nofile()
    env = bench_env(args)
    prepare(args, env)
    background = wait_quiet(args.quiet_pct, args.quiet_wait)
    result = {**run_jobs(args, env), "background_busy_pct_before": background}
    print(json.dumps({"jobs_run": result}), file=sys.stderr, flush=True)  # before the reference
    if not args.no_reference:
        result["reference"] = run_reference(
            args,
            args.clients * args.communities,
            round(result["events_per_s"] / args.communities, 2),
        )
        result["p99_over_reference_ms"] = round(result["p99_ms"] - result["reference"]["p99_ms"], 1)
    result["goals"] = {
        "no_terminal_lost": result["terminal_lost"] == 0,
        **(
            {"p99_within_50ms_of_stream": result["p99_over_reference_ms"] <= 50}
            if "reference" in result
            else {}
        ),
    }
    line = json.dumps(result)
    print(line, flush=True)
    if args.json_out:
        with args.json_out.open("a") as fh:
            fh.write(line + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
