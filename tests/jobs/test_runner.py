"""The runner: a job runs its kind through Celery from queued to a true terminal state."""

from __future__ import annotations

import pytest
from django.db import OperationalError

from jobs.models import Job, SelftestUnit, Status
from jobs.services import request_cancel, retry_job

pytestmark = pytest.mark.django_db


def test_selftest_runs_to_success_with_one_row_per_unit(community, start_job, run_job_now):
    job = start_job(community, params={"units": 5})
    assert job.status == Status.QUEUED

    assert run_job_now(job) == "succeeded"

    assert job.status == Status.SUCCEEDED
    assert job.stage == "complete"
    assert job.result == {"units": 5, "rows": 5}
    assert set(job.checkpoints) == {"warming", "counting", "summing"}
    assert SelftestUnit.objects.filter(job=job).count() == 5
    assert job.finished_at is not None


def test_a_failing_unit_fails_the_job_keeping_progress_and_rows(community, start_job, run_job_now):
    job = start_job(community, params={"units": 6, "fail_at": 4})

    assert run_job_now(job) == "failed"

    assert job.status == Status.FAILED and job.error_stage == "counting"
    assert "fail_at" in job.error and (job.current, job.total) == (3, 6)
    assert SelftestUnit.objects.filter(job=job).count() == 3
    assert set(job.checkpoints) == {"warming"}


def test_cancel_mid_run_stops_at_the_next_unit_and_keeps_partial_results(
    community, start_job, run_job_now, probe
):
    job = start_job(community, "probe", {"units": 6, "cancel_at": 3})

    assert run_job_now(job) == "cancelled"

    assert job.status == Status.CANCELLED and job.finished_at is not None
    assert (job.stage, job.current) == ("second", 2)  # units 1 and 2 counted, 3 never
    assert job.result == {"partial": True, "finished_stages": ["first"], "stopped_in": "second"}
    assert job.checkpoints == {"first": {"attempt": 1}}


def test_retry_runs_the_same_job_again_resuming_after_its_finished_stages(
    community, start_job, run_job_now, probe
):
    job = start_job(community, "probe", {"units": 4, "fail_first_attempt": True})
    assert run_job_now(job) == "failed"
    assert (job.stage, job.current) == ("second", 1)

    retried = retry_job(job)
    assert (retried.status, retried.attempt, retried.error) == (Status.QUEUED, 2, "")
    assert (retried.stage, retried.current) == ("second", 1)  # the bar does not go back
    assert run_job_now(job) == "succeeded"

    assert job.result == {"units": 4, "attempt": 2}
    assert probe.EXECUTED[str(job.pk)] == [(1, "first"), (1, "second"), (2, "second")]


def test_retry_of_a_cancelled_job_runs_it_again(community, start_job, run_job_now, probe):
    job = start_job(community, "probe", {"units": 3})
    request_cancel(job)
    job.refresh_from_db()
    assert job.status == Status.CANCELLED

    retry_job(job)

    assert run_job_now(job) == "succeeded"
    assert job.attempt == 2 and job.cancel_requested_at is None


def test_transient_errors_are_retried_by_celery_then_the_job_succeeds(
    community, start_job, run_job_now, probe
):
    job = start_job(community, "probe", {"units": 2, "transient_times": 2})

    assert run_job_now(job) == "succeeded"

    assert probe.TRANSIENT_SEEN[str(job.pk)] == 2
    assert job.attempt == 1


def test_a_job_whose_transient_errors_outlast_the_retries_fails_saying_so(
    community, start_job, run_job_now, probe
):
    job = start_job(community, "probe", {"units": 2, "transient_times": 50})

    with pytest.raises(OperationalError):
        run_job_now(job)

    job.refresh_from_db()
    assert job.status == Status.FAILED and "after retries" in job.error


def test_a_kind_unknown_to_the_worker_fails_the_job(community, start_job, run_job_now):
    job = start_job(community)
    Job.objects.filter(pk=job.pk).update(kind="gone_kind")

    assert run_job_now(job) == "failed"
    assert "not registered" in job.error


def test_a_finished_job_is_not_run_again_by_a_late_message(community, start_job, run_job_now):
    job = start_job(community, params={"units": 2})
    run_job_now(job)
    version = job.version

    assert run_job_now(job) == "dropped"
    assert job.version == version and SelftestUnit.objects.filter(job=job).count() == 2


@pytest.mark.django_db(transaction=True)
def test_a_long_unit_of_work_keeps_beating_the_heartbeat(
    community, start_job, run_job_now, probe, settings, enqueued
):
    settings.JOBS_HEARTBEAT_SECONDS = 0.1
    job = start_job(community, "probe", {"units": 1, "hold_ms": 800})

    assert run_job_now(job) == "succeeded"

    before, after = probe.HEARTBEATS[str(job.pk)]
    assert (after - before).total_seconds() >= 0.5


@pytest.mark.django_db(transaction=True)
def test_a_created_job_runs_by_itself_after_commit(community, start_job, settings):
    """Embedded default: Celery runs the task on the process's task threads, never on the
    caller's; real mode has no worker in this test, so the job just waits, queued."""
    import time

    job = start_job(community, params={"units": 3})
    if not settings.TASKS_IN_PROCESS:
        assert Job.objects.get(pk=job.pk).status == Status.QUEUED
        return
    deadline = time.monotonic() + 30
    while Job.objects.get(pk=job.pk).status != Status.SUCCEEDED:
        assert time.monotonic() < deadline, Job.objects.get(pk=job.pk).status
        time.sleep(0.05)
    job.refresh_from_db()
    assert job.runner and job.result == {"units": 3, "rows": 3}
