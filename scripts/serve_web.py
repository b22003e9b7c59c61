"""The Procfile's `web:` process: N Daphne processes sharing one listening socket.

One Daphne is one Python process, so it uses one core however busy it is. This binds the port
once (backlog 4096, so a burst of connections waits in the kernel instead of being dropped),
starts `WEB_PROCESSES` Daphnes (2 with Redis, 1 in embedded mode) on that socket (`--fd`),
and whichever is free accepts the next connection. A Daphne that dies is started again; SIGTERM/SIGINT are passed on to every Daphne
(each ends its streams with `stream.shutdown`) and the launcher exits when they have. The
Daphnes share a fresh PROMETHEUS_MULTIPROC_DIR, so a scrape of /metrics on the port counts
every process, not whichever one answered.

    python scripts/serve_web.py [--host 127.0.0.1] [--port 8000] [--processes 2]
"""

from __future__ import annotations

import argparse
import ctypes
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
MIN_UPTIME_SECONDS = 10.0  # a Daphne that dies sooner counts as failing to start
MAX_QUICK_DEATHS = 5
log = logging.getLogger("serve_web")


def default_processes(environ: Mapping[str, str]) -> int:
    """Two with Redis; one in embedded mode, whose channel layer, relay and beat live in that
    one process's memory (a second process would not see its events and would run beat twice)."""
    given = environ.get("WEB_PROCESSES")
    if given:
        return int(given)
    return 2 if environ.get("REDIS_URL") else 1


def listen(host: str, port: int, backlog: int) -> socket.socket:
    """One listening socket that every Daphne accepts from. (One SO_REUSEPORT socket per Daphne
    spreads connections evenly but was measured worse: at 200 req/s each Daphne's group commit
    then merges half as many requests, p99 42–59 ms against 29–40 ms with the shared socket.)"""
    if (
        ":" in host
    ):  # Daphne's fd endpoint adopts sockets as IPv4: client addresses would be garbage
        raise SystemExit(
            "serve_web: --host must be an IPv4 address (put a proxy in front for IPv6)"
        )
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(backlog)
    sock.set_inheritable(True)
    return sock


def _die_with_parent() -> None:
    """In the child before exec: if the launcher is SIGKILLed, its Daphnes get SIGTERM instead
    of holding the port forever (Linux prctl PR_SET_PDEATHSIG)."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)
    except OSError:
        pass


class Launcher:
    def __init__(self, sock: socket.socket, processes: int, extra: list[str]) -> None:
        self.sock = sock
        self.processes = processes
        self.extra = extra
        self.metrics_dir = tempfile.mkdtemp(prefix="progression-hub-metrics-")
        self.env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": self.metrics_dir}
        self.children: list[subprocess.Popen] = []
        self.started_at: dict[int, float] = {}
        self.quick_deaths = 0
        self.stopping = False

    def start_daphne(self) -> subprocess.Popen:
        fd = self.sock.fileno()
        command = [str(BIN / "daphne"), "--fd", str(fd), "--proxy-headers", *self.extra]
        child = subprocess.Popen(
            [*command, "config.asgi:application"],
            pass_fds=[fd],
            env=self.env,
            preexec_fn=_die_with_parent,  # noqa: PLW1509 - the launcher has no other threads
        )
        self.started_at[child.pid] = time.monotonic()
        return child

    def stop(self, signum: int, _frame: object = None) -> None:
        self.stopping = True
        for child in self.children:
            if child.poll() is None:
                child.send_signal(signum)

    def run(self) -> int:
        """0 after a requested stop; 1 if Daphnes keep dying at start (a broken deploy)."""
        self.children = [self.start_daphne() for _ in range(self.processes)]
        host, port = self.sock.getsockname()[:2]
        log.info(
            "listening on %s:%s with %d Daphne processes (pids %s)",
            host,
            port,
            len(self.children),
            ",".join(str(c.pid) for c in self.children),
        )
        while not self.stopping:
            for number, child in enumerate(self.children):
                code = child.poll()
                if code is None or self.stopping:
                    continue
                lived = time.monotonic() - self.started_at.pop(child.pid, 0.0)
                self.quick_deaths = self.quick_deaths + 1 if lived < MIN_UPTIME_SECONDS else 0
                mark_dead(child.pid, self.metrics_dir)
                if self.quick_deaths >= MAX_QUICK_DEATHS:
                    log.error(
                        "daphne pid %s exited with %s after %.1fs, %d quick deaths in a row; "
                        "giving up",
                        child.pid,
                        code,
                        lived,
                        self.quick_deaths,
                    )
                    return 1
                log.warning("daphne pid %s exited with %s; starting another", child.pid, code)
                time.sleep(RESTART_PAUSE_SECONDS)
                self.children[number] = self.start_daphne()
            time.sleep(0.2)
        return 0

    def shutdown(self) -> None:
        """Every Daphne gets SIGTERM (again every 2 s: one still starting can miss it), then
        SIGKILL after the grace period; the metrics directory goes with them."""
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        resignal_at = 0.0
        while any(c.poll() is None for c in self.children) and time.monotonic() < deadline:
            if time.monotonic() >= resignal_at:
                for child in self.children:
                    if child.poll() is None:
                        child.send_signal(signal.SIGTERM)
                resignal_at = time.monotonic() + RESIGNAL_SECONDS
            time.sleep(0.05)
        for child in self.children:
            if child.poll() is None:
                log.warning("daphne pid %s did not stop in time; killing it", child.pid)
                child.kill()
                child.wait()
        shutil.rmtree(self.metrics_dir, ignore_errors=True)


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
    launcher = Launcher(listen(args.host, args.port, args.backlog), args.processes, extra)
    signal.signal(signal.SIGTERM, launcher.stop)  # before any Daphne exists
    signal.signal(signal.SIGINT, launcher.stop)
    code = 1
    try:
        code = launcher.run()
    except Exception:
        log.exception("the web launcher failed; stopping its Daphnes")
    finally:
        launcher.shutdown()
        log.info("stopped")
    return code


if __name__ == "__main__":
    sys.exit(main())
