"""The Procfile's `web:` process: N Daphne processes sharing one listening socket.

One Daphne is one Python process, so it uses one core however busy it is. This binds the port
once (backlog 4096, so a burst of connections waits in the kernel instead of being dropped),
starts `WEB_PROCESSES` Daphnes (2 with Redis, 1 in embedded mode) on that socket (`--fd`),
and lets the kernel spread connections between them. A Daphne that dies is started again; SIGTERM/SIGINT are passed on to every Daphne
(each ends its streams with `stream.shutdown`) and the launcher exits when they have. The
Daphnes share a fresh PROMETHEUS_MULTIPROC_DIR, so a scrape of /metrics on the port counts
every process, not whichever one answered.

    python scripts/serve_web.py [--host 127.0.0.1] [--port 8000] [--processes 2]
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

BIN = Path(sys.executable).parent
RESTART_PAUSE_SECONDS = 1.0
STOP_GRACE_SECONDS = 9.0
RESIGNAL_SECONDS = 2.0  # a Daphne still starting up can miss the first SIGTERM
log = logging.getLogger("serve_web")


def default_processes(environ: Mapping[str, str]) -> int:
    """Two with Redis; one in embedded mode, whose channel layer, relay and beat live in that
    one process's memory (a second process would not see its events and would run beat twice)."""
    given = environ.get("WEB_PROCESSES")
    if given:
        return int(given)
    return 2 if environ.get("REDIS_URL") else 1


def listen(host: str, port: int, backlog: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(backlog)
    sock.set_inheritable(True)
    return sock


def start_daphne(sock: socket.socket, extra: list[str], env: dict[str, str]) -> subprocess.Popen:
    fd = sock.fileno()
    command = [str(BIN / "daphne"), "--fd", str(fd), "--proxy-headers", *extra]
    return subprocess.Popen([*command, "config.asgi:application"], pass_fds=[fd], env=env)


def mark_dead(pid: int, metrics_dir: str) -> None:
    """Its live gauges (open stream connections) stop counting."""
    try:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid, path=metrics_dir)
    except Exception:  # noqa: BLE001 - metrics must never stop the web process
        log.warning("could not drop the metrics of pid %s", pid, exc_info=True)


def main() -> int:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s serve_web [-] %(message)s"
    )
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    parser.add_argument("--processes", type=int, default=default_processes(os.environ))
    parser.add_argument("--backlog", type=int, default=4096)
    args, extra = parser.parse_known_args()
    if args.processes < 1:
        parser.error("--processes must be at least 1")
    sock = listen(args.host, args.port, args.backlog)
    metrics_dir = tempfile.mkdtemp(prefix="progression-hub-metrics-")
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": metrics_dir}
    children = [start_daphne(sock, extra, env) for _ in range(args.processes)]
    log.info(
        "listening on %s:%s with %d Daphne processes (pids %s)",
        args.host,
        args.port,
        len(children),
        ",".join(str(c.pid) for c in children),
    )
    stopping = False

    def stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        for child in children:
            if child.poll() is None:
                child.send_signal(signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while not stopping:
        for number, child in enumerate(children):
            code = child.poll()
            if code is not None and not stopping:
                log.warning("daphne pid %s exited with %s; starting another", child.pid, code)
                mark_dead(child.pid, metrics_dir)
                time.sleep(RESTART_PAUSE_SECONDS)
                children[number] = start_daphne(sock, extra, env)
        time.sleep(0.2)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    resignal_at = time.monotonic() + RESIGNAL_SECONDS
    while any(child.poll() is None for child in children) and time.monotonic() < deadline:
        if time.monotonic() >= resignal_at:
            for child in children:
                if child.poll() is None:
                    child.send_signal(signal.SIGTERM)
            resignal_at = time.monotonic() + RESIGNAL_SECONDS
        time.sleep(0.05)
    for child in children:
        if child.poll() is None:
            log.warning("daphne pid %s did not stop in time; killing it", child.pid)
            child.kill()
            child.wait()
    shutil.rmtree(metrics_dir, ignore_errors=True)
    log.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
