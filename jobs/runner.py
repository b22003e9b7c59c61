"""Runs one claimed attempt of a job: the `JobContext` a pipeline talks to, the heartbeat timer,
and how the pipeline's end becomes the job's status. Called by `jobs.tasks.run_job_task` only
(a Celery worker, or the embedded default's task threads): never on a request's thread."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import close_old_connections

from jobs.errors import RunLost
from jobs.kinds import KINDS, JobCancelled
from jobs.models import Job
from jobs.services import claim_run
from jobs.services import progress as service
from jobs.services.progress import Run

logger = logging.getLogger(__name__)


class RunContext:
    """`jobs.kinds.JobContext` for one run. A resumed stage (a new run after worker loss or a
    retry) keeps the progress the earlier run reached: reports up to that point only beat the
    heartbeat and check for a cancel, so the bar never moves backwards."""

    def __init__(self, run: Run, job: Job) -> None:
        self.run = run
        self.job_id = str(job.pk)
        self.attempt = run.attempt
        self.community_id = job.community_id
        self.params: dict[str, Any] = dict(job.params)
        self._checkpoints: dict[str, Any] = dict(job.checkpoints)
        self._stage = job.stage
        self._floor = 0

    def checkpoint(self, stage: str) -> Any | None:
        return self._checkpoints.get(stage)

    def begin(self, stage: str, total: int, message: str = "") -> None:
        self._floor = service.begin_stage(self.run, stage, total, message)
        self._stage = stage

    def advance(self, current: int, message: str = "") -> None:
        if current <= self._floor:
            service.touch(self.run)
            return
        service.advance(self.run, self._stage, current, message)

    def finish_stage(self, stage: str, data: Any) -> None:
        service.finish_stage(self.run, stage, data)
        self._checkpoints[stage] = data
        self._floor = 0

    @property
    def stage(self) -> str:
        return self._stage

    def partial(self, result: dict[str, Any] | None = None) -> dict[str, Any]:
        """What a cancelled run reports: the stages it finished (their data is kept) and where
        it stopped."""
        partial: dict[str, Any] = {
            "partial": True,
            "finished_stages": list(self._checkpoints),
            "stopped_in": self._stage,
        }
        if result is not None:
            partial["result"] = result
        return partial


class HeartbeatTimer:
    """Beats the run's heartbeat every JOBS_HEARTBEAT_SECONDS from a thread of its own, so a
    long unit of work (no `advance` for a while) is not taken for a lost worker by the reaper.
    It dies with the process, which is the point: a killed worker stops beating."""

    def __init__(self, run: Run) -> None:
        self.run = run
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"job-heartbeat-{run.job_id}")
        self._thread.daemon = True

    def __enter__(self) -> HeartbeatTimer:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        try:
            while not self._stop.wait(settings.JOBS_HEARTBEAT_SECONDS):
                try:
                    service.beat(self.run)
                except Exception:
                    logger.warning("job %s heartbeat failed", self.run.job_id, exc_info=True)
        finally:
            close_old_connections()


def run_job(job_id: str, attempt: int, *, runner: str) -> str:
    """Claims and runs the attempt; returns what happened (for logs and tests). Transient
    errors (the database or Redis briefly away) propagate so Celery retries the task with
    backoff; the retry keeps its task id and so reclaims its own run."""
    run = claim_run(job_id, attempt, runner)
    if run is None:
        return "dropped"
    job = Job.objects.get(pk=job_id)
    if run.kind_name not in KINDS:
        service.fail(run, f"job kind {run.kind_name!r} is not registered in this worker")
        return "failed"
    context = RunContext(run, job)
    with HeartbeatTimer(run):
        return _run_pipeline(run, context)


def _run_pipeline(run: Run, context: RunContext) -> str:
    from jobs.tasks import TRANSIENT_ERRORS

    try:
        result = run.kind.run(context)
    except JobCancelled:
        service.cancel(run, context.partial())
        return "cancelled"
    except RunLost:
        logger.warning("job %s run %s lost ownership; stopping", run.job_id, run.runner)
        return "lost"
    except TRANSIENT_ERRORS:
        raise
    except Exception as exc:
        logger.warning("job %s failed in stage %s", run.job_id, context.stage, exc_info=True)
        error = f"{type(exc).__name__}: {exc}"
        return _end(run, lambda: service.fail(run, error), "failed")
    try:
        service.complete(run, result)
    except JobCancelled:
        service.cancel(run, context.partial(result))
        return "cancelled"
    except RunLost:
        return "lost"
    return "succeeded"


def _end(run: Run, write: Callable[[], None], outcome: str) -> str:
    try:
        write()
    except RunLost:
        return "lost"
    return outcome
