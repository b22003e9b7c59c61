"""Engagement ingest benchmark on the real stack (issue 4, point 17).

Starts what the Procfile starts for production — the web process (the Procfile's `web:` line:
gunicorn with two uvicorn workers on one socket, DEBUG=0; `--web` picks another) and a Celery worker
(concurrency 1) — on PostgreSQL and Redis, drives
`POST /api/communities/<slug>/engagement` with wrk and with a Python open-loop generator, and
reports requests/s, events/s and p50/p95/p99 against the goals:

  a. /healthz, wrk -t2 -c64 -d15s                      the reference for (b)
  b. single-event POSTs, same wrk settings             goal: >= half of (a), same run
  c. single-event POSTs offered at 200 req/s for 20 s  goal: p99 < 50 ms (open loop)
  d. batches of 1,000 events, a few connections        goal: >= 20,000 events/s
  e. 1,000 connections each sending one request at once, default rate limits
                                                       goal: only 200 or 429, no other error
  f. after every run: `manage.py check_integrity <community>` passes; Unlock rows counted

Every part gets a fresh community with a tree of 30 one-level nodes whose cost is sized so the
run crosses a few thresholds (unlocks happen during the load, done by the worker). (b), (c) and
(d) raise the per-viewer and per-community limits and spread events over 10,000 viewers; (e)
keeps the defaults and sends from 25 viewers, so both 200 and 429 come back.

Usage (from the repository root, with the virtualenv active):

    python -m scripts.bench.ingest --all                 # a-f, table + one JSON line
    python -m scripts.bench.ingest --healthz --single    # any subset of the parts
    python -m scripts.bench.ingest --all --profile       # also py-spy the web process and
                                                         # sample PostgreSQL wait events (slower)

Needs: PostgreSQL on 127.0.0.1:5432 (user postgres, trust), Redis on 127.0.0.1:6379 (db 9 is
flushed), `wrk` on PATH (apt-get install wrk); `py-spy` in the virtualenv for --profile. The
database `progression_bench_ingest` is dropped and re-created on every invocation. Before each
measured part it waits until no `bench_stream` process runs, so two benchmarks never share the
two cores.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections import Counter, defaultdict
from pathlib import Path

from scripts.bench.helpers import (
    BIN,
    ROOT,
    children_cpu_seconds,
    cmdline,
    free_port,
    machine_busy_percent,
    machine_cpu_seconds,
    proc_cpu_seconds,
    process_tree,
)

BENCH = ROOT / "scripts" / "bench"
LOGS = ROOT / "var" / "bench_ingest"
DB_NAME = "progression_bench_ingest"
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
REDIS_URL = "redis://127.0.0.1:6379/9"
HOT_ROW_REFERENCE = 2800  # ANCHORS.md: one hot row, 64 writers, updates/s on this machine
GOAL_BATCH_EVENTS = 20_000
GOAL_P99_MS = 50.0
HIGH_LIMITS = {
    "viewer_rate": 1_000_000,
    "viewer_burst": 1_000_000,
    "community_rate": 10_000_000,
    "community_burst": 10_000_000,
}

ENV = {
    **os.environ,
    "DJANGO_SETTINGS_MODULE": "config.settings",
    "DATABASE_URL": f"postgresql://postgres@127.0.0.1:5432/{DB_NAME}",
    "REDIS_URL": REDIS_URL,
    "DEBUG": "0",
    "SECRET_KEY": "bench-ingest-" + "x" * 40,
    "LOG_LEVEL": "WARNING",
    "PYTHONUNBUFFERED": "1",
    "BENCH_INGEST_OWNER": str(os.getpid()),  # lets a later run end what a killed run left
}


def log(message: str) -> None:
    print(f"[bench_ingest {time.strftime('%H:%M:%S')}] {message}", flush=True)


# --- The machine -----------------------------------------------------------------------------


def wait_for_exclusive_cpu(max_wait: float) -> float:
    """Waits while another benchmark (scripts.bench.stream) runs, then until the cores are idle (a
    leftover server of another tool would skew every figure); returns the seconds waited."""
    began = time.monotonic()
    announced = set()
    while time.monotonic() - began < max_wait:
        found = subprocess.run(
            ["pgrep", "-f", "scripts.bench.stream"], capture_output=True, text=True
        )
        if found.stdout.strip():
            if "stream" not in announced:
                log(
                    f"the stream benchmark is running (pids {found.stdout.split()}); waiting for it to end"
                )
                announced.add("stream")
            time.sleep(2)
            continue
        idle = 1 - machine_busy_percent(1.0) / 100
        if idle >= 0.85:
            return time.monotonic() - began
        if "busy" not in announced:
            log(f"the CPU is only {idle:.0%} idle; waiting for it to quieten")
            announced.add("busy")
    log("WARNING: still sharing the machine after the maximum wait")
    return time.monotonic() - began


def listen_overflows() -> int:
    """The kernel's count of connections dropped because a listen queue was full (all sockets
    on the machine, so read it as a difference around one part)."""
    lines = Path("/proc/net/netstat").read_text().splitlines()
    for names, values in zip(lines[::2], lines[1::2], strict=False):
        if names.startswith("TcpExt:"):
            table = dict(zip(names.split()[1:], values.split()[1:], strict=False))
            return int(table.get("ListenOverflows", 0))
    return 0


def listen_backlog(port: int) -> int | None:
    """The accept-queue size of the web process's listening socket (ss shows it as Send-Q)."""
    out = subprocess.run(
        ["ss", "-ltnH", f"sport = :{port}"], capture_output=True, text=True
    ).stdout.split()
    return int(out[2]) if len(out) > 2 and out[2].isdigit() else None


