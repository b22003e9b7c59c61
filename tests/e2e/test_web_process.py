"""The Procfile's web process (gunicorn with uvicorn workers, scripts/gunicorn_web.py): two
workers on one port, a dead one replaced, SIGTERM stopping both, a killed master taking its
workers with it, one /metrics for all, X-Forwarded-For trusted only when configured, and bots'
engagement served with the books balanced."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from progression.integrity import check_integrity
from progression.models import Contribution
from tests.e2e.processes import ROOT, Launcher, Process, free_port
from tests.factories import CommunityFactory, NodeFactory, issue_token


def _booted(server: Process) -> list[int]:
    """Every worker pid gunicorn has started so far, in order."""
    return [int(pid) for pid in re.findall(r"Booting worker with pid: (\d+)", server.log())]


def _alive(pid: int) -> bool:
    """Running, not a zombie nobody has reaped yet (pytest may be PID 1 in a container)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            state = stat.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state not in ("Z", "X")


def _wait(condition, timeout: float, what: str) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _healthz_ok(http: httpx.Client) -> bool:
    try:
        return http.get("/healthz").status_code == 200
    except httpx.TransportError:
        return False


@pytest.mark.real_services
@pytest.mark.django_db(transaction=True)
def test_two_workers_share_the_port_a_dead_one_is_replaced_and_sigterm_stops_all(
    processes: Launcher,
) -> None:
    server = processes.server("web")
    _wait(lambda: len(_booted(server)) >= 2, 30, "two workers to boot")
    first, second = _booted(server)
    metrics_dir = re.search(r"metrics in (\S+),", server.log()).group(1)
    assert Path(metrics_dir).is_dir()
    with httpx.Client(base_url=server.base_url, trust_env=False, timeout=10) as http:
        assert all(http.get("/healthz").status_code == 200 for _ in range(20))

        os.kill(first, signal.SIGKILL)
        server.wait_for_log(f"Worker (pid:{first}) was sent SIGKILL", timeout=15)
        _wait(lambda: len(_booted(server)) >= 3, 30, "a replacement worker")
        _wait(lambda: _healthz_ok(http), 30, "the port to answer")
        assert all(http.get("/healthz").status_code == 200 for _ in range(20))
    replacement = _booted(server)[2]

    code = server.stop()

    assert code == 0, server.log()
    assert "Shutting down: Master" in server.log()
    _wait(lambda: not _alive(second) and not _alive(replacement), 5, "the workers to exit")
    assert not Path(metrics_dir).exists()  # the master's metrics directory went with it


@pytest.mark.real_services
@pytest.mark.django_db(transaction=True)
def test_bots_engagement_through_the_web_process_is_credited_once(processes: Launcher) -> None:
    community = CommunityFactory()
    NodeFactory(community=community, key="first", cost_override=1_000_000)
    token = issue_token(community, "ingest").secret
    server = processes.server("web")
    url = f"/api/communities/{community.slug}/engagement"
    headers = {"Authorization": f"Bearer {token}"}

    with httpx.Client(base_url=server.base_url, trust_env=False, timeout=10) as http:
        answers = [
            http.post(
                url,
                json={
                    "platform_user_id": f"v{i % 7}",
                    "metric": "message",
                    "message_id": f"m{i % 40}",
                },
                headers=headers,
            )
            for i in range(60)  # 20 of them repeat a message id
        ]

    assert [a.status_code for a in answers] == [200] * 60
    statuses = [a.json()["results"][0]["status"] for a in answers]
    assert statuses.count("accepted") == 40 and statuses.count("duplicate") == 20
    assert Contribution.objects.filter(community=community).count() == 40
    assert check_integrity(community) == []


@pytest.mark.real_services
@pytest.mark.django_db(transaction=True)
def test_one_metrics_scrape_counts_every_worker(processes: Launcher) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    community = CommunityFactory()
    NodeFactory(community=community, key="first", cost_override=1_000_000)
    token = issue_token(community, "ingest").secret
    server = processes.server("web")
    _wait(lambda: len(_booted(server)) >= 2, 30, "two workers to boot")

    def accepted(text: str) -> float:
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                if s.name == "engagement_events_total" and s.labels.get("outcome") == "accepted":
                    return s.value
        return 0.0

    url = f"/api/communities/{community.slug}/engagement"
    headers = {"Authorization": f"Bearer {token}"}
    for i in range(30):  # a new connection each: the kernel spreads them over both workers
        with httpx.Client(base_url=server.base_url, trust_env=False, timeout=10) as http:
            event = {"platform_user_id": f"v{i}", "metric": "message", "message_id": f"m{i}"}
            assert http.post(url, json=event, headers=headers).status_code == 200

    scrapes = []
    for _ in range(6):
        with httpx.Client(base_url=server.base_url, trust_env=False, timeout=10) as http:
            scrapes.append(accepted(http.get("/metrics").text))
    assert scrapes == [30.0] * 6


@pytest.mark.real_services
@pytest.mark.django_db(transaction=True)
def test_a_killed_master_takes_its_workers_with_it_and_frees_the_port(
    processes: Launcher,
) -> None:
    server = processes.server("web")
    _wait(lambda: len(_booted(server)) >= 2, 30, "two workers to boot")
    workers = _booted(server)

    server.signal(signal.SIGKILL)

    _wait(lambda: not any(_alive(pid) for pid in workers), 15, "the workers to exit")
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(("127.0.0.1", server.port))  # nobody holds the port any more


@pytest.mark.real_services
@pytest.mark.django_db(transaction=True)
def test_x_forwarded_for_is_ignored_unless_a_trusted_proxy_is_configured(
    processes: Launcher,
) -> None:
    """With TRUSTED_PROXY_COUNT=0 a client cannot choose its own address (and so walk around
    per-address limits) with a header; with a proxy declared, the proxy's header counts."""

    def client_seen_by(server: Process) -> str:
        mark = server.log_size()
        with httpx.Client(base_url=server.base_url, trust_env=False, timeout=10) as http:
            assert http.get("/healthz", headers={"X-Forwarded-For": "203.0.113.9"}).is_success
        pattern = r'(\S+) - "GET /healthz HTTP/1.1" 200'
        _wait(lambda: re.search(pattern, server.log(mark)), 10, "the access log line")
        return re.search(pattern, server.log(mark)).group(1).rsplit(":", 1)[0]

    direct = processes.server("web", args=["--access-logfile", "-"], WEB_PROCESSES="1")
    behind_proxy = processes.server(
        "web", args=["--access-logfile", "-"], WEB_PROCESSES="1", TRUSTED_PROXY_COUNT="1"
    )

    assert client_seen_by(direct) == "127.0.0.1"
    assert client_seen_by(behind_proxy) == "203.0.113.9"


def test_a_worker_that_cannot_boot_makes_gunicorn_stop_with_an_error(tmp_path: Path) -> None:
    """A broken deploy (here a malformed setting) ends the web process instead of restarting
    workers forever."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env.update(PORT=str(free_port()), WEB_PROCESSES="1", DB_POOL_MAX="not-a-number")
    done = subprocess.run(
        [sys.executable, "-m", "gunicorn", "-c", "scripts/gunicorn_web.py"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert done.returncode != 0, done.stderr
    assert "DB_POOL_MAX" in done.stderr
    assert "Shutting down: Master" in done.stderr
