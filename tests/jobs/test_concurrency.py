"""Concurrency proofs on PostgreSQL (and the Redis cache), with real threads, each on its own
database connection: progress never moves backwards whatever order concurrent writes land
in, a cancel and a completion racing leave one true state, and a job is claimed once."""

from __future__ import annotations

import random
import threading

import pytest

from jobs.errors import JobStateConflict, ProgressRefused, Refusal
from jobs.kinds import JobCancelled
from jobs.models import Job, Status
from jobs.progress_cache import progress_cache
from jobs.services import claim_run, progress, request_cancel
from tests.progression.concurrency_helpers import run_concurrently

pytestmark = [
    pytest.mark.real_services,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("enqueued"),
]
WRITERS = 12
UNITS = 600


def test_concurrent_advances_never_move_progress_backwards(community, start_job, claimed, settings):
    settings.JOBS_PROGRESS_EVENT_INTERVAL_MS = 0
    job = start_job(community, params={"units": UNITS})
    run = claimed(job)
    progress.begin_stage(run, "counting", UNITS)
    counts = list(range(1, UNITS + 1))
    random.Random(3).shuffle(counts)
    shares = [counts[i::WRITERS] for i in range(WRITERS)]
    seen_rows: list[tuple[int, int]] = []
    seen_cache: list[tuple[int, int]] = []
    done = threading.Event()

    def write(share: list[int]) -> list[Refusal]:
        refusals = []
        for current in share:
            try:
                progress.advance(run, "counting", current)
            except ProgressRefused as refused:
                refusals.append(refused.reason)
        return refusals

    def watch() -> None:
        while not done.is_set():
            row = Job.objects.filter(pk=job.pk).values_list("version", "current").get()
            seen_rows.append(row)
            cached = progress_cache.load(str(job.pk))
            if cached is not None:
                seen_cache.append((cached["version"], cached["current"]))

    def watcher() -> None:
        try:
            watch()
        finally:
            from django.db import connection

            connection.close()

    reader = threading.Thread(target=watcher)
    reader.start()
    try:
        ran = run_concurrently([lambda share=share: write(share) for share in shares])
    finally:
        done.set()
        reader.join()

    refusals = [reason for r in ran for reason in r.value]
    job.refresh_from_db()
    assert job.current == UNITS and job.stage == "counting"
    assert set(refusals) <= {Refusal.CURRENT_BACKWARDS}
    assert len(refusals) < UNITS
    for seen in (seen_rows, seen_cache):
        versions, currents = [v for v, _ in seen], [c for _, c in seen]
        assert versions == sorted(versions), "a reader saw an older state after a newer one"
        assert currents == sorted(currents), "a reader saw progress go back in time"
    assert len(seen_rows) > 10
    final = progress_cache.load(str(job.pk))
    assert final is not None and (final["version"], final["current"]) == (job.version, UNITS)


def test_a_cancel_racing_a_completion_leaves_one_true_state(community, start_job, claimed):
    outcomes = []
    for _ in range(15):
        job = start_job(community)
        run = claimed(job)
        ran = run_concurrently(
            [
                lambda run=run: progress.complete(run, {"ok": True}),
                lambda job=job: request_cancel(job),
            ]
        )
        job.refresh_from_db()
        completed, cancel = ran
        if job.status == Status.SUCCEEDED:
            assert completed.error is None and isinstance(cancel.error, JobStateConflict)
            assert job.cancel_requested_at is None
        else:
            assert job.status == Status.RUNNING and job.cancel_requested_at is not None
            assert isinstance(completed.error, JobCancelled) and cancel.error is None
            progress.cancel(run, {"partial": True})
            job.refresh_from_db()
            assert job.status == Status.CANCELLED
        outcomes.append(job.status)
    assert set(outcomes) <= {Status.SUCCEEDED, Status.CANCELLED}


def test_duplicate_messages_for_one_attempt_claim_it_once(community, start_job):
    job = start_job(community)
    ran = run_concurrently([lambda i=i: claim_run(str(job.pk), 1, f"task-{i}") for i in range(10)])

    claims = [r.value for r in ran if r.value is not None]
    assert len(claims) == 1 and all(r.error is None for r in ran)
    job.refresh_from_db()
    assert job.runner == claims[0].runner and job.status == Status.RUNNING
