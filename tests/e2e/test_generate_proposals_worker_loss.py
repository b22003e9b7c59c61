"""`generate_proposals` end to end with the Procfile's processes on the test database and Redis
(issue 9, point 10): the worker is killed with SIGKILL in the middle of clustering; the beat's
reaper re-queues the job; a new worker resumes it after its last finished stage (collecting);
the job succeeds once and every proposal exists once — exactly the cards a run that was never
interrupted makes of the same suggestions.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from django.conf import settings

from jobs.clustering import cluster
from jobs.models import Job, Status
from jobs.services import create_job
from jobs.suggestions_models import Proposal, Suggestion, SuggestionStatus
from tests.e2e.processes import Launcher
from tests.e2e.test_jobs import start_beat, start_solo_worker
from tests.e2e.worker_helpers import wait_until
from tests.factories import CommunityFactory
from tests.jobs.suggestion_fixtures import labelled

UNIT_DELAY_MS = 40  # clustering's ~100 blocks take a few seconds: time to kill in the middle


def seed_suggestions(community) -> list[Suggestion]:  # noqa: ANN001
    texts, _ = labelled()
    return Suggestion.objects.bulk_create(
        Suggestion(
            community=community,
            text=text,
            viewer_key=f"viewer:v{number}",
            platform_user_id=f"v{number}",
            message_id=f"bot:m-{number}",
        )
        for number, text in enumerate(texts)
    )


def expected_cards(suggestions: list[Suggestion]) -> int:
    """Cards an uninterrupted run makes: groups with enough distinct viewers (each line here
    has a viewer of its own, and the community has no nodes or cards to merge into)."""
    groups = cluster([s.text for s in suggestions], [s.pk for s in suggestions])
    return sum(1 for group in groups if group.size >= settings.PROPOSALS_MIN_SUPPORTERS)


@pytest.mark.real_services
@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_clustering_then_the_job_succeeds_once_and_each_card_exists_once(
    processes: Launcher, tmp_path: Path
) -> None:
    community = CommunityFactory()
    suggestions = seed_suggestions(community)
    start_beat(processes, tmp_path)
    doomed = start_solo_worker(processes)
    job = create_job(community, "generate_proposals", {"unit_delay_ms": UNIT_DELAY_MS})
    job_id = str(job.pk)

    def current() -> Job:
        return Job.objects.get(pk=job_id)

    wait_until(
        lambda: current().stage == "clustering" and current().current > 0,
        60,
        f"the job to be inside clustering; worker log:\n{doomed.log()[-3000:]}",
    )
    doomed.popen.kill()  # SIGKILL: no shutdown, no ack, nothing written on the way out
    assert doomed.wait(10) == -9
    killed_at = current()
    assert killed_at.status == Status.RUNNING
    assert (killed_at.stage, list(killed_at.checkpoints)) == ("clustering", ["collecting"])
    assert 0 < killed_at.current < killed_at.total
    assert not Proposal.objects.filter(community=community).exists()

    restarted = time.monotonic()
    worker = start_solo_worker(processes)
    wait_until(
        lambda: current().status in (Status.SUCCEEDED, Status.FAILED, Status.CANCELLED),
        120,
        f"the job to finish after the restart; worker log:\n{worker.log()[-5000:]}",
    )
    recovered_in = time.monotonic() - restarted

    job = current()
    assert job.status == Status.SUCCEEDED, (job.error, worker.log()[-5000:])
    assert job.attempt == 2
    cards = Proposal.objects.filter(community=community)
    assert cards.count() == expected_cards(suggestions) == job.result["proposals_created"]
    assert set(cards.values_list("source_job_id", flat=True)) == {job.pk}
    assert cards.values("group_key").distinct().count() == cards.count()
    assert sorted(cards.values_list("position", flat=True)) == list(range(cards.count()))
    grouped = Suggestion.objects.filter(community=community, status=SuggestionStatus.GROUPED)
    assert grouped.filter(proposal__isnull=True).count() == 0
    assert sum(cards.values_list("suggestion_count", flat=True)) == grouped.count()
    assert "Traceback" not in worker.log(), worker.log()[-5000:]
    print(
        f"\nkilled at {killed_at.current}/{killed_at.total} in clustering; succeeded "
        f"{recovered_in:.1f}s after the new worker started; {cards.count()} cards"
    )
