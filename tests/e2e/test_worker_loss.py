"""A worker lost in the middle of an unlock, and a worker that finds a job left half-done
(issue 4, points 15 and 16), with real Celery workers on the test database and Redis.

The unlock task is acks_late with reject_on_worker_lost, but with Redis the lost message only
comes back after the visibility timeout (an hour): what brings the unlock back at once is the
worker_ready reconcile, which enqueues every active progress whose points are already there.
"""

from __future__ import annotations

import threading
import time

import pytest
from django.db import OperationalError, connection, transaction

from progression import events, tasks_on_commit
from progression.integrity import check_integrity
from progression.models import Unlock, UnlockProgress
from progression.services.reconcile import crossed_progress_ids
from progression.services.unlocks import unlock_target
from realtime.models import OutboxEvent
from tests.e2e.processes import Launcher
from tests.e2e.worker_helpers import (
    HANG_MARKER,
    RECONCILE_LOG,
    UNLOCKED_LOG,
    start_hanging_worker,
    start_worker,
    wait_until,
)
from tests.factories import CommunityFactory
from tests.progression.concurrency_helpers import (
    assert_rollover,
    books,
    build_chain,
    ingest_in_threads,
)

COST = 100
NEXT_COST = 1_000_000
ROLLOVER_CAP = 25
DURING_PATIENCE = 5.0  # seconds a batch may take while an unlock hangs (it should take ms)


def progress_row_is_locked(progress_id: int) -> bool:
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                "SELECT id FROM progression_unlockprogress WHERE id = %s FOR UPDATE NOWAIT",
                [progress_id],
            )
    except OperationalError:
        return True
    return False


@pytest.mark.real_services
@pytest.mark.django_db(transaction=True)
def test_worker_killed_inside_an_unlock_then_a_new_worker_unlocks_exactly_once(
    processes: Launcher,
) -> None:
    community = CommunityFactory()
    chain = build_chain(community, first_cost=COST, next_cost=NEXT_COST, rollover_cap=ROLLOVER_CAP)
    progress_id = chain.progress.pk
    started = time.monotonic()
    doomed = start_hanging_worker(processes)

    # 40 concurrent clients, 120 points: over the threshold, the unlock task goes to the worker.
    before = ingest_in_threads(community, clients=40, per_client=3, prefix="before")
    doomed.wait_for_log(f"{HANG_MARKER} progress={progress_id}", timeout=20)

    # The worker sits inside its transaction: progress closed and Unlock inserted, uncommitted.
    assert progress_row_is_locked(progress_id)
    assert UnlockProgress.objects.get(pk=progress_id).status == UnlockProgress.Status.ACTIVE
    assert not Unlock.objects.filter(community=community).exists()

    # Points keep coming while the unlock hangs: they should wait for nothing and are never
    # lost. They run on a side thread, so that if they do wait on the hung unlock the test
    # still goes on (the kill releases them) and says so at the end.
    during: list = []
    side = threading.Thread(target=_ingest_into, args=(during, community, "during"), daemon=True)
    t0 = time.monotonic()
    side.start()
    side.join(timeout=DURING_PATIENCE)
    during_waited_for_the_unlock = side.is_alive()
    during_took = time.monotonic() - t0

    doomed.popen.kill()  # SIGKILL: no shutdown, no ack, no rollback from the worker's side
    assert doomed.wait(10) == -9
    wait_until(lambda: not progress_row_is_locked(progress_id), 10, "the killed transaction to end")
    side.join(timeout=30)
    assert not side.is_alive(), "the ingest during the unlock never finished"
    assert not isinstance(during[0], BaseException), (
        f"ingest during the unlock failed: {during[0]!r}"
    )
    during = during[0]

    # Nothing of the killed unlock survived.
    progress = UnlockProgress.objects.get(pk=progress_id)
    assert progress.status == UnlockProgress.Status.ACTIVE
    assert (progress.offset, progress.accumulated_at_close, progress.spent) == (0, None, 0)
    assert not Unlock.objects.filter(community=community).exists()
    assert not OutboxEvent.objects.filter(community=community, type=events.NODE_UNLOCKED).exists()
    assert UnlockProgress.objects.filter(community=community).count() == 1
    assert crossed_progress_ids() == [progress_id]
    assert check_integrity(community) == []

    # A new worker starts: its start-up reconcile finds the full target and unlocks it.
    restarted = time.monotonic()
    worker = start_worker(processes)
    wait_until(
        lambda: Unlock.objects.filter(community=community).exists(),
        30,
        f"the unlock after restart; worker log:\n{worker.log()[-5000:]}",
    )
    recovered_in = time.monotonic() - restarted
    worker.wait_for_log(UNLOCKED_LOG, timeout=10)
    worker.wait_for_log(f"{RECONCILE_LOG} {progress_id} is full without an unlock", timeout=10)
    time.sleep(0.5)  # anything else the worker would do, it does now

    credited = sum(r.credited for r in before + during)
    assert credited == 150
    assert list(
        Unlock.objects.filter(community=community).values_list("node_id", "level", "progress_id")
    ) == [(chain.first.pk, 1, progress_id)]
    ledger = books(community)
    assert ledger.ledger_points == ledger.shard_points == ledger.viewer_points == credited
    assert_rollover(chain, rollover_cap=ROLLOVER_CAP, credited=credited)
    assert check_integrity(community) == []
    assert unlock_target(progress_id) is False  # the lost message, redelivered in an hour
    assert Unlock.objects.filter(community=community).count() == 1
    assert "Traceback" not in worker.log(), worker.log()[-5000:]
    print(
        f"\nkilled mid-unlock; ingest during the hung unlock took {during_took:.1f}s"
        f"{' (waited until the kill)' if during_waited_for_the_unlock else ''}; new worker "
        f"unlocked {recovered_in:.1f}s after its start; whole scenario "
        f"{time.monotonic() - started:.1f}s"
    )
    assert not during_waited_for_the_unlock, (
        f"engagement stalled for as long as the unlock's transaction ran (>{DURING_PATIENCE}s, "
        "until the worker was killed): the ledger insert's foreign key to the progress waits "
        "on the unlock's FOR UPDATE row lock"
    )


