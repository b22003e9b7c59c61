"""SSE stream benchmark on the real stack: PostgreSQL, Redis, one ASGI server process.

    python -m scripts.bench.stream --server uvicorn --clients 1000 --rate 10 --seconds 20
    python -m scripts.bench.stream --all            # the matrix written up in docs/benchmarks.md

One run:
 1. database `progression_bench` (dropped, recreated and migrated once per invocation, unless
    --keep-db; migrated again before each run), Redis db 12 (flushed);
 2. a fresh public community;
 3. the server process (config.asgi:application, DEBUG=1) on a free port, `ulimit -n` raised;
 4. warm-up: a few streams opened and closed, then the server's RSS is read ("before");
 5. N SSE clients (scripts/bench/sse_clients.py, its own uvloop process) connect at once to
    /api/communities/<slug>/stream?topics=progression; time until every one has the `retry:`
    preamble; RSS read again once they idle ("after") -> memory per idle connection;
 6. a publisher process (scripts/bench/publisher.py) publishes `rate` events/s for `seconds`
    with realtime.publish inside transaction.atomic, `t` = time.time() in the data;
 7. each client records receive time - t for every event; every client must get every id.
Prints a readable table and one JSON line per run (`--json-out` appends them to a file).

Server presets (--server): uvicorn (uvloop, httptools, backlog 4096, no access log),
uvicorn-2w (the same with --workers 2, like the Procfile's `stream:`), uvicorn-default
(uvicorn's defaults), daphne (Daphne's defaults) and daphne-backlog (Daphne with a Twisted endpoint string raising
the listen backlog from Twisted's default of 50 to 4096). Memory and CPU are summed over the
server's process tree. `--variant` serves an experimental build of the app instead (see
scripts/bench/variants.py) to measure a suggested fix; `--profile` records py-spy stacks.

The box may be shared: before each run the script waits for the machine to calm down, measures
the CPU taken by other processes during the run ("foreign_cpu_pct") and runs again (--tries)
when that exceeds --disturbed-pct, keeping the least disturbed run.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from scripts.bench.helpers import (
    ROOT,
    children_cpu_seconds,
    free_port,
    machine_busy_percent,
    machine_cpu_seconds,
    process_table,
    process_tree,
    raise_nofile,
    tree_cpu_seconds,
)

BENCH = ROOT / "scripts" / "bench"
LOG_DIR = ROOT / "var" / "bench"
PY = sys.executable
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/progression_bench"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/12"

SERVERS: dict[str, list[str]] = {
    "uvicorn": [
        PY, "-m", "uvicorn", "config.asgi:application", "--host", "127.0.0.1", "--port", "{port}",
        "--backlog", "4096", "--no-access-log", "--loop", "uvloop", "--http", "httptools",
        "--ws", "websockets", "--log-level", "warning",
    ],
    "uvicorn-default": [
        PY, "-m", "uvicorn", "config.asgi:application", "--host", "127.0.0.1", "--port", "{port}",
    ],
    "uvicorn-2w": [
        PY, "-m", "uvicorn", "config.asgi:application", "--host", "127.0.0.1", "--port", "{port}",
        "--backlog", "4096", "--no-access-log", "--loop", "uvloop", "--http", "httptools",
        "--ws", "websockets", "--log-level", "warning", "--workers", "2",
    ],
    "daphne": [PY, "-m", "daphne", "-b", "127.0.0.1", "-p", "{port}", "config.asgi:application"],
    "daphne-backlog": [
        PY, "-m", "daphne", "-e", "tcp:port={port}:interface=127.0.0.1:backlog=4096",
        "config.asgi:application",
    ],
}  # fmt: skip

MATRIX: list[tuple[str, int]] = [
    ("uvicorn", 100),
    ("uvicorn", 1000),
    ("uvicorn", 2000),
    ("daphne", 100),
    ("daphne", 1000),
    ("daphne", 2000),
    ("daphne-backlog", 1000),
    ("daphne-backlog", 2000),
    ("uvicorn-2w", 1000),
    ("uvicorn-2w", 2000),
]

GOALS: dict[str, Any] = {"connect_2000_s": 5.0, "p99_ms": {1000: 150.0, 2000: 250.0}}


# --- process plumbing ----------------------------------------------------------------------
def bench_env(args: argparse.Namespace) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=args.database_url,
        REDIS_URL=args.redis_url,
        DEBUG="1",
        LOG_LEVEL=args.log_level,
        DJANGO_SETTINGS_MODULE="config.settings",
        PYTHONUNBUFFERED="1",
        PYTHONPATH=str(ROOT),
    )
    return env


def run_json(argv: list[str], env: dict[str, str], timeout: float) -> dict[str, Any]:
    proc = subprocess.run(
        argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed:\n{proc.stdout}\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


class LineReader:
    """Reads a child's stdout lines on a thread, so the orchestrator can wait with a timeout."""

    def __init__(self, stream: Any) -> None:
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.thread = threading.Thread(target=self._pump, args=(stream,), daemon=True)
        self.thread.start()

    def _pump(self, stream: Any) -> None:
        for line in stream:
            self.lines.put(line)
        self.lines.put(None)

    def json_line(self, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("no answer from the client process")
            line = self.lines.get(timeout=remaining)
            if line is None:
                raise RuntimeError("client process ended without answering")
            line = line.strip()
            if line.startswith("{"):
                return json.loads(line)


def stop(proc: subprocess.Popen | None, timeout: float = 10.0) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout)


