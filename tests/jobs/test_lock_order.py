"""One lock order for job writes (jobs/services/writes.py), proved on PostgreSQL with real
concurrent writers, each on its own connection: a pipeline stage that publishes (a board card)
and then records its checkpoint on the job row, racing the run's counts (quiet ones, which
take no stream lock, and due ones, which publish), the heartbeat (which lets out held-back
events) and a moderator's reads. A heartbeat that wrote the job row before publishing
deadlocked with such a stage; PostgreSQL would break the cycle by failing one of them."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import transaction

from jobs.models import Job
from jobs.services import progress
from realtime import lock_stream, publish
from realtime.models import OutboxEvent
from tests.progression.concurrency_helpers import run_concurrently

pytestmark = [
    pytest.mark.real_services,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("enqueued"),
]
UNITS = 50
ROUNDS = 60


def test_a_stage_publishing_then_checkpointing_never_deadlocks_with_counts_and_heartbeats(
    community, start_job, claimed, settings
):
    settings.JOBS_PROGRESS_EVENT_INTERVAL_MS = 3  # many counts are due: both paths are raced
    job = start_job(community, params={"units": UNITS})
    run = claimed(job)
    progress.begin_stage(run, "counting", UNITS)
    progress.advance(run, "counting", UNITS)
    stop = threading.Event()

    def stage() -> int:
        try:
            for round_ in range(ROUNDS):
                with transaction.atomic():
                    publish(community, "board", "board.card.moved", {"round": round_})
                    time.sleep(0.002)  # the stream is held while the stage works on
                    progress.finish_stage(run, "counting", {"round": round_})
            return ROUNDS
        finally:
            stop.set()

    def counts() -> int:
        done = 0
        while not stop.is_set():
            progress.advance(run, "counting", UNITS, f"count {done}")  # the same count: allowed
            done += 1
        return done

    def heartbeats() -> int:
        done = 0
        while not stop.is_set():
            progress.beat(run)
            done += 1
        return done

    ran = run_concurrently([stage, counts, counts, heartbeats, heartbeats])

    errors = [r.error for r in ran if r.error is not None]
    assert errors == [], f"a writer failed (a deadlock is reported as one): {errors!r}"
    assert ran[0].value == ROUNDS and all(r.value > 0 for r in ran[1:])
    job.refresh_from_db()
    assert job.checkpoints["counting"] == {"round": ROUNDS - 1} and job.current == UNITS
    versions = [
        data["version"]
        for data in OutboxEvent.objects.filter(community=community, topic="jobs")
        .order_by("event_id")
        .values_list("data", flat=True)
    ]
    assert versions == sorted(versions) and len(set(versions)) == len(versions)
    assert Job.objects.get(pk=job.pk).version >= versions[-1]


def test_a_due_count_does_not_queue_behind_a_busy_stream_its_event_waits_instead(
    community, start_job, claimed, settings, job_events
):
    settings.JOBS_PROGRESS_EVENT_INTERVAL_MS = 0  # every count is due
    job = start_job(community, params={"units": UNITS})
    run = claimed(job)
    progress.begin_stage(run, "counting", UNITS)
    held, release = threading.Event(), threading.Event()

    def hold_the_stream() -> None:
        with transaction.atomic():
            lock_stream(community.pk)
            held.set()
            release.wait(timeout=30)

    def count_while_held() -> tuple[bool, float]:
        assert held.wait(timeout=30)
        try:
            started = time.monotonic()
            published = progress.advance(run, "counting", 3, "while the stream is busy")
            return published, time.monotonic() - started
        finally:
            release.set()

    holder, counter = run_concurrently([hold_the_stream, count_while_held])

    assert holder.error is None and counter.error is None
    published, waited = counter.value
    assert published is False and waited < 5  # it did not wait for the holder's commit
    job.refresh_from_db()
    assert (job.current, job.message) == (3, "while the stream is busy")
    assert job_events(community)[-1][1]["current"] == 0  # the event waits
    assert progress.advance(run, "counting", 4) is True  # and leaves with the next count
    assert job_events(community)[-1][1]["current"] == 4