def machine_info() -> dict:
    def run(cmd: list[str]) -> str:
        try:
            return subprocess.run(cmd, capture_output=True, text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return "?"

    pg = run(["psql", PG_ADMIN, "-Atc", "SHOW server_version"])
    redis_info = run(["redis-cli", "-h", "127.0.0.1", "info", "server"])
    redis_version = re.search(r"redis_version:(\S+)", redis_info)
    cpu = re.search(r"model name\s*:\s*(.+)", Path("/proc/cpuinfo").read_text())
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu.group(1).strip() if cpu else "?",
        "python": sys.version.split()[0],
        "postgresql": pg,
        "redis": redis_version.group(1) if redis_version else "?",
        "wrk": run(["wrk", "--version"]).splitlines()[0] if shutil.which("wrk") else "missing",
    }


class CpuMeter:
    """CPU seconds per component over a run, from /proc (the load generator from rusage)."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack

    def _sample(self) -> dict[str, float]:
        groups: defaultdict[str, float] = defaultdict(float)
        for pid in process_tree(self.stack.web.pid):
            groups["web"] += proc_cpu_seconds(pid)
        for pid in process_tree(self.stack.worker.pid):
            groups["worker (celery)"] += proc_cpu_seconds(pid)
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            cmd = cmdline(int(entry.name))
            if cmd.startswith("postgres:"):
                # Backends name their database; other sessions' backends are "other".
                backend = "(" in cmd or "[local]" in cmd
                if not backend or f" {DB_NAME} " in cmd:
                    groups["postgresql"] += proc_cpu_seconds(int(entry.name))
            elif "redis-server" in cmd.split(" ")[0]:
                groups["redis"] += proc_cpu_seconds(int(entry.name))
        groups["load generator"] = children_cpu_seconds()
        groups["other processes"] = machine_cpu_seconds()[0] - sum(groups.values())
        return dict(groups)

    def __enter__(self) -> CpuMeter:
        self.began = time.monotonic()
        self.before = self._sample()
        return self

    def __exit__(self, *exc: object) -> None:
        after = self._sample()
        wall = time.monotonic() - self.began
        self.percent = {
            name: round(100 * (after.get(name, 0) - self.before.get(name, 0)) / wall, 1)
            for name in after
        }
        if self.percent.get("other processes", 0) > 15:
            log(f"WARNING: other processes used {self.percent['other processes']}% CPU meanwhile")


# --- The stack -------------------------------------------------------------------------------


def end_orphans() -> None:
    """Ends what an earlier run of this script left behind when it was killed before it could
    stop its stack (a stale worker would consume this run's tasks with old code). Only
    processes carrying BENCH_INGEST_OWNER of a run whose process is gone are touched."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        owner = next((e[19:] for e in environ if e.startswith(b"BENCH_INGEST_OWNER=")), None)
        if owner and owner.isdigit() and not Path(f"/proc/{int(owner)}").exists():
            log(f"ending pid {entry.name} left by an earlier run ({cmdline(int(entry.name))[:80]})")
            try:
                os.kill(int(entry.name), signal.SIGKILL)
            except OSError:
                pass


def recreate_database() -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(DB_NAME))
        )
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DB_NAME)))
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=ROOT,
        env=ENV,
        check=True,
    )
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()


# Web processes the harness can run (`--web`, `--compare`). Each is a shell command line run
# with HOST, PORT and this run's environment; `procfile` is whatever the Procfile's `web:` runs.
SUPERVISOR_CONF = """[supervisord]
nodaemon=true
logfile={logs}/supervisord.log
pidfile={logs}/supervisord.pid

[fcgi-program:web]
socket=tcp://127.0.0.1:{port}
socket_backlog=4096
directory={root}
command={bin}/daphne --fd 0 config.asgi:application
numprocs={processes}
process_name=web%(process_num)d
autorestart=true
stopsignal=TERM
stopwaitsecs=9
redirect_stderr=true
stdout_logfile={logs}/web-%(process_num)d.log
"""
OLD_LAUNCHER_COMMIT = "a75d2c1"  # the last commit with scripts/serve_web.py (issue 7, D13)


def procfile_web() -> str:
    for line in (ROOT / "Procfile").read_text().splitlines():
        if line.startswith("web:"):
            return line.partition(":")[2].strip()
    raise RuntimeError("the Procfile has no web: process")


def web_command(name: str, port: int) -> str:
    """The shell command of a web preset (see --web)."""
    if name == "procfile":
        return procfile_web()
    if name == "daphne-supervisor":  # Channels' documented deployment
        if not (BIN / "supervisord").exists():
            raise SystemExit("daphne-supervisor needs supervisor: pip install supervisor")
        conf = LOGS / "supervisord.conf"
        conf.write_text(
            SUPERVISOR_CONF.format(logs=LOGS, port=port, root=ROOT, bin=BIN, processes=2)
        )
        return f"{BIN}/supervisord -n -c {conf}"
    if name == "serve-web":  # the home-made launcher D13 replaced, from git history
        script = LOGS / "serve_web.py"
        script.write_bytes(
            subprocess.run(
                ["git", "show", f"{OLD_LAUNCHER_COMMIT}:scripts/serve_web.py"],
                cwd=ROOT,
                capture_output=True,
                check=True,
            ).stdout
        )
        return f"{BIN}/python {script} --host 127.0.0.1 --port {port} --processes 2"
    return name.format(port=port, bin=BIN)  # a command line of its own