# --- /proc readings ---------------------------------------------------------------------------
def proc_status(pid: int) -> dict[str, int]:
    """VmRSS, VmHWM (kB) and Threads summed over the process tree."""
    values = {"VmRSS": 0, "VmHWM": 0, "Threads": 0}
    for member in process_tree(pid):
        try:
            with open(f"/proc/{member}/status") as fh:
                for line in fh:
                    key, _, rest = line.partition(":")
                    if key in values:
                        values[key] += int(rest.split()[0])
        except OSError:
            continue
    return values


def rss_kib(pid: int) -> int:
    return proc_status(pid)["VmRSS"]


def wait_quiet(threshold_pct: float, max_wait: float) -> float:
    """This box is shared: wait (up to max_wait) for other work to calm down before a run, and
    return the background load seen last, recorded with the run."""
    deadline = time.monotonic() + max_wait
    while True:
        busy = machine_busy_percent(2.0)
        if busy <= threshold_pct or time.monotonic() >= deadline:
            return round(busy, 1)
        print(f"machine {busy:.0f}% busy; waiting for it to calm down", file=sys.stderr)


SHARED_SERVICES = {"postgres", "redis-server"}


def foreign_cpu(before: dict[int, tuple[str, int, float]]) -> float:
    """CPU seconds spent since `before` by processes that are not this benchmark's (not
    descendants of this process) nor PostgreSQL or Redis: other work sharing the machine."""
    after = process_table()
    me = os.getpid()
    total = 0.0
    for pid, (comm, _, cpu) in after.items():
        if comm in SHARED_SERVICES or comm.startswith("postgres"):
            continue
        ancestor, hops = pid, 0
        while ancestor not in (0, 1, me) and ancestor in after and hops < 64:
            ancestor, hops = after[ancestor][1], hops + 1
        if ancestor == me:
            continue
        total += cpu - (before[pid][2] if pid in before and before[pid][0] == comm else 0.0)
    return total


# --- the stack -------------------------------------------------------------------------------
def prepare(args: argparse.Namespace, env: dict[str, str]) -> None:
    import psycopg
    import redis
    from psycopg import sql

    name = str(psycopg.conninfo.conninfo_to_dict(args.database_url)["dbname"])
    admin = psycopg.conninfo.make_conninfo(args.database_url, dbname="postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if exists and not args.keep_db:
            # A scratch database: dropped so that migrations edited in place apply afresh.
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))
            exists = None
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    migrate(env)
    redis.Redis.from_url(args.redis_url).flushdb()  # db 12 is the benchmark's own


def migrate(env: dict[str, str]) -> None:
    """Before every run too: the app's code (and migrations) may have moved on meanwhile."""
    subprocess.run(
        [PY, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True
    )


def start_server(
    kind: str, port: int, env: dict[str, str], log_path: Path, variant: str = ""
) -> subprocess.Popen:
    argv = [part.replace("{port}", str(port)) for part in SERVERS[kind]]
    if variant:  # an experimental build of the app, see scripts/bench/variants.py
        argv = ["bench.variants:application" if a == "config.asgi:application" else a for a in argv]
        env = dict(env, BENCH_VARIANT=variant, PYTHONPATH=f"{ROOT}{os.pathsep}{BENCH.parent}")
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            argv,
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=raise_nofile,  # noqa: PLW1509 - the child needs the raised fd limit
        )
    deadline = time.monotonic() + 30
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"{kind} exited:\n{log_path.read_text()}")
        try:
            status, _ = http_get(port, "/healthz", timeout=1.0)
            if status == 200:
                return proc
        except OSError:
            pass
        if time.monotonic() > deadline:
            stop(proc)
            raise RuntimeError(f"{kind} not healthy in 30s:\n{log_path.read_text()}")
        time.sleep(0.1)


