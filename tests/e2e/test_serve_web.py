"""The Procfile's web process (scripts/serve_web.py): two Daphnes on one port, a dead one
replaced, SIGTERM passed on to both, and bots' engagement served with the books balanced."""

from __future__ import annotations

import os
import re
import time

import httpx
import pytest

from progression.integrity import check_integrity
from progression.models import Contribution
from tests.e2e.processes import Launcher
from tests.factories import CommunityFactory, NodeFactory, issue_token


def _pids(log: str) -> list[int]:
    found = re.findall(r"Daphne processes \(pids ([\d,]+)\)", log)
    assert found, log
    return [int(pid) for pid in found[-1].split(",")]


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


@pytest.mark.real_services
@pytest.mark.django_db(transaction=True)
def test_two_daphnes_share_the_port_a_dead_one_is_replaced_and_sigterm_stops_both(
    processes: Launcher,
) -> None:
    server = processes.server("serve_web")
    first, second = _pids(server.log())
    with httpx.Client(base_url=server.base_url, trust_env=False, timeout=10) as http:
        assert all(http.get("/healthz").status_code == 200 for _ in range(20))

        os.kill(first, 9)
        server.wait_for_log(f"daphne pid {first} exited", timeout=10)
        _wait(lambda: http.get("/healthz").status_code == 200, 15, "the port to answer")
        assert all(http.get("/healthz").status_code == 200 for _ in range(20))

    code = server.stop()

    assert code == 0, server.log()
    assert "stopped" in server.log()
    _wait(lambda: not _alive(second), 5, "the second daphne to exit")


@pytest.mark.real_services
@pytest.mark.django_db(transaction=True)
def test_bots_engagement_through_the_web_process_is_credited_once(processes: Launcher) -> None:
    community = CommunityFactory()
    NodeFactory(community=community, key="first", cost_override=1_000_000)
    token = issue_token(community, "ingest").secret
    server = processes.server("serve_web")
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
def test_one_metrics_scrape_counts_every_daphne(processes: Launcher) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    community = CommunityFactory()
    NodeFactory(community=community, key="first", cost_override=1_000_000)
    token = issue_token(community, "ingest").secret
    server = processes.server("serve_web")

    def accepted(text: str) -> float:
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                if s.name == "engagement_events_total" and s.labels.get("outcome") == "accepted":
                    return s.value
        return 0.0

    url = f"/api/communities/{community.slug}/engagement"
    headers = {"Authorization": f"Bearer {token}"}
    for i in range(30):  # a new connection each: the kernel spreads them over both Daphnes
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
def test_a_killed_launcher_takes_its_daphnes_with_it_and_frees_the_port(
    processes: Launcher,
) -> None:
    import signal
    import socket

    server = processes.server("serve_web")
    children = _pids(server.log())

    server.signal(signal.SIGKILL)

    _wait(lambda: not any(_alive(pid) for pid in children), 15, "the Daphnes to exit")
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(("127.0.0.1", server.port))  # nobody holds the port any more


def test_a_daphne_that_cannot_start_makes_the_launcher_give_up_with_status_1(tmp_path) -> None:
    import subprocess
    import sys

    from tests.e2e.processes import ROOT, free_port

    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    done = subprocess.run(
        [
            sys.executable,
            "scripts/serve_web.py",
            "--port",
            str(free_port()),
            "--processes",
            "1",
            "--no-such-daphne-flag",  # passed on to Daphne, which refuses to start
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1, done.stderr
    assert "quick deaths in a row; giving up" in done.stderr
