"""Points after the crossing are not overflow (issue 7, point A1), with real processes: a
uvicorn server and the Procfile's Celery worker on the test database and Redis.

The worker is stopped, 20,000 points arrive over HTTP (the target fills after the first 1,000),
then the worker starts again and unlocks. Before the rule, everything between the crossing and
the unlock was excess and capped: 18,800 of these points were discarded. Now only the
overshoot of the write that filled the target meets the cap; the rest goes to the next target.
"""

from __future__ import annotations

import asyncio
import signal
import time

import httpx
import pytest

from progression.integrity import check_integrity
from progression.models import ProgressionSettings, Unlock, UnlockProgress
from progression.services.state import season_total
from tests.e2e.processes import Launcher
from tests.e2e.worker_helpers import UNLOCKED_LOG, start_worker, wait_until
from tests.factories import CommunityFactory, issue_token
from tests.progression.concurrency_helpers import books, build_chain

COST = 1_000
NEXT_COST = 1_000_000
CAP = 200
SENT = 20_000
PER_REQUEST = 25  # one point per event
SENDERS = 4  # requests in flight at once: a group write carries at most 100 points
VIEWERS = 400


def bodies() -> list[dict]:
    events = [
        {
            "platform_user_id": f"raider-{i % VIEWERS}",
            "metric": "message",
            "value": 1,
            "message_id": f"raid-{i}",
        }
        for i in range(SENT)
    ]
    return [{"events": events[i : i + PER_REQUEST]} for i in range(0, SENT, PER_REQUEST)]


async def _send(url: str, token: str, payloads: list[dict]) -> list[httpx.Response]:
    gate = asyncio.Semaphore(SENDERS)
    async with httpx.AsyncClient(timeout=60.0, trust_env=False) as http:

        async def post(body: dict) -> httpx.Response:
            async with gate:
                return await http.post(url, json=body, headers={"Authorization": f"Bearer {token}"})

        return list(await asyncio.gather(*(post(body) for body in payloads)))


@pytest.mark.real_services
@pytest.mark.django_db(transaction=True)
def test_a_worker_stopped_while_20000_points_arrive_then_restarted_discards_at_most_the_cap(
    processes: Launcher,
) -> None:
    community = CommunityFactory()
    chain = build_chain(
        community, first_cost=COST, next_cost=NEXT_COST, rollover_cap=CAP, viewer_rate=1_000_000
    )
    ProgressionSettings.objects.filter(community=community).update(
        viewer_burst=1_000_000, community_rate=1_000_000, community_burst=1_000_000
    )
    progress_id = chain.progress.pk
    token = issue_token(community, "ingest", "read").secret
    web = processes.server("uvicorn")
    worker = start_worker(processes)
    worker.signal(signal.SIGTERM)  # a warm shutdown: the worker is gone before the raid
    assert worker.wait(30) == 0

    base = f"{web.base_url}/api/communities/{community.slug}"
    started = time.monotonic()
    responses = asyncio.run(_send(f"{base}/engagement", token, bodies()))
    took = time.monotonic() - started
    refused = [r for r in responses if r.status_code != 200]
    assert not refused, f"{len(refused)} refused, first: {refused[0].status_code} {refused[0].text}"
    credited = sum(r.json()["credited_points"] for r in responses)
    assert credited == SENT

    # No worker: the target is full and nothing unlocked; the write that filled it drew the line.
    assert not Unlock.objects.filter(community=community).exists()
    waiting = UnlockProgress.objects.get(pk=progress_id)
    assert waiting.status == UnlockProgress.Status.ACTIVE
    assert waiting.crossed_at_total is not None
    assert COST <= waiting.crossed_at_total - waiting.offset < SENT
    read = httpx.get(f"{base}/progression", headers={"Authorization": f"Bearer {token}"})
    assert read.status_code == 200, read.text
    assert read.json()["progress"]["state"] == "full"
    assert read.json()["progress"]["accumulated"] == SENT

    restarted = time.monotonic()
    worker = start_worker(processes)
    wait_until(
        lambda: Unlock.objects.filter(community=community).exists(),
        60,
        f"the unlock after the restart; worker log:\n{worker.log()[-5000:]}",
    )
    recovered_in = time.monotonic() - restarted
    worker.wait_for_log(UNLOCKED_LOG, timeout=30)

    closed = UnlockProgress.objects.get(pk=progress_id)
    overshoot = closed.crossed_at_total - closed.offset - COST
    successor = UnlockProgress.objects.get(community=community, status=UnlockProgress.Status.ACTIVE)
    print(
        f"\nworker stopped; {SENT} points sent in {len(responses)} requests ({took:.1f}s): "
        f"spent {closed.spent}, rolled over {closed.rolled_over}, discarded {closed.discarded} "
        f"(cap {CAP}, crossing overshoot {overshoot}); unlocked {recovered_in:.1f}s after the "
        f"restart; next target holds {season_total(successor.season_id) - successor.offset}"
    )
    assert closed.status == UnlockProgress.Status.CLOSED
    assert closed.accumulated_at_close == SENT  # every point was in before the unlock ran
    assert closed.spent == COST
    assert closed.discarded == max(0, overshoot - CAP)
    assert closed.discarded <= CAP
    assert closed.rolled_over == SENT - COST - closed.discarded
    assert (successor.node_id, successor.offset) == (chain.second.pk, COST + closed.discarded)
    assert season_total(successor.season_id) - successor.offset == closed.rolled_over
    ledger = books(community)
    assert ledger.ledger_points == ledger.shard_points == ledger.viewer_points == SENT
    assert Unlock.objects.filter(community=community).count() == 1
    assert check_integrity(community) == []
    assert "Traceback" not in worker.log(), worker.log()[-5000:]
