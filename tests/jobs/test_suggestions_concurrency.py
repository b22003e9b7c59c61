"""Suggestions under real concurrency on PostgreSQL: a bot that relays one chat message from
several connections at once stores it once, and two jobs started together never take the
same suggestions."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection

from jobs.models import Status
from jobs.proposals_services import claim_pending
from jobs.services import create_job
from jobs.suggestions_models import Suggestion
from jobs.suggestions_services import NewSuggestion, submit_suggestion
from tests.factories import CommunityFactory

pytestmark = [pytest.mark.real_services, pytest.mark.django_db(transaction=True)]
THREADS = 8


def together(work, count: int = THREADS) -> list:  # noqa: ANN001
    """`work(n)` on `count` threads released at once; each closes its connection after."""
    barrier = threading.Barrier(count)

    def run(n: int):  # noqa: ANN202
        barrier.wait()
        try:
            return work(n)
        finally:
            connection.close()

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(run, range(count)))


def test_one_message_relayed_from_eight_connections_at_once_is_stored_once():
    community = CommunityFactory()
    new = NewSuggestion(
        text="pet dragon", viewer_key="viewer:ann", message_id="bot:m-1", platform_user_id="ann"
    )

    results = together(lambda _: submit_suggestion(community, new))

    assert Suggestion.objects.filter(community=community).count() == 1
    assert sum(result.created for result in results) == 1
    assert {result.suggestion.pk for result in results} == {Suggestion.objects.get().pk}


def test_two_jobs_collecting_at_once_never_take_the_same_suggestion():
    community = CommunityFactory()
    Suggestion.objects.bulk_create(
        Suggestion(
            community=community,
            text=f"idea number {n}",
            viewer_key=f"viewer:v{n}",
            message_id=f"bot:m-{n}",
        )
        for n in range(200)
    )
    jobs = [create_job(community, "generate_proposals") for _ in range(2)]
    for job in jobs:  # both live, as their runners would have them
        type(job).objects.filter(pk=job.pk).update(status=Status.RUNNING, started_at=job.created_at)

    taken = together(lambda n: claim_pending(community.pk, str(jobs[n].pk), 1000), count=2)

    assert set(taken[0]).isdisjoint(taken[1])
    assert sorted(taken[0] + taken[1]) == sorted(
        Suggestion.objects.filter(community=community).values_list("pk", flat=True)
    )