def _ingest_into(out: list, community, prefix: str) -> None:  # noqa: ANN001
    try:
        out.append(ingest_in_threads(community, clients=10, per_client=3, prefix=prefix))
    except BaseException as exc:  # noqa: BLE001 - handed to the test thread
        out.append(exc)


@pytest.mark.real_services
@pytest.mark.django_db(transaction=True)
def test_a_starting_worker_unlocks_a_crossed_threshold_nobody_enqueued(
    processes: Launcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    community = CommunityFactory()
    chain = build_chain(community, first_cost=COST, next_cost=NEXT_COST, rollover_cap=ROLLOVER_CAP)
    progress_id = chain.progress.pk
    monkeypatch.setattr(tasks_on_commit, "unlock_due", lambda progress_id: None)  # a lost task
    results = ingest_in_threads(community, clients=40, per_client=3, prefix="lost")
    credited = sum(r.credited for r in results)
    assert credited == 120
    assert crossed_progress_ids() == [progress_id]
    assert not Unlock.objects.filter(community=community).exists()

    restarted = time.monotonic()
    worker = start_worker(processes)
    wait_until(
        lambda: Unlock.objects.filter(community=community).exists(),
        30,
        f"the reconcile's unlock; worker log:\n{worker.log()[-5000:]}",
    )
    recovered_in = time.monotonic() - restarted
    worker.wait_for_log(UNLOCKED_LOG, timeout=10)
    worker.wait_for_log(f"{RECONCILE_LOG} {progress_id} is full without an unlock", timeout=10)
    time.sleep(0.5)
    assert list(
        Unlock.objects.filter(community=community).values_list("node_id", "level", "progress_id")
    ) == [(chain.first.pk, 1, progress_id)]
    assert_rollover(chain, rollover_cap=ROLLOVER_CAP, credited=credited)
    assert crossed_progress_ids() == []
    assert check_integrity(community) == []
    assert "Traceback" not in worker.log(), worker.log()[-5000:]
    print(f"\nstarting worker reconciled the crossed threshold in {recovered_in:.1f}s")