WEB_PRESETS = ("procfile", "daphne-supervisor", "serve-web")


class Stack:
    """The web process and a Celery worker, as the Procfile runs them, each in its own
    process group."""

    def __init__(self, port: int, web: str = "procfile") -> None:
        self.port = port
        LOGS.mkdir(parents=True, exist_ok=True)
        self.web_log = open(LOGS / "web.log", "w")  # noqa: SIM115
        self.worker_log = open(LOGS / "worker.log", "w")  # noqa: SIM115
        self.command = web_command(web, port)
        self.web = subprocess.Popen(
            ["bash", "-c", f"exec {self.command}"],
            cwd=ROOT,
            env={
                **ENV,
                "HOST": "127.0.0.1",
                "PORT": str(port),
                "PATH": f"{BIN}{os.pathsep}{ENV.get('PATH', '')}",
            },
            stdout=self.web_log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.worker = subprocess.Popen(
            [
                str(BIN / "celery"),
                "-A",
                "config",
                "worker",
                "--concurrency=1",
                "--loglevel=WARNING",
                "-n",
                f"bench-ingest-{os.getpid()}@%h",
            ],
            cwd=ROOT,
            env=ENV,
            stdout=self.worker_log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.base = f"http://127.0.0.1:{port}"

    def wait_ready(self, timeout: float = 180) -> None:  # a loaded box starts celery slowly
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.web.poll() is not None:
                raise RuntimeError(f"the web process exited; see {LOGS / 'web.log'}")
            try:
                with urllib.request.urlopen(f"{self.base}/healthz", timeout=2) as r:  # noqa: S310
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(0.3)
        else:
            raise RuntimeError("the web process did not answer /healthz")
        # The worker is ready once it has consumed the reconcile task it sends itself on start.
        import redis

        client = redis.Redis.from_url(REDIS_URL)
        while time.monotonic() < deadline:
            if self.worker.poll() is not None:
                raise RuntimeError(f"celery exited; see {LOGS / 'worker.log'}")
            if client.keys("_kombu.binding.*") and client.llen("celery") == 0:
                time.sleep(1.0)
                return
            time.sleep(0.3)
        raise RuntimeError("the celery worker did not start")

    def stop(self) -> None:
        for proc in (self.web, self.worker):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in (self.web, self.worker):
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        self.web_log.close()
        self.worker_log.close()


# --- Communities -----------------------------------------------------------------------------


def django_ready() -> None:
    import django

    os.environ.update(ENV)
    for entry in reversed(ENV.get("PYTHONPATH", "").split(os.pathsep)):
        if entry and entry not in sys.path:
            sys.path.insert(0, entry)
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    django.setup()


def make_community(slug: str, *, cost: int, limits: dict | None, nodes: int = 30) -> dict:
    """A public community with `nodes` one-level nodes of `cost` points, a target already set
    (the opening vote closed by a moderator; the next votes resolve at each unlock), an ingest
    token, and optionally raised rate limits."""
    from django.db import close_old_connections, transaction

    from communities.services import create_api_token, create_community
    from progression import cache as pcache
    from progression.models import Node, ProgressionSettings, UnlockProgress
    from progression.services import voting
    from progression.services.state import active_state, settings_key

    community = create_community(slug=slug, name=f"Bench {slug}")
    with transaction.atomic():
        Node.objects.bulk_create(
            [
                Node(
                    community=community,
                    key=f"upgrade_{i:02d}",
                    name=f"Upgrade {i}",
                    tier=0,
                    size="small",
                    max_level=1,
                    cost_override=cost,
                )
                for i in range(nodes)
            ]
        )
        if limits:
            ProgressionSettings.objects.update_or_create(community=community, defaults=limits)
            pcache.invalidate_on_commit(settings_key(community.pk))
    active_state(community)  # opens the season; several candidates -> an opening vote
    voting.close_vote(community, resolved_by="moderator")
    progress = UnlockProgress.objects.get(community=community, status="active")
    if progress.node_id is None:
        raise RuntimeError(f"{slug}: no target after closing the opening vote")
    token = create_api_token(community=community, name="bench_ingest", scopes=["ingest"]).secret
    close_old_connections()
    return {"slug": slug, "id": community.pk, "token": token, "cost": cost}


def settle_and_check(community: dict, stack: Stack, timeout: float = 60) -> dict:
    """Waits for the worker to finish the unlocks the run triggered, then runs check_integrity
    (printing its output) and counts what the run left behind."""
    import redis
    from django.db import close_old_connections
    from django.db.models import Sum

    from progression.models import Contribution, Unlock, UnlockProgress
    from progression.services.state import season_total

    client = redis.Redis.from_url(REDIS_URL)
    deadline = time.monotonic() + timeout
    settled = False
    while time.monotonic() < deadline:
        progress = UnlockProgress.objects.filter(
            community_id=community["id"], status="active"
        ).first()
        due = (
            progress is not None
            and progress.cost is not None
            and season_total(progress.season_id) - progress.offset >= progress.cost
        )
        if not due and client.llen("celery") == 0:
            settled = True
            break
        time.sleep(0.5)
    check = subprocess.run(
        [sys.executable, "manage.py", "check_integrity", community["slug"]],
        cwd=ROOT,
        env=ENV,
        capture_output=True,
        text=True,
    )
    output = (check.stdout + check.stderr).strip()
    print(f"  $ manage.py check_integrity {community['slug']}\n  " + output.replace("\n", "\n  "))
    unlocks = Unlock.objects.filter(community_id=community["id"])
    closed = UnlockProgress.objects.filter(community_id=community["id"], status="closed")
    ledger = Contribution.objects.filter(community_id=community["id"]).aggregate(p=Sum("points"))
    result = {
        "integrity_ok": check.returncode == 0,
        "integrity_output": output,
        "settled": settled,
        "unlocks": unlocks.filter(reason="points").count(),
        "unlocks_all": unlocks.count(),
        "discarded_points": closed.aggregate(d=Sum("discarded"))["d"] or 0,
        "ledger_events": Contribution.objects.filter(community_id=community["id"]).count(),
        "ledger_points": ledger["p"] or 0,
    }
    close_old_connections()
    return result


# --- Load generators ---------------------------------------------------------------------------


def run_wrk(
    url: str,
    *,
    connections: int,
    threads: int,
    seconds: int,
    args: list[str],
    token: str = "",
    timeout: str = "10s",
) -> dict:
    cmd = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{seconds}s",
        f"--timeout={timeout}",
        "-s",
        str(BENCH / "ingest_wrk.lua"),
        url,
        "--",
        *args,
    ]
    out = subprocess.run(
        cmd, capture_output=True, text=True, env={**os.environ, "BENCH_TOKEN": token}
    )
    for line in out.stdout.splitlines():
        if line.startswith("WRK_JSON "):
            result = json.loads(line[len("WRK_JSON ") :])
            result["command"] = " ".join(cmd)
            return result
    raise RuntimeError(f"wrk gave no result:\n{out.stdout}\n{out.stderr}")


def run_load(mode: str, port: int, path: str, token: str, extra: list[str]) -> dict:
    cmd = [
        sys.executable,
        "-m",
        "scripts.bench.ingest_load",
        mode,
        "--port",
        str(port),
        "--path",
        path,
        *extra,
    ]
    out = subprocess.run(
        cmd, cwd=ROOT, capture_output=True, text=True, env={**os.environ, "BENCH_TOKEN": token}
    )
    for line in out.stdout.splitlines():
        if line.startswith("LOAD_JSON "):
            return json.loads(line[len("LOAD_JSON ") :])
    raise RuntimeError(f"load generator gave no result:\n{out.stdout}\n{out.stderr}")


# --- Profiling (optional) ----------------------------------------------------------------------


class Profiler:
    """py-spy on the web process (GIL holder only: the web process is one Python process, so
    the GIL is its one core), plus PostgreSQL wait events sampled every 100 ms."""

    def __init__(self, name: str, stack: Stack, seconds: int) -> None:
        self.name, self.stack, self.seconds = name, stack, seconds
        self.raw = LOGS / f"pyspy-{name}.txt"

    def __enter__(self) -> Profiler:
        pyspy = BIN / "py-spy"
        self.spy = None
        if pyspy.exists():
            self.spy = subprocess.Popen(
                [
                    str(pyspy),
                    "record",
                    "--subprocesses",  # the web process is a launcher and its workers
                    "--pid",
                    str(self.stack.web.pid),
                    "--duration",
                    str(self.seconds),
                    "--rate",
                    "67",
                    "--format",
                    "raw",
                    "--gil",  # only the thread holding the GIL: where the one core goes
                    "--full-filenames",
                    "--nonblocking",
                    "--output",
                    str(self.raw),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        self.waits: Counter = Counter()
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample_waits, daemon=True)
        self._thread.start()
        return self

    def _sample_waits(self) -> None:
        import psycopg

        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            while not self._stop.wait(0.1):
                rows = conn.execute(
                    "SELECT state, coalesce(wait_event_type, 'CPU'), coalesce(wait_event, '-') "
                    "FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                    (DB_NAME,),
                ).fetchall()
                self.samples += 1
                for state, kind, event in rows:
                    if state == "idle":
                        self.waits["idle (waiting for the client)"] += 1
                    else:
                        self.waits[f"{state}: {kind}/{event}"] += 1

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        if self.spy is not None:
            self.spy.wait(timeout=self.seconds + 30)
        self.report = {
            "pg_backends_avg": {
                k: round(v / max(1, self.samples), 2) for k, v in self.waits.most_common(8)
            },
            **summarize_pyspy(self.raw),
        }


# Where the GIL goes. Each sample is charged to the first area found walking from the leaf
# frame up (so the areas add up to 100%); HIGHLIGHTS are inclusive shares of a few frames.
PROFILE_AREAS = [
    ("PostgreSQL driver (psycopg, pool)", ("/psycopg/", "/psycopg_pool/")),
    ("Redis client", ("/redis/", "/django_redis/")),
    ("validation (pydantic, ninja schemas)", ("/pydantic", "/ninja/schema.py")),
    ("JSON", ("/json/",)),
    ("thread hand-offs (asgiref, threads, locks)", ("/asgiref/", "/concurrent/", "/threading.py")),
    (
        "HTTP server and event loop (uvicorn, twisted, daphne, asyncio)",
        ("/uvicorn/", "/httptools/", "/uvloop/", "/twisted/", "/daphne/", "/asyncio/"),
    ),
    ("project code", (f"({ROOT}/progression/", f"({ROOT}/communities/", f"({ROOT}/config/")),
    ("django-ninja", ("/ninja/",)),
    ("Django", ("/django/",)),
]
PROFILE_HIGHLIGHTS = [
    ("psycopg client-side query conversion (_convert_query)", ("_convert_query",)),
    (
        "thread start/join (2 new threads per request)",
        ("Thread.start", "ThreadPoolExecutor.shutdown"),
    ),
    ("request body validation (ninja/pydantic)", ("validate_python", "_run_root_validator")),
    ("response serialisation (ninja _result_to_response)", ("_result_to_response",)),
    ("record_engagement", ("record_engagement",)),
    ("token + community lookups", ("authenticate_token", "get_community")),
]


def summarize_pyspy(path: Path, top: int = 12) -> dict:
    if not path.exists():
        return {}
    areas: Counter = Counter()
    highlights: Counter = Counter()
    leaf: Counter = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = [f for f in stack.split(";") if not f.startswith(("process ", "thread "))]
        for frame in reversed(frames):
            area = next(
                (a for a, needles in PROFILE_AREAS if any(x in frame for x in needles)), None
            )
            if area:
                areas[area] += n
                break
        else:
            areas["other (stdlib)"] += n
        for name, needles in PROFILE_HIGHLIGHTS:
            if any(needle in stack for needle in needles):
                highlights[name] += n
        if frames:
            leaf[re.sub(r" \(/\S*?/(site-packages/|python3\.\d+/|main/)", " (", frames[-1])] += n

    def pct(counter: Counter, keys: list[str] | None = None) -> list[str]:
        items = [(k, counter[k]) for k in keys] if keys else counter.most_common(top)
        return [f"{100 * v / max(1, total):5.1f}%  {k}" for k, v in items]

    return {
        "pyspy_samples": total,
        "pyspy_areas": pct(areas),
        "pyspy_highlights": pct(highlights, [name for name, _ in PROFILE_HIGHLIGHTS]),
        "pyspy_self": pct(leaf),
    }


# --- Parts -------------------------------------------------------------------------------------


class Bench:
    def __init__(self, opts: argparse.Namespace, web: str) -> None:
        self.opts = opts
        self.web = web
        self.run_id = uuid.uuid4().hex[:8]
        self.results: dict = {
            "run_id": self.run_id,
            "machine": machine_info(),
            "web": web,
            "env": opts.env,
            "parts": {},
        }
        self.stack: Stack | None = None

    def start(self) -> None:
        end_orphans()
        if "django" in sys.modules:  # a comparison's later run: the database is dropped
            from django.db import connections

            connections.close_all()
        log(f"re-creating database {DB_NAME}, flushing Redis db 9")
        recreate_database()
        django_ready()
        port = free_port(self.opts.port)
        self.stack = Stack(port, self.web)
        self.results["web_command"] = self.stack.command
        log(f"web process `{self.stack.command}` on port {port}, a celery worker (concurrency 1)")
        self.stack.wait_ready()

    def measured(self, name: str) -> dict:
        waited = wait_for_exclusive_cpu(self.opts.max_wait)
        time.sleep(1)  # let the previous part's tail (unlock tasks, WAL) settle
        return {"waited_for_other_benchmark_s": round(waited, 1)}

    def path(self, slug: str) -> str:
        return f"/api/communities/{slug}/engagement"

    def maybe_profile(self, name: str, seconds: int) -> Profiler | _NoProfile:
        assert self.stack is not None, "start() first"
        if self.opts.profile:
            return Profiler(name, self.stack, seconds)
        return _NoProfile()

    def part_healthz(self) -> None:
        assert self.stack is not None, "start() first"
        part = self.measured("healthz")
        log(f"a. /healthz, wrk -t2 -c64 -d{self.opts.seconds}s")
        with self.maybe_profile("healthz", self.opts.seconds) as prof, CpuMeter(self.stack) as cpu:
            part |= run_wrk(
                f"{self.stack.base}/healthz",
                connections=64,
                threads=2,
                seconds=self.opts.seconds,
                args=["GET"],
            )
        part["cpu_percent"] = cpu.percent
        if self.opts.profile:
            part["profile"] = prof.report
        self.results["parts"]["healthz"] = part
        self.done("healthz")

    def part_single(self) -> None:
        assert self.stack is not None, "start() first"
        community = make_community(
            f"bench-single-{self.run_id}", cost=self.opts.single_cost, limits=HIGH_LIMITS
        )
        part = self.measured("single")
        log(
            f"b. single-event POSTs, wrk -t2 -c64 -d{self.opts.seconds}s, {self.opts.viewers:,} viewers"
        )
        with self.maybe_profile("single", self.opts.seconds) as prof, CpuMeter(self.stack) as cpu:
            part |= run_wrk(
                f"{self.stack.base}{self.path(community['slug'])}",
                connections=64,
                threads=2,
                seconds=self.opts.seconds,
                args=[f"s{self.run_id}", str(self.opts.viewers), "1"],
                token=community["token"],
            )
        part["cpu_percent"] = cpu.percent
        if self.opts.profile:
            part["profile"] = prof.report
        part["check"] = settle_and_check(community, self.stack)
        part["cost_per_target"] = community["cost"]
        self.results["parts"]["single"] = part
        self.done("single")

    def part_latency(self) -> None:
        assert self.stack is not None, "start() first"
        community = make_community(
            f"bench-latency-{self.run_id}", cost=self.opts.latency_cost, limits=HIGH_LIMITS
        )
        part = self.measured("latency")
        log(
            f"c. single-event POSTs offered at {self.opts.rate:g}/s for {self.opts.latency_seconds}s"
        )
        with CpuMeter(self.stack) as cpu:
            part |= run_load(
                "openloop",
                self.stack.port,
                self.path(community["slug"]),
                community["token"],
                [
                    "--rate",
                    str(self.opts.rate),
                    "--seconds",
                    str(self.opts.latency_seconds),
                    "--viewers",
                    str(self.opts.viewers),
                    "--prefix",
                    f"l{self.run_id}",
                ],
            )
        part["cpu_percent"] = cpu.percent
        part["check"] = settle_and_check(community, self.stack)
        part["cost_per_target"] = community["cost"]
        self.results["parts"]["latency"] = part
        self.done("latency")

    def part_batch(self) -> None:
        assert self.stack is not None, "start() first"
        community = make_community(
            f"bench-batch-{self.run_id}", cost=self.opts.batch_cost, limits=HIGH_LIMITS
        )
        part = self.measured("batch")
        c = self.opts.batch_connections
        log(f"d. batches of 1,000 events, wrk -t{min(c, 2)} -c{c} -d{self.opts.seconds}s")
        with self.maybe_profile("batch", self.opts.seconds) as prof, CpuMeter(self.stack) as cpu:
            part |= run_wrk(
                f"{self.stack.base}{self.path(community['slug'])}",
                connections=c,
                threads=min(c, 2),
                seconds=self.opts.seconds,
                args=[f"b{self.run_id}", str(self.opts.viewers), "1000"],
                token=community["token"],
                timeout="30s",
            )
        part["cpu_percent"] = cpu.percent
        part["events_per_s"] = round(part["accepted_events"] / part["duration_s"], 1)
        if self.opts.profile:
            part["profile"] = prof.report
        part["check"] = settle_and_check(community, self.stack)
        part["cost_per_target"] = community["cost"]
        self.results["parts"]["batch"] = part
        self.done("batch")

    def part_burst(self) -> None:
        assert self.stack is not None, "start() first"
        community = make_community(
            f"bench-burst-{self.run_id}", cost=self.opts.burst_cost, limits=None
        )
        part = self.measured("burst")
        log(f"e. {self.opts.burst} connections, one request each at once, default rate limits")
        overflows = listen_overflows()
        with self.maybe_profile("burst", 35) as prof, CpuMeter(self.stack) as cpu:
            part |= run_load(
                "burst",
                self.stack.port,
                self.path(community["slug"]),
                community["token"],
                [
                    "--connections",
                    str(self.opts.burst),
                    "--viewers",
                    str(self.opts.burst_viewers),
                    "--prefix",
                    f"e{self.run_id}",
                ],
            )
        part["cpu_percent"] = cpu.percent
        part["listen_queue_overflows"] = listen_overflows() - overflows
        part["listen_backlog"] = listen_backlog(self.stack.port)
        if self.opts.profile:
            part["profile"] = prof.report
        part["check"] = settle_and_check(community, self.stack)
        part["cost_per_target"] = community["cost"]
        self.results["parts"]["burst"] = part
        self.done("burst")

    def done(self, name: str) -> None:
        """Prints the part's figures at once (a long run that is cut short still says something)."""
        part = self.results["parts"][name]
        brief = {
            k: part[k]
            for k in ("rps", "events_per_s", "latency_ms", "statuses", "errors", "cpu_percent")
            if k in part
        }
        if "check" in part:
            brief["integrity_ok"] = part["check"]["integrity_ok"]
            brief["unlocks"] = part["check"]["unlocks"]
        log(f"{name}: {json.dumps(brief)}")
        LOGS.mkdir(parents=True, exist_ok=True)
        (LOGS / "last.json").write_text(json.dumps(self.results, indent=1, default=str))

    def stop(self) -> None:
        if self.stack is not None:
            self.stack.stop()


class _NoProfile:
    report: dict = {}

    def __enter__(self) -> _NoProfile:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


# --- Report ------------------------------------------------------------------------------------


def verdicts(results: dict) -> list[tuple[str, str, str, str]]:
    """(part, measured, goal, verdict) rows."""
    parts = results["parts"]
    rows = []
    health = parts.get("healthz")
    if health:
        rows.append(
            (
                "a. /healthz, 64 conns",
                f"{health['rps']:,.0f} req/s (p50 {health['latency_ms']['p50']:.1f} / p99 {health['latency_ms']['p99']:.1f} ms)",
                "reference",
                "-",
            )
        )
    single = parts.get("single")
    if single:
        ratio = single["rps"] / health["rps"] if health else None
        results["single_to_healthz_ratio"] = round(ratio, 3) if ratio else None
        lat = single["latency_ms"]
        rows.append(
            (
                "b. single event, 64 conns",
                f"{single['rps']:,.0f} req/s = {single['accepted_events'] / single['duration_s']:,.0f} events/s"
                f" (p50 {lat['p50']:.1f} / p95 {lat['p95']:.1f} / p99 {lat['p99']:.1f} ms)"
                + (f", {ratio:.0%} of (a)" if ratio else ""),
                ">= 50% of (a)",
                "-" if ratio is None else ("PASS" if ratio >= 0.5 else "FAIL"),
            )
        )
    latency = parts.get("latency")
    if latency:
        lat = latency["latency_ms"]
        bad = sum(v for k, v in latency["statuses"].items() if k != "200") + sum(
            latency["errors"].values()
        )
        rows.append(
            (
                f"c. {latency['offered_rps']:g} req/s offered",
                f"p50 {lat['p50']} / p95 {lat['p95']} / p99 {lat['p99']} ms, {latency['completed']} done, {bad} not 200",
                f"p99 < {GOAL_P99_MS:g} ms",
                "PASS"
                if lat["p99"] is not None and lat["p99"] < GOAL_P99_MS and not bad
                else "FAIL",
            )
        )
    batch = parts.get("batch")
    if batch:
        lat = batch["latency_ms"]
        rows.append(
            (
                "d. batches of 1,000",
                f"{batch['events_per_s']:,.0f} events/s ({batch['rps']:.1f} req/s, p50 {lat['p50']:.0f} / p99 {lat['p99']:.0f} ms per batch)",
                f">= {GOAL_BATCH_EVENTS:,} events/s",
                "PASS" if batch["events_per_s"] >= GOAL_BATCH_EVENTS else "FAIL",
            )
        )
    burst = parts.get("burst")
    if burst:
        statuses = burst["statuses"]
        other = {k: v for k, v in statuses.items() if k not in ("200", "429")}
        ok = not other and not burst["errors"] and sum(statuses.values()) == burst["connections"]
        rows.append(
            (
                f"e. {burst['connections']:,} at once",
                f"{dict(sorted(statuses.items()))}, errors {burst['errors'] or 0}, all answered in {burst['all_answered_seconds']} s (p99 {burst['latency_ms']['p99']} ms); "
                f"listen backlog {burst.get('listen_backlog')}, {burst.get('listen_queue_overflows', 0):,} accept-queue overflows",
                "only 200/429",
                "PASS" if ok else "FAIL",
            )
        )
    for name in ("single", "latency", "batch", "burst"):
        part = parts.get(name)
        if part and "check" in part:
            check = part["check"]
            rows.append(
                (
                    f"f. integrity after {name}",
                    f"{check['integrity_output'].splitlines()[-1] if check['integrity_output'] else '?'}; "
                    f"{check['unlocks']} unlocks, {check['ledger_events']:,} ledger events, {check['discarded_points']:,} discarded",
                    "passes",
                    "PASS" if check["integrity_ok"] else "FAIL",
                )
            )
    return rows


def print_report(results: dict) -> None:
    rows = verdicts(results)
    widths = [max(len(r[i]) for r in rows + [("part", "measured", "goal", "ok")]) for i in range(4)]
    header = ("part", "measured", "goal", "ok")
    print()
    print(" | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    print("-+-".join("-" * w for w in widths))
    for row in rows:
        print(" | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))
    for name, part in results["parts"].items():
        if "cpu_percent" in part:
            shares = ", ".join(f"{k} {v:g}%" for k, v in part["cpu_percent"].items() if v)
            print(f"cpu during {name} (of 200%): {shares}")
    for name, part in results["parts"].items():
        profile = part.get("profile")
        if profile:
            print(
                f"\nprofile of {name}: PostgreSQL backends on average: {profile.get('pg_backends_avg')}"
            )
            print(
                f"  py-spy --gil, web process, {profile.get('pyspy_samples', 0)} samples, by area:"
            )
            for line in profile.get("pyspy_areas", []):
                print(f"    {line}")
            print("  inclusive shares of:")
            for line in profile.get("pyspy_highlights", []):
                print(f"    {line}")
            print("  hottest leaf frames:")
            for line in profile.get("pyspy_self", []):
                print(f"    {line}")
    results["all_pass"] = all(r[3] in ("PASS", "-") for r in rows)
    results["hot_row_reference_updates_per_s"] = HOT_ROW_REFERENCE
    print()
    print("BENCH_INGEST_JSON " + json.dumps(results, default=str))


def main() -> int:
    parser = argparse.ArgumentParser(
        description="Engagement ingest benchmark on the real stack (see the module docstring)."
    )
    parser.add_argument("--all", action="store_true", help="run every part (a-f)")
    parser.add_argument("--healthz", action="store_true", help="a. /healthz reference")
    parser.add_argument("--single", action="store_true", help="b. single-event requests/s")
    parser.add_argument("--latency", action="store_true", help="c. p99 at a constant rate")
    parser.add_argument("--batch", action="store_true", help="d. batched events/s")
    parser.add_argument("--burst", type=int, nargs="?", const=1000, default=0,
                        help="e. N simultaneous requests (default 1000)")  # fmt: skip
    parser.add_argument("--profile", action="store_true",
                        help="py-spy the web process and sample PostgreSQL waits during a, b, d and e")  # fmt: skip
    parser.add_argument("--seconds", type=int, default=15, help="wrk duration (a, b, d)")
    parser.add_argument("--rate", type=float, default=200.0, help="offered req/s for (c)")
    parser.add_argument("--latency-seconds", type=int, default=20)
    parser.add_argument("--batch-connections", type=int, default=4)
    parser.add_argument("--viewers", type=int, default=10_000)
    parser.add_argument("--burst-viewers", type=int, default=25)
    parser.add_argument("--single-cost", type=int, default=4_000)
    parser.add_argument("--latency-cost", type=int, default=800)
    parser.add_argument("--batch-cost", type=int, default=25_000)
    parser.add_argument("--burst-cost", type=int, default=120)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument(
        "--web",
        default="procfile",
        help="the web process: procfile (default: the Procfile's web:), daphne-supervisor "
        "(Channels' supervisor fcgi-program + daphne --fd 0, needs `pip install supervisor`), "
        "serve-web (the launcher issue 7 replaced, from git), or a command line of your own "
        "with {port} and {bin}, e.g. '{bin}/uvicorn config.asgi:application --port {port}'",
    )
    parser.add_argument(
        "--compare",
        default="",
        metavar="WEB,WEB,...",
        help="run the parts on each of these web processes in turn (fresh database each), "
        "--rounds times, alternating, and print them side by side with ratios to /healthz",
    )
    parser.add_argument("--rounds", type=int, default=2, help="rounds of --compare")
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="experiments: extra environment for the web and worker processes (repeatable)",
    )
    parser.add_argument(
        "--max-wait",
        type=float,
        default=3600,
        help="max seconds to wait, before each part, for a quiet machine (0: measure at once)",
    )
    opts = parser.parse_args()
    for item in opts.env:
        key, _, value = item.partition("=")
        ENV[key] = value
    if opts.all:
        opts.healthz = opts.single = opts.latency = opts.batch = True
        opts.burst = opts.burst or 1000
    if not (opts.healthz or opts.single or opts.latency or opts.batch or opts.burst):
        parser.error("choose --all or at least one part")
    if not shutil.which("wrk") and (opts.healthz or opts.single or opts.batch):
        parser.error("wrk is not installed (apt-get install -y wrk)")

    def terminate(signum: int, _frame: object) -> None:
        raise SystemExit(f"stopped by signal {signum}")  # so the stack is stopped below

    signal.signal(signal.SIGTERM, terminate)
    if not opts.compare:
        results = run_once(opts, opts.web)
        print_report(results)
        return 0 if results["all_pass"] else 1
    webs = [w.strip() for w in opts.compare.split(",") if w.strip()]
    runs = []
    for round_number in range(1, opts.rounds + 1):
        for web in webs:
            log(f"--- round {round_number}/{opts.rounds}: {web}")
            results = run_once(opts, web)
            results["round"] = round_number
            print_report(results)
            runs.append(results)
    print_comparison(runs)
    return 0


def run_once(opts: argparse.Namespace, web: str) -> dict:
    """One stack, the chosen parts, the stack stopped whatever happens."""
    bench = Bench(opts, web)
    try:
        bench.start()
        if opts.healthz:
            bench.part_healthz()
        if opts.single:
            bench.part_single()
        if opts.latency:
            bench.part_latency()
        if opts.batch:
            bench.part_batch()
        if opts.burst:
            bench.part_burst()
    finally:
        bench.stop()
    return bench.results


def comparison_row(results: dict) -> list[str]:
    """One run as figures and as ratios to its own /healthz (the machine's speed that minute)."""
    parts = results["parts"]
    health = parts.get("healthz", {}).get("rps")

    def per_health(value: float | None, unit: str) -> str:
        if value is None:
            return "-"
        ratio = f" ({value / health:.2f}× a)" if health else ""
        return f"{value:,.0f}{unit}{ratio}"

    single, latency, batch, burst = (parts.get(n) for n in ("single", "latency", "batch", "burst"))
    checks = [p["check"]["integrity_ok"] for p in parts.values() if "check" in p]
    other = max((p["cpu_percent"].get("other processes", 0) for p in parts.values()), default=0)
    burst_text = "-"
    if burst:
        counts = ", ".join(f"{n} × {code}" for code, n in sorted(burst["statuses"].items()))
        errors = sum(burst["errors"].values()) if burst["errors"] else 0
        burst_text = f"{counts}, {errors} errors, all in {burst['all_answered_seconds']:.1f} s"
    return [
        str(results.get("round", 1)),
        results["web"],
        f"{health:,.0f}" if health else "-",
        per_health(single and single["rps"], " req/s"),
        f"{latency['latency_ms']['p99']:,.0f} ms" if latency else "-",
        per_health(batch and batch["events_per_s"], " ev/s"),
        burst_text,
        "OK" if checks and all(checks) else ("-" if not checks else "FAIL"),
        f"{other:.0f}%",
    ]


def print_comparison(runs: list[dict]) -> None:
    header = [
        "round",
        "web",
        "a. /healthz req/s",
        "b. single (× a)",
        "c. p99 @200/s",
        "d. batch (× a)",
        "e. burst",
        "f. integrity",
        "max other CPU",
    ]
    rows = [comparison_row(r) for r in runs]
    print("\n| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print("\nBENCH_INGEST_COMPARE_JSON " + json.dumps(runs, default=str))


if __name__ == "__main__":
    sys.exit(main())
