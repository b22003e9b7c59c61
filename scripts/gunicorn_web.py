"""The Procfile's `web:` process: gunicorn running uvicorn workers on one listening socket.

    gunicorn -c scripts/gunicorn_web.py config.asgi:application

One ASGI process uses one core however busy it is, so gunicorn binds `HOST:PORT` once
(backlog 4096: a burst of connections waits in the kernel instead of being dropped) and forks
`WEB_PROCESSES` uvicorn workers (uvloop, httptools) that accept from it. gunicorn restarts a
worker that dies, stops when one cannot even boot (a broken deploy), and on SIGTERM/SIGINT
stops every worker gracefully: each ends its streams with `stream.shutdown` (realtime.hub)
and is killed only after `graceful_timeout`. Measured against Daphne on one socket (the
previous launcher, what supervisor `fcgi-program` + `daphne --fd 0` runs) in
docs/benchmarks.md.

Why each setting:
- `WEB_PROCESSES`: 2 with Redis; 1 in the embedded default, whose channel layer, relay and
  beat live in that one process's memory (a second process would not see its events and would
  run beat twice).
- Prometheus: the workers share a fresh PROMETHEUS_MULTIPROC_DIR, so a scrape of /metrics on
  the port counts every process, not whichever one answered; a dead worker's live gauges are
  dropped (`child_exit`), and the directory goes when gunicorn stops.
- `X-Forwarded-For` is trusted only with `TRUSTED_PROXY_COUNT` > 0, and then only from the
  addresses in `FORWARDED_ALLOW_IPS` (default the local host, where the proxy usually runs).
  Otherwise any client could pick its own address and walk around per-address limits.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from uvicorn_worker import UvicornWorker

PR_SET_PDEATHSIG = 1
STOP_GRACE_SECONDS = 9  # under honcho's and most orchestrators' 10 s before SIGKILL
_OWNED_METRICS_DIR = "_PROGRESSION_HUB_OWNED_METRICS_DIR"


def default_processes(environ: Mapping[str, str]) -> int:
    """Two with Redis; one in embedded mode (see the module docstring)."""
    given = environ.get("WEB_PROCESSES")
    if given:
        count = int(given)
        if count < 1:
            raise ValueError("WEB_PROCESSES must be at least 1")
        return count
    return 2 if environ.get("REDIS_URL") else 1


def trusted_forwarders(environ: Mapping[str, str]) -> str:
    """Whose `X-Forwarded-*` headers uvicorn may believe: nobody's unless a proxy is declared."""
    if int(environ.get("TRUSTED_PROXY_COUNT") or 0) > 0:
        return environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
    return ""


def bind_address(environ: Mapping[str, str]) -> str:
    host = environ.get("HOST", "127.0.0.1")
    port = environ.get("PORT", "8000")
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class WebWorker(UvicornWorker):
    """uvicorn with the fast loop and parser (as the `stream:` process) and a bounded
    graceful shutdown, so a stream that ignores `stream.shutdown` cannot hold a stop."""

    CONFIG_KWARGS: dict[str, Any] = {
        "loop": "uvloop",
        "http": "httptools",
        "timeout_graceful_shutdown": STOP_GRACE_SECONDS - 1,
    }


# --- gunicorn settings (https://docs.gunicorn.org/en/stable/settings.html) -------------------

wsgi_app = "config.asgi:application"
bind = [bind_address(os.environ)]
workers = default_processes(os.environ)
worker_class = WebWorker
backlog = 4096
graceful_timeout = STOP_GRACE_SECONDS
keepalive = 5  # uvicorn's own default; gunicorn's 2 s closes idle keep-alive clients early
forwarded_allow_ips = trusted_forwarders(os.environ)
proxy_allow_ips = ""  # the PROXY protocol is never trusted either
control_socket_disable = True  # one fixed path per user: two servers on a box would collide
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
accesslog = None  # as Daphne before: the app logs what matters; `--access-logfile -` adds it


# --- Hooks: Prometheus multiprocess mode (in the master), parent death (in each worker) ------


def on_starting(server: Any) -> None:
    """Before any worker forks: one metrics directory for all of them (an operator's own
    PROMETHEUS_MULTIPROC_DIR is used but emptied: stale files would add old counts)."""
    given = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if given:
        Path(given).mkdir(parents=True, exist_ok=True)
        for stale in Path(given).glob("*.db"):
            stale.unlink()
    else:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="progression-hub-metrics-")
        os.environ[_OWNED_METRICS_DIR] = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    server.log.info(
        "web: %d uvicorn workers, metrics in %s, X-Forwarded-For trusted from %s",
        server.cfg.workers,
        os.environ["PROMETHEUS_MULTIPROC_DIR"],
        ",".join(server.cfg.forwarded_allow_ips) or "nobody",
    )


def post_fork(server: Any, worker: Any) -> None:
    """In each new worker: if the master is SIGKILLed (no chance to stop its workers), the
    worker gets SIGTERM and stops gracefully instead of holding the port forever (Linux
    PR_SET_PDEATHSIG; uvicorn workers, unlike gunicorn's own, never check their parent)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        server.log.warning("worker %s will outlive a killed master (no prctl)", worker.pid)
        return
    if os.getppid() != worker.ppid:  # the master died before prctl took effect
        os.kill(os.getpid(), signal.SIGTERM)


def child_exit(server: Any, worker: Any) -> None:
    """A dead worker's live gauges (open stream connections) stop counting."""
    try:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
    except Exception:  # noqa: BLE001 - metrics must never stop the web process
        server.log.warning("could not drop the metrics of pid %s", worker.pid, exc_info=True)


def on_exit(server: Any) -> None:
    owned = os.environ.get(_OWNED_METRICS_DIR)
    if owned:
        shutil.rmtree(owned, ignore_errors=True)
