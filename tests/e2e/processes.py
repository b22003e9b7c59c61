"""Real processes for end-to-end tests: ASGI servers (uvicorn, Daphne, the Procfile's web), the
relay, scripts.

Each process writes its output to its own log file; tests print the part written during a
failing test (see conftest). Every process started here is stopped by pid at teardown.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0

# Every process started in this run, and those still alive: a failing test shows their logs.
STARTED: list[Process] = []
LIVE: list[Process] = []


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def database_url_for(database_url: str, name: str) -> str:
    """The run's DATABASE_URL pointed at another database (the test database)."""
    parts = urlsplit(database_url)
    return urlunsplit(parts._replace(path=f"/{name}"))


@dataclass
class Process:
    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path
    port: int | None = None
    log_mark: int = field(default=0)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.popen.pid

    def log(self, since: int = 0) -> str:
        with self.log_path.open("rb") as fh:
            fh.seek(since)
            return fh.read().decode("utf-8", "replace")

    def log_size(self) -> int:
        return self.log_path.stat().st_size

    def wait_for_log(self, text: str, timeout: float = START_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.log():
            self._fail_if_exited(f"waiting for {text!r}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.name}: {text!r} not logged in {timeout}s\n{self.log()}")
            time.sleep(0.05)

    def wait_healthy(self, timeout: float = START_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while True:
            self._fail_if_exited("starting")
            try:
                if (
                    httpx.get(f"{self.base_url}/healthz", timeout=1.0, trust_env=False).status_code
                    == 200
                ):
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.name} not healthy in {timeout}s\n{self.log()}")
            time.sleep(0.1)

    def _fail_if_exited(self, doing: str) -> None:
        code = self.popen.poll()
        if code is not None:
            raise RuntimeError(f"{self.name} exited with {code} while {doing}\n{self.log()}")

    def signal(self, signum: int) -> None:
        self.popen.send_signal(signum)

    def wait(self, timeout: float) -> int:
        return self.popen.wait(timeout)

    def stop(self) -> int:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(STOP_TIMEOUT)
        if self in LIVE:
            LIVE.remove(self)
        return self.popen.returncode


class Launcher:
    """Starts processes with the run's environment pointed at the test database."""

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.env = env
        self.log_dir = log_dir
        self.started: list[Process] = []

    def _spawn(self, name: str, argv: list[str], env: dict[str, str], port: int | None) -> Process:
        log_path = self.log_dir / f"{name}-{time.monotonic_ns()}.log"
        with log_path.open("wb") as log:
            popen = subprocess.Popen(
                argv,
                cwd=ROOT,
                env={**self.env, **env},
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        process = Process(name=name, popen=popen, log_path=log_path, port=port)
        self.started.append(process)
        STARTED.append(process)
        LIVE.append(process)
        return process

    def server(self, kind: str = "uvicorn", *, args: Sequence[str] = (), **env: str) -> Process:
        """An ASGI server on a free port, healthy before this returns; `args` are added to its
        command line, `env` to its environment."""
        port = free_port()
        argv = {
            "uvicorn": [
                sys.executable,
                "-m",
                "uvicorn",
                "config.asgi:application",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--log-level",
                "warning",
            ],
            "daphne": [
                sys.executable,
                "-m",
                "daphne",
                "-b",
                "127.0.0.1",
                "-p",
                str(port),
                "config.asgi:application",
            ],
            # The Procfile's web process: gunicorn, uvicorn workers on one socket.
            "web": [sys.executable, "-m", "gunicorn", "-c", "scripts/gunicorn_web.py"],
        }[kind]
        if kind == "web":
            env = {"HOST": "127.0.0.1", "PORT": str(port), "WEB_PROCESSES": "2", **env}
        process = self._spawn(f"{kind}-{port}", [*argv, *args], env, port)
        process.wait_healthy()
        return process

    def relay(self, **env: str) -> Process:
        process = self._spawn("relay", [sys.executable, "manage.py", "run_relay"], env, None)
        process.wait_for_log("outbox relay started")
        return process

    def script(self, module: str, *args: str, **env: str) -> Process:
        name = module.rsplit(".", 1)[-1]
        return self._spawn(name, [sys.executable, "-m", module, *args], env, None)

    def stop_all(self) -> None:
        for process in reversed(self.started):
            process.stop()
        self.started.clear()


def server_env(database_url: str, redis_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env.pop("TEST_DB_NAME", None)
    env.update(
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        DEBUG="1",
        LOG_LEVEL="INFO",
        PYTHONUNBUFFERED="1",
        DJANGO_SETTINGS_MODULE="config.settings",
    )
    return env