def http_get(port: int, path: str, timeout: float) -> tuple[int, bytes]:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode()
        )
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return int(data[9:12]), data


def warm_up(port: int, path: str, count: int) -> None:
    """Opens and closes a few streams so imports, the hub, pools and caches exist before the
    'before' memory reading; what remains is per-connection cost."""
    socks = []
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
        socks.append(sock)
    for sock in socks:
        data = b""
        while b"retry:" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                raise RuntimeError(f"warm-up stream closed: {data!r}")
            data += chunk
        if not data.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(f"warm-up stream refused: {data[:300]!r}")
    for sock in socks:
        sock.close()


def py_spy(pid: int, seconds: float, out: Path) -> subprocess.Popen | None:
    exe = shutil.which("py-spy") or str(Path(PY).with_name("py-spy"))
    if not Path(exe).exists():
        print("py-spy not installed (pip install py-spy); no profile", file=sys.stderr)
        return None
    return subprocess.Popen(
        [exe, "record", "--pid", str(pid), "--subprocesses", "--duration", str(int(seconds)), "--rate", "200",
         "--format", "raw", "--output", str(out), "--nonblocking"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


# --- one run ---------------------------------------------------------------------------------
def run_once(args: argparse.Namespace, env: dict[str, str], kind: str, clients: int) -> dict:
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    background = wait_quiet(args.quiet_pct, args.quiet_wait)
    stamp = time.strftime("%H%M%S")
    slug = f"bench-{kind}-{clients}-{stamp}-{os.getpid() % 1000}"[:50]
    run_name = f"{kind}-{clients}-{stamp}"
    publisher = BENCH / "publisher.py"
    migrate(env)
    run_json([PY, str(publisher), "setup", "--slug", slug], env, 60)
    path = f"/api/communities/{slug}/stream?topics=progression"
    port = free_port()
    server = start_server(kind, port, env, LOG_DIR / f"{run_name}-server.log", args.variant)
    client_proc: subprocess.Popen | None = None
    result: dict[str, Any] = {"server": kind, "clients": clients, "rate": args.rate}
    if args.variant:
        result["variant"] = args.variant
    try:
        warm_up(port, path, args.warmup)
        time.sleep(1.0)
        rss_before = rss_kib(server.pid)
        threads_before = proc_status(server.pid)["Threads"]
        cpu_connect0 = tree_cpu_seconds(server.pid)
        others0 = process_table()
        started = time.monotonic()
        connect_profile = None
        if args.profile in ("connect", "both"):
            connect_profile_path = LOG_DIR / f"{run_name}-connect.pyspy.txt"
            connect_profile = py_spy(server.pid, args.connect_timeout, connect_profile_path)
            result["profile_connect"] = str(connect_profile_path.relative_to(ROOT))
            time.sleep(0.5)  # py-spy attached before the first client
        with (LOG_DIR / f"{run_name}-clients.log").open("wb") as client_log:
            client_proc = subprocess.Popen(
                [PY, "-m", "scripts.bench.sse_clients", "--port", str(port), "--path", path,
                 "--clients", str(clients), "--connect-timeout", str(args.connect_timeout)],
                cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=client_log, text=True, preexec_fn=raise_nofile,  # noqa: PLW1509
            )  # fmt: skip
        reader = LineReader(client_proc.stdout)
        connected = reader.json_line(args.connect_timeout + 30)
        cpu_connect = tree_cpu_seconds(server.pid) - cpu_connect0
        if connect_profile is not None:
            connect_profile.send_signal(signal.SIGINT)  # py-spy writes what it has and exits
            connect_profile.wait(30)
        time.sleep(args.settle)
        rss_idle = rss_kib(server.pid)
        threads_idle = proc_status(server.pid)["Threads"]
        n_conn = max(1, connected["connected"])

        profile = None
        if args.profile in ("publish", "both"):
            profile_path = LOG_DIR / f"{run_name}-publish.pyspy.txt"
            profile = py_spy(server.pid, args.seconds + 1, profile_path)
            result["profile_publish"] = str(profile_path.relative_to(ROOT))
        cpu_pub0 = tree_cpu_seconds(server.pid)
        wall0 = time.monotonic()
        client_cpu0 = tree_cpu_seconds(client_proc.pid)
        publisher_cpu0 = children_cpu_seconds()
        busy0, total0 = machine_cpu_seconds()
        published = run_json(
            [PY, str(publisher), "publish", "--slug", slug, "--rate", str(args.rate),
             "--seconds", str(args.seconds), "--payload-bytes", str(args.payload_bytes)],
            env, args.seconds + 120,
        )  # fmt: skip
        busy1, total1 = machine_cpu_seconds()
        cpu_pub = tree_cpu_seconds(server.pid) - cpu_pub0
        client_cpu_pub = tree_cpu_seconds(client_proc.pid) - client_cpu0
        publisher_cpu = children_cpu_seconds() - publisher_cpu0
        window = time.monotonic() - wall0  # publisher start-up included, as in the CPU figures
        busy_pct = 100 * (busy1 - busy0) / max(1e-9, total1 - total0)
        # busy CPU not spent by server, generator or publisher (as % of the whole machine):
        # PostgreSQL, Redis, the kernel's loopback work, and anything else running on the box.
        other_pct = busy_pct - 100 * (cpu_pub + client_cpu_pub + publisher_cpu) / (total1 - total0)
        command = {"expected": published["ids"], "grace": args.grace, "max_wait": args.max_wait}
        assert client_proc.stdin is not None  # opened with stdin=PIPE
        client_proc.stdin.write(json.dumps(command))
        client_proc.stdin.write("\n")
        client_proc.stdin.flush()
        outcome = reader.json_line(args.max_wait + 60)
        foreign = foreign_cpu(others0) / (time.monotonic() - started)
        status_end = proc_status(server.pid)
        if profile is not None:
            profile.wait(30)
        result.update(
            {
                "connected": outcome["connected"],
                "all_connected_s": connected["all_connected_s"],
                "last_connected_s": outcome["last_connected_s"],
                "connect_p50_ms": connected["connect_p50_ms"],
                "connect_p99_ms": connected["connect_p99_ms"],
                "connect_attempts": outcome["attempts"],
                "connect_errors": outcome["connect_errors"],
                "http_errors": outcome["http_errors"],
                "events": published["count"],
                "deliveries": outcome["deliveries"],
                "expected_deliveries": outcome["expected_deliveries"],
                "missing": outcome["missing"],
                # events not delivered to clients that were connected before publishing began
                "missing_connected": outcome["missing_connected"],
                "drain_s": outcome["drain_s"],
                "clients_missing": outcome["clients_missing"],
                "duplicates": outcome["duplicates"],
                "out_of_order": outcome["out_of_order"],
                "drops": outcome["drops"],
                "controls": outcome["controls"],
                "p50_ms": outcome["p50_ms"],
                "p95_ms": outcome["p95_ms"],
                "p99_ms": outcome["p99_ms"],
                "max_ms": outcome["max_ms"],
                "mean_ms": outcome["mean_ms"],
                "first_receiver_p50_ms": outcome["first_receiver_p50_ms"],
                "fanout_spread_p50_ms": outcome["fanout_spread_p50_ms"],
                "fanout_spread_p99_ms": outcome["fanout_spread_p99_ms"],
                "publish_p50_ms": published["publish_p50_ms"],
                "publish_p99_ms": published["publish_p99_ms"],
                "publisher_behind_max_ms": published["behind_schedule_max_ms"],
                "rss_before_mib": round(rss_before / 1024, 1),
                "rss_idle_mib": round(rss_idle / 1024, 1),
                "rss_end_mib": round(status_end["VmRSS"] / 1024, 1),
                "rss_peak_mib": round(status_end["VmHWM"] / 1024, 1),
                "kib_per_idle_conn": round((rss_idle - rss_before) / n_conn, 1),
                "server_threads": [threads_before, threads_idle, status_end["Threads"]],
                "server_cpu_connect_s": round(cpu_connect, 2),
                "server_cpu_publish_pct": round(100 * cpu_pub / window, 1),
                "client_cpu_publish_pct": round(100 * client_cpu_pub / window, 1),
                "publisher_cpu_pct": round(100 * publisher_cpu / window, 1),
                "machine_busy_pct": round(busy_pct, 1),
                "machine_other_pct": round(other_pct, 1),
                "background_busy_pct_before": background,
                # other work on the box during the run, in % of one core: > ~10 means disturbed
                "foreign_cpu_pct": round(100 * foreign, 1),
            }
        )
        result["goals"] = check_goals(result)
    finally:
        if client_proc is not None:
            if client_proc.stdin and not client_proc.stdin.closed:
                with contextlib.suppress(BrokenPipeError):
                    client_proc.stdin.close()
            try:
                client_proc.wait(15)
            except subprocess.TimeoutExpired:
                client_proc.kill()
                client_proc.wait()
        stop(server)
    return result


def run_undisturbed(args: argparse.Namespace, env: dict[str, str], kind: str, clients: int) -> dict:
    """Runs again (up to --tries) while other work on the box took more than --disturbed-pct
    of a core during the run; keeps the least disturbed run."""
    best: dict[str, Any] | None = None
    for attempt in range(1, args.tries + 1):
        try:
            result = run_once(args, env, kind, clients)
        except Exception as exc:  # noqa: BLE001 - one failed run must not lose the others
            result = {"server": kind, "clients": clients, "error": repr(exc)[:2000]}
        result["attempt"] = attempt
        if "error" in result:
            if best is None:
                best = result
            continue
        result["disturbed"] = result["foreign_cpu_pct"] > args.disturbed_pct
        if best is None or "error" in best or result["foreign_cpu_pct"] < best["foreign_cpu_pct"]:
            best = result
        if not result["disturbed"]:
            break
        print(
            f"{kind} N={clients}: other work took {result['foreign_cpu_pct']}% of a core "
            f"during the run (p99 {result['p99_ms']} ms)"
            + ("; running again" if attempt < args.tries else "; keeping the least disturbed"),
            file=sys.stderr,
        )
    assert best is not None
    return best


def check_goals(r: dict[str, Any]) -> dict[str, Any]:
    goals: dict[str, Any] = {
        "every_client_connected": r["connected"] == r["clients"],
        "every_event_delivered": r["missing_connected"] == 0 and r["duplicates"] == 0,
    }
    if r["clients"] >= 2000:
        t = r["all_connected_s"]
        goals["all_connected_within_5s"] = t is not None and t <= GOALS["connect_2000_s"]
    limit = GOALS["p99_ms"].get(r["clients"])
    if limit is not None and r["p99_ms"] is not None:
        goals[f"p99_le_{int(limit)}ms"] = r["p99_ms"] <= limit
    return goals


# --- output ----------------------------------------------------------------------------------
def _missing(r: dict[str, Any]) -> Any:
    if "missing_connected" in r:
        return r["missing_connected"]
    return r["missing"] - (r["clients"] - r["connected"]) * r["events"]  # older records


def _all_in(r: dict[str, Any]) -> str:
    if r.get("all_connected_s") is not None:
        return f"{r['all_connected_s']:.1f}"
    return "not all"  # see the conn column


COLUMNS: list[tuple[str, Any]] = [
    ("server", lambda r: r["server"] + (f" +{r['variant']}" if r.get("variant") else "")),
    ("N", lambda r: r["clients"]),
    ("conn", lambda r: r["connected"]),
    ("all in s", _all_in),
    ("p50 ms", lambda r: r["p50_ms"]),
    ("p95 ms", lambda r: r["p95_ms"]),
    ("p99 ms", lambda r: r["p99_ms"]),
    ("max ms", lambda r: r["max_ms"]),
    ("delivered", lambda r: r["deliveries"]),
    ("missing", _missing),
    ("drain s", lambda r: r.get("drain_s")),
    ("KiB/conn", lambda r: r["kib_per_idle_conn"]),
    ("RSS MiB", lambda r: f"{r['rss_before_mib']:.0f}→{r['rss_idle_mib']:.0f}"),
    ("srv CPU%", lambda r: r["server_cpu_publish_pct"]),
    ("gen CPU%", lambda r: r["client_cpu_publish_pct"]),
    ("other CPU%", lambda r: r.get("foreign_cpu_pct")),
]
"""Columns: N clients, how many connected and when all had, publish-to-receive latency, every
(client, event) delivery and those missing among connected clients, seconds after publishing
stopped until the last arrived, server RSS per idle connection and before→after connecting,
CPU of the server, of the load generator and of other work on the box while publishing (% of
one core)."""


def table(results: list[dict[str, Any]], markdown: bool = False) -> str:
    head = [title for title, _ in COLUMNS]
    rows = [[str(get(r)) for _, get in COLUMNS] for r in results]
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        return "\n".join(lines)
    widths = [max([len(h)] + [len(row[i]) for row in rows]) for i, h in enumerate(head)]
    out = ["  ".join(h.rjust(w) for h, w in zip(head, widths, strict=True))]
    out += ["  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    return "\n".join(out)


def machine() -> dict[str, Any]:
    import importlib.metadata as md

    versions = {}
    for package in ("Django", "channels", "channels_redis", "uvicorn", "uvloop", "httptools",
                    "daphne", "Twisted", "psycopg", "redis"):  # fmt: skip
        with contextlib.suppress(md.PackageNotFoundError):
            versions[package] = md.version(package)

    def git(*argv: str) -> str:
        out = subprocess.run(["git", *argv], cwd=ROOT, capture_output=True, text=True, check=False)
        return out.stdout.strip()

    return {
        "git_head": git("rev-parse", "--short", "HEAD"),
        # uncommitted changes to the code under test, if any (other work may be in progress)
        "git_dirty": git("status", "--porcelain", "--", "realtime", "config", "communities"),
        "nproc": os.cpu_count(),
        "python": sys.version.split()[0],
        "kernel": os.uname().release,
        "versions": versions,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description="SSE publish-to-receive benchmark")
    parser.add_argument("--server", choices=sorted(SERVERS), default="uvicorn")
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=10.0, help="events per second")
    parser.add_argument("--seconds", type=float, default=20.0, help="publishing time")
    parser.add_argument("--all", action="store_true", help="run the whole matrix")
    parser.add_argument("--repeat", type=int, default=1, help="runs per configuration")
    parser.add_argument("--connect-timeout", type=float, default=60.0)
    parser.add_argument(
        "--grace", type=float, default=10.0, help="after publishing, stop once nothing arrived for"
    )
    parser.add_argument("--max-wait", type=float, default=180.0, help="after publishing, at most")
    parser.add_argument("--settle", type=float, default=3.0, help="idle before RSS 'after'")
    parser.add_argument("--warmup", type=int, default=10, help="streams opened before 'before'")
    parser.add_argument("--payload-bytes", type=int, default=0)
    parser.add_argument(
        "--profile",
        choices=("publish", "connect", "both"),
        help="py-spy the server (raw collapsed stacks under var/bench/) during that phase",
    )
    parser.add_argument(
        "--quiet-pct",
        type=float,
        default=30.0,
        help="wait until the machine is at most this busy before each run",
    )
    parser.add_argument("--quiet-wait", type=float, default=300.0, help="but no longer than this")
    parser.add_argument("--tries", type=int, default=3, help="runs while disturbed")
    parser.add_argument(
        "--disturbed-pct",
        type=float,
        default=10.0,
        help="foreign CPU (%% of a core) above which a run counts as disturbed",
    )
    parser.add_argument(
        "--variant",
        default="",
        help="serve an experimental build (scripts/bench/variants.py): nosession,timerwake,labels",
    )
    parser.add_argument("--json-out", type=Path, help="append each run's JSON line here")
    parser.add_argument("--markdown", action="store_true", help="table as Markdown")
    parser.add_argument(
        "--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE_URL)
    )
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS_URL))
    parser.add_argument("--log-level", default="INFO")
    parser.add_argument(
        "--keep-db", action="store_true", help="reuse progression_bench instead of recreating it"
    )
    parser.add_argument(
        "--table-from",
        type=Path,
        help="only print the table of the runs recorded in this --json-out file",
    )
    args = parser.parse_args()

    if args.table_from:
        recorded = [json.loads(line) for line in args.table_from.read_text().splitlines() if line]
        print(table([r for r in recorded if "error" not in r], markdown=args.markdown))
        return 0
    raise_nofile()
    env = bench_env(args)
    prepare(args, env)
    plan = MATRIX if args.all else [(args.server, args.clients)]
    results = []
    for kind, clients in plan:
        for _ in range(args.repeat):
            result = run_undisturbed(args, env, kind, clients)
            result["machine"] = machine()
            results.append(result)
            line = json.dumps(result)
            print(line, flush=True)
            if args.json_out:
                with args.json_out.open("a") as fh:
                    fh.write(line + "\n")
            time.sleep(2)  # let sockets of the previous run drain
    print()
    print(table([r for r in results if "error" not in r], markdown=args.markdown))
    for r in results:
        if "error" in r:
            print(f"{r['server']} N={r['clients']}: {r['error']}", file=sys.stderr)
    return 1 if any("error" in r for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
