"""The runner: a job runs its kind through Celery from queued to a true terminal state."""

from __future__ import annotations

import pytest

from jobs.models import SelftestUnit, Status

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
