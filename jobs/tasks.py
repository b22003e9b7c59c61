"""Celery edges of jobs: thin wrappers around the runner and the services."""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task

from config.celery import Task
from progression.tasks import TRANSIENT_ERRORS

logger = logging.getLogger(__name__)
__all__ = ["TRANSIENT_ERRORS", "prune_finished_jobs_task", "reap_stale_jobs_task", "run_job_task"]


class JobTask(Task):
    """When every retry of a transient error is spent, the job fails saying so, instead of
    waiting for the reaper."""

    def on_failure(self, exc: Exception, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        from jobs.services.progress import fail_given_up_run

        job_id, _ = _job_args(args, kwargs)
        try:
            fail_given_up_run(job_id, task_id, f"{type(exc).__name__}: {exc} (after retries)")
        except Exception:
            logger.error("job %s could not be marked failed", job_id, exc_info=True)


def _job_args(args: Any, kwargs: Any) -> tuple[str, int]:
    values = list(args or ()) + [kwargs[k] for k in ("job_id", "attempt") if k in (kwargs or {})]
    return str(values[0]), int(values[1])


@shared_task(
    base=JobTask,
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=TRANSIENT_ERRORS,
    max_retries=5,
    retry_backoff=1,  # 1, 2, 4, 8, 16 s (jittered)
    retry_backoff_max=30,
    retry_jitter=True,
)
def run_job_task(self: Task, job_id: str, attempt: int) -> str:
    """Runs one attempt of a job. A redelivered or retried message keeps its task id and
    reclaims its own run; a duplicate or stale one (another attempt) is dropped."""
    from jobs.runner import run_job

    return run_job(job_id, attempt, runner=str(self.request.id))


@shared_task(ignore_result=True)
def reap_stale_jobs_task() -> dict[str, int]:
    from dataclasses import asdict

    from jobs.services import reap_stale_jobs

    return asdict(reap_stale_jobs())


@shared_task(ignore_result=True)
def prune_finished_jobs_task() -> int:
    from jobs.services import prune_finished_jobs

    return prune_finished_jobs()
