"""The reaper (beat): no job stays running forever. A job whose worker vanished is re-queued
while attempts remain and resumes after its last finished stage; then it fails with a reason.
And pruning: finished jobs go after the retention window, unfinished ones never."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from jobs.models import Job, SelftestUnit, Status
from jobs.services import prune_finished_jobs, reap_stale_jobs, request_cancel
from jobs.services.upkeep import Reaped
from jobs.tasks import prune_finished_jobs_task, reap_stale_jobs_task

pytestmark = pytest.mark.django_db


def went_silent(job: Job, seconds: float = 3600) -> None:
    Job.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(seconds=seconds))


def test_a_job_whose_worker_died_is_requeued_and_resumes_producing_nothing_twice(
    community, start_job, run_job_now, probe, enqueued, django_capture_on_commit_callbacks
):
    job = start_job(community, "probe", {"units": 5, "die_at": 3})
    with pytest.raises(probe.WorkerDied):
        run_job_now(job)
    job.refresh_from_db()
    assert (job.status, job.stage, job.current) == (Status.RUNNING, "second", 2)
    went_silent(job)

    with django_capture_on_commit_callbacks(execute=True):
        assert reap_stale_jobs() == Reaped(requeued=1)

    job.refresh_from_db()
    assert (job.status, job.attempt, job.runner) == (Status.QUEUED, 2, "")
    assert (job.stage, job.current) == ("second", 2)  # progress kept
    assert "worker lost" in job.message
    assert enqueued[-1] == (str(job.pk), 2)
    assert run_job_now(job) == "succeeded"
    assert probe.EXECUTED[str(job.pk)] == [(1, "first"), (1, "second"), (2, "second")]


def test_a_redelivered_selftest_writes_each_unit_once(
    community, start_job, run_job_now, monkeypatch, enqueued
):
    from jobs.pipelines import selftest

    job = start_job(community, params={"units": 6})
    calls = {"n": 0}

    def die_midway(delay_ms: int) -> None:
        calls["n"] += 1
        if calls["n"] == 5:  # warming's pause, then units 1-3 done: dies before unit 4
            raise KeyboardInterrupt

    monkeypatch.setattr(selftest, "_pause", die_midway)
    with pytest.raises(KeyboardInterrupt):
        run_job_now(job)
    assert SelftestUnit.objects.filter(job=job).count() == 3
    monkeypatch.setattr(selftest, "_pause", lambda delay_ms: None)
    went_silent(job)
    reap_stale_jobs()

    assert run_job_now(job) == "succeeded"
    assert job.result == {"units": 6, "rows": 6}
    units = SelftestUnit.objects.filter(job=job)
    assert sorted(units.values_list("unit", flat=True)) == [1, 2, 3, 4, 5, 6]
    assert {u.unit: u.attempt for u in units} == {1: 1, 2: 1, 3: 1, 4: 2, 5: 2, 6: 2}


def test_a_job_out_of_attempts_fails_with_the_reason_and_keeps_its_progress(
    community, start_job, claimed, enqueued
):
    job = start_job(community, params={"units": 4})
    run = claimed(job)
    from jobs.services import progress

    progress.begin_stage(run, "counting", 4)
    progress.advance(run, "counting", 2)
    Job.objects.filter(pk=job.pk).update(attempt=3, max_attempts=3)
    went_silent(job)

    assert reap_stale_jobs() == Reaped(failed=1)

    job.refresh_from_db()
    assert job.status == Status.FAILED and job.finished_at is not None
    assert "worker lost" in job.error and "attempt 3 of 3" in job.error
    assert (job.error_stage, job.current, job.total) == ("counting", 2, 4)
    assert enqueued == []


def test_a_lost_job_whose_cancel_was_requested_is_cancelled(
    community, start_job, claimed, enqueued
):
    job = start_job(community)
    claimed(job)
    request_cancel(job)
    went_silent(job)

    assert reap_stale_jobs() == Reaped(cancelled=1)
    job.refresh_from_db()
    assert job.status == Status.CANCELLED and job.result["partial"] is True


def test_a_job_with_a_fresh_heartbeat_is_left_alone(community, start_job, claimed, enqueued):
    job = start_job(community)
    claimed(job)
    went_silent(job, seconds=5)

    assert reap_stale_jobs() == Reaped()
    job.refresh_from_db()
    assert job.status == Status.RUNNING and job.attempt == 1


def test_a_job_queued_too_long_is_sent_again(
    community, start_job, enqueued, settings, django_capture_on_commit_callbacks
):
    job = start_job(community)
    Job.objects.filter(pk=job.pk).update(queued_at=timezone.now() - timedelta(hours=1))

    with django_capture_on_commit_callbacks(execute=True):
        assert reap_stale_jobs() == Reaped(resent=1)

    assert enqueued == [(str(job.pk), 1)]


def test_the_reaper_is_a_beat_task(settings, community, start_job, claimed, enqueued):
    job = start_job(community)
    claimed(job)
    went_silent(job)

    assert settings.CELERY_BEAT_SCHEDULE["reap-stale-jobs"]["task"] == reap_stale_jobs_task.name
    assert reap_stale_jobs_task.apply().result == {
        "requeued": 1,
        "failed": 0,
        "cancelled": 0,
        "resent": 0,
    }


def test_finished_jobs_are_pruned_after_the_retention_window(
    community, start_job, run_job_now, settings
):
    settings.JOBS_RETENTION_SECONDS = 3600
    old = start_job(community, params={"units": 2})
    run_job_now(old)
    Job.objects.filter(pk=old.pk).update(finished_at=timezone.now() - timedelta(hours=2))
    recent = start_job(community, params={"units": 2})
    run_job_now(recent)
    old_queued = start_job(community)
    Job.objects.filter(pk=old_queued.pk).update(created_at=timezone.now() - timedelta(days=30))

    assert settings.CELERY_BEAT_SCHEDULE["prune-finished-jobs"]["task"] == (
        prune_finished_jobs_task.name
    )
    assert prune_finished_jobs_task.apply().result == 1

    assert set(Job.objects.values_list("pk", flat=True)) == {recent.pk, old_queued.pk}
    assert not SelftestUnit.objects.filter(job_id=old.pk).exists()
    assert prune_finished_jobs(retention_seconds=0) == 1  # the recent one, with no window
