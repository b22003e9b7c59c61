"""A build_tree job whose worker is killed (SIGKILL) in the middle of the build, with real
Celery workers on the test database and Redis: after the reaper re-queues it and a new worker
takes it, the job succeeds and every card became exactly one node."""

from __future__ import annotations

import pytest

from jobs.models import Job, Status
from jobs.services import create_job, reap_stale_jobs
from jobs.suggestions_models import Proposal
from progression.models import Node
from realtime.models import OutboxEvent
from tests.e2e.processes import Launcher
from tests.e2e.worker_helpers import READY_MARKER, WORKER_START_TIMEOUT, wait_until
from tests.factories import CommunityFactory, NodeFactory

CARDS = 8
UNIT_DELAY_MS = 400  # per card while planning: the kill lands there


def solo_worker(launcher: Launcher):
    """The Procfile's worker on the solo pool: the job runs in the process itself, so SIGKILL
    really kills it mid-flight. Beats every 0.3 s, so a stale heartbeat means a dead worker."""
    worker = launcher.script(
        "celery",
        "-A",
        "config",
        "worker",
        "--loglevel=INFO",
        "--pool=solo",
        "--without-mingle",
        JOBS_HEARTBEAT_SECONDS="0.3",
    )
    worker.wait_for_log(READY_MARKER, timeout=WORKER_START_TIMEOUT)
    return worker


@pytest.mark.real_services
@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_build_leaves_every_card_built_exactly_once_after_restart(
    processes: Launcher, settings
) -> None:
    settings.JOBS_STALE_SECONDS = 2.0  # the test process plays beat's reaper
    community = CommunityFactory()
    NodeFactory(community=community, key="base")
    for n in range(CARDS):
        Proposal.objects.create(
            community=community,
            column="accepted",
            position=n,
            title=f"Built node {n}",
            prerequisites=["base"] if n % 2 else [],
        )
    doomed = solo_worker(processes)
    job = create_job(community, "build_tree", {"unit_delay_ms": UNIT_DELAY_MS})

    def mid_planning() -> bool:
        row = Job.objects.get(pk=job.pk)
        return row.status == Status.RUNNING and row.stage == "planning" and row.current >= 2

    wait_until(mid_planning, 60, "the job half-way through planning")
    doomed.popen.kill()  # SIGKILL: no ack, no cleanup
    doomed.wait(10)
    assert Job.objects.get(pk=job.pk).status == Status.RUNNING  # nobody said otherwise

    wait_until(
        lambda: reap_stale_jobs().requeued == 1, 30, "the reaper to re-queue the lost job", 0.5
    )
    solo_worker(processes)
    wait_until(
        lambda: Job.objects.get(pk=job.pk).status in (Status.SUCCEEDED, Status.FAILED),
        90,
        "the re-queued job to finish on the new worker",
        0.2,
    )

    job.refresh_from_db()
    assert job.status == Status.SUCCEEDED, job.error
    assert job.attempt == 2
    keys = list(Node.objects.filter(community=community).values_list("key", flat=True))
    assert sorted(keys) == sorted(["base", *(f"built_node_{n}" for n in range(CARDS))])
    cards = Proposal.objects.filter(community=community)
    assert {card.column for card in cards} == {"built"}
    assert len({card.built_node_id for card in cards}) == CARDS
    built_events = OutboxEvent.objects.filter(community=community, type="board.card.built")
    assert built_events.count() == CARDS
    assert OutboxEvent.objects.filter(type="progression.tree.changed").count() == 1
