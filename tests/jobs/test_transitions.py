"""Every rule of the job state machine, through the one advance service: refusals are typed,
logged at WARNING, and write nothing."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from jobs.errors import ProgressRefused, Refusal, RunLost
from jobs.events import job_payload
from jobs.kinds import KINDS, JobCancelled, overall_percent
from jobs.models import Job, Status
from jobs.services import claim_run, progress, request_cancel

pytestmark = pytest.mark.django_db


@pytest.fixture
def job(community, start_job):
    return start_job(community, params={"units": 10})


@pytest.fixture
def run(job, claimed):
    return claimed(job)


def state(job: Job) -> tuple:
    job.refresh_from_db()
    return (job.status, job.stage, job.current, job.total, job.version)


def refused(reason: Refusal, call, *args, caplog=None):
    with pytest.raises(ProgressRefused) as info:
        call(*args)
    assert info.value.reason == reason
    return info.value


def test_a_claimed_job_is_running_in_its_first_stage(job, run):
    job.refresh_from_db()
    assert job.status == Status.RUNNING and job.stage == "warming" and job.started_at
    assert job.runner == run.runner and job.heartbeat_at is not None


def test_stages_move_forward_and_reset_current_for_the_new_stage(job, run):
    progress.begin_stage(run, "warming", 1)
    progress.advance(run, "warming", 1)
    progress.begin_stage(run, "counting", 10)
    assert state(job)[1:4] == ("counting", 0, 10)
    progress.advance(run, "counting", 4)
    progress.advance(run, "counting", 4)  # the same count again is not backwards
    assert state(job)[1:4] == ("counting", 4, 10)


def test_a_stage_that_is_not_the_kinds_is_refused(job, run):
    before = state(job)
    refused(Refusal.UNKNOWN_STAGE, progress.begin_stage, run, "clustering", 3)
    refused(Refusal.UNKNOWN_STAGE, progress.advance, run, "clustering", 1)
    assert state(job) == before


def test_a_stage_never_moves_backwards(job, run):
    progress.begin_stage(run, "counting", 10)
    before = state(job)
    refused(Refusal.STAGE_BACKWARDS, progress.begin_stage, run, "warming", 1)
    assert state(job) == before


def test_current_never_decreases_within_a_stage(job, run):
    progress.begin_stage(run, "counting", 10)
    progress.advance(run, "counting", 6)
    before = state(job)
    refused(Refusal.CURRENT_BACKWARDS, progress.advance, run, "counting", 5)
    assert state(job) == before


def test_current_stays_between_zero_and_total(job, run):
    progress.begin_stage(run, "counting", 10)
    refused(Refusal.OUT_OF_RANGE, progress.advance, run, "counting", 11)
    refused(Refusal.OUT_OF_RANGE, progress.advance, run, "counting", -1)
    refused(Refusal.OUT_OF_RANGE, progress.begin_stage, run, "summing", -2)
    assert state(job)[2:4] == (0, 10)


def test_progress_in_a_stage_not_yet_begun_is_refused(job, run):
    refused(Refusal.STAGE_NOT_CURRENT, progress.advance, run, "counting", 1)


def test_a_stage_keeps_its_denominator_once_work_is_counted(job, run):
    progress.begin_stage(run, "counting", 10)
    progress.advance(run, "counting", 3)
    refused(Refusal.TOTAL_CHANGED, progress.begin_stage, run, "counting", 12)
    assert state(job)[2:4] == (3, 10)


def test_re_entering_the_current_stage_resumes_where_it_was(job, run):
    progress.begin_stage(run, "counting", 10)
    progress.advance(run, "counting", 7)
    assert progress.begin_stage(run, "counting", 10) == 7
    assert state(job)[2:4] == (7, 10)


def test_the_denominator_may_be_set_while_nothing_is_counted(job, run):
    progress.begin_stage(run, "warming", 5)
    assert progress.begin_stage(run, "warming", 2) == 0
    assert state(job)[3] == 2


def test_refusals_are_logged_at_warning(job, run, caplog):
    progress.begin_stage(run, "counting", 10)
    with caplog.at_level(logging.WARNING, logger="jobs.services.progress"):
        refused(Refusal.OUT_OF_RANGE, progress.advance, run, "counting", 99)
    assert any(
        r.levelno == logging.WARNING and "out_of_range" in r.getMessage() for r in caplog.records
    )


def test_every_write_grows_the_version(job, run):
    versions = [state(job)[4]]
    progress.begin_stage(run, "counting", 10)
    versions.append(state(job)[4])
    progress.advance(run, "counting", 1)
    versions.append(state(job)[4])
    with transaction.atomic():
        progress.finish_stage(run, "counting", {"units": 1})
    versions.append(state(job)[4])
    assert versions == sorted(set(versions))


def test_finishing_a_stage_keeps_its_data_and_fills_its_share(job, run):
    progress.begin_stage(run, "counting", 10)
    progress.advance(run, "counting", 4)
    with transaction.atomic():
        progress.finish_stage(run, "counting", {"units": 10})
    job.refresh_from_db()
    assert job.checkpoints == {"counting": {"units": 10}}
    assert (job.current, job.total) == (10, 10)
    assert job_payload(job)["percent"] == 90.0  # warming 1 + counting 8 of 10


def test_percent_is_derived_from_the_stage_weights(job, run):
    kind = KINDS["selftest"]
    progress.begin_stage(run, "counting", 10)
    progress.advance(run, "counting", 5)
    job.refresh_from_db()
    assert job_payload(job)["percent"] == overall_percent(kind, "counting", 5, 10) == 50.0


def test_completion_is_final_and_reads_100_percent(job, run):
    progress.complete(run, {"ok": True})
    job.refresh_from_db()
    assert job.status == Status.SUCCEEDED and job.stage == "complete"
    assert job_payload(job)["percent"] == 100.0
    with pytest.raises(RunLost):
        progress.fail(run, "late")
    with pytest.raises(RunLost):
        progress.advance(run, "counting", 1)
    assert state(job)[0] == Status.SUCCEEDED


def test_an_error_keeps_the_last_progress_and_names_the_stage(job, run):
    progress.begin_stage(run, "counting", 10)
    progress.advance(run, "counting", 6)
    progress.fail(run, "ValueError: broken")
    job.refresh_from_db()
    assert job.status == Status.FAILED
    assert (job.stage, job.current, job.total) == ("counting", 6, 10)
    assert (job.error, job.error_stage) == ("ValueError: broken", "counting")
    assert job_payload(job)["error"] == {"message": "ValueError: broken", "stage": "counting"}


def test_a_cancel_request_stops_the_next_unit_of_work(job, run):
    progress.begin_stage(run, "counting", 10)
    progress.advance(run, "counting", 2)
    request_cancel(job)
    with pytest.raises(JobCancelled):
        progress.advance(run, "counting", 3)
    with pytest.raises(JobCancelled):
        progress.touch(run)
    assert state(job)[2] == 2


def test_a_late_complete_never_overwrites_cancelled(job, run):
    request_cancel(job)
    progress.cancel(run, {"partial": True})
    with pytest.raises(RunLost) as info:
        progress.complete(run, {"ok": True})
    assert info.value.reason == Refusal.NOT_RUNNING
    job.refresh_from_db()
    assert job.status == Status.CANCELLED and job.result == {"partial": True}


def test_a_complete_after_a_cancel_request_is_told_it_was_cancelled(job, run):
    request_cancel(job)
    with pytest.raises(JobCancelled):
        progress.complete(run, {"ok": True})
    assert state(job)[0] == Status.RUNNING


def test_cancelled_is_a_status_not_a_message(job):
    cancelled = request_cancel(job)
    assert cancelled.status == Status.CANCELLED and cancelled.finished_at is not None


def test_a_run_that_lost_its_job_to_a_newer_run_writes_nothing(job, run):
    progress.begin_stage(run, "counting", 10)
    Job.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))
    newer = claim_run(str(job.pk), job.attempt, "another-task")
    assert newer is not None
    with pytest.raises(RunLost) as info:
        progress.advance(run, "counting", 3)
    assert info.value.reason == Refusal.SUPERSEDED
    assert state(job)[2] == 0


def test_a_live_run_is_not_claimed_twice(job, run):
    assert claim_run(str(job.pk), job.attempt, "duplicate-message") is None
    assert claim_run(str(job.pk), job.attempt, run.runner) is not None  # its own redelivery


def test_a_message_for_an_old_attempt_is_dropped(job):
    Job.objects.filter(pk=job.pk).update(attempt=2, max_attempts=3)
    assert claim_run(str(job.pk), 1, "late-message") is None
    assert state(job)[0] == Status.QUEUED


@pytest.mark.parametrize(
    "change",
    [
        {"current": 11, "total": 10},
        {"status": "paused"},
        {"attempt": 4, "max_attempts": 3},
        {"status": Status.SUCCEEDED},  # not complete, no finished_at
        {"status": Status.FAILED, "finished_at": timezone.now()},  # no error
    ],
)
def test_the_database_refuses_impossible_rows(job, change):
    with pytest.raises(IntegrityError), transaction.atomic():
        Job.objects.filter(pk=job.pk).update(**change)
