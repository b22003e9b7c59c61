"""Creating, claiming, cancelling and retrying jobs: the moves between statuses that are not
progress. Each is one conditional UPDATE on the status it expects."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import pydantic
from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from communities.errors import InvalidInput
from communities.models import Community
from communities.permissions import Actor
from jobs import events
from jobs.errors import JobNotFound, JobStateConflict, UnknownKind
from jobs.kinds import KINDS
from jobs.models import Job, Status
from jobs.services.progress import Run
from jobs.services.writes import lock_stream_of, written
from realtime import lock_stream

logger = logging.getLogger(__name__)


def validate_params(kind_name: str, params: dict[str, Any]) -> dict[str, Any]:
    """The kind's parameters, validated strictly and with their defaults filled in."""
    kind = KINDS.get(kind_name)
    if kind is None:
        raise UnknownKind(kind_name, sorted(KINDS))
    try:
        return kind.params.model_validate(params).model_dump(mode="json")
    except pydantic.ValidationError as exc:
        fields: dict[str, list[str]] = {}
        for err in exc.errors():
            loc = ".".join(str(part) for part in ("params", *err["loc"]))
            fields.setdefault(loc, []).append(err["msg"])
        raise InvalidInput(f"Invalid parameters for {kind_name}.", fields=fields) from None


@transaction.atomic
def create_job(
    community: Community,
    kind: str,
    params: dict[str, Any] | None = None,
    *,
    actor: Actor | None = None,
) -> Job:
    """Validates, stores the job as queued, announces it, and enqueues its run after commit."""
    clean = validate_params(kind, params or {})
    job = Job.objects.create(
        community=community,
        kind=kind,
        params=clean,
        stage=KINDS[kind].stages[0].name,
        max_attempts=settings.JOBS_MAX_ATTEMPTS,
        started_by_user_id=actor.user_id if actor and actor.token_id is None else None,
        started_by_token_id=actor.token_id if actor else None,
    )
    logger.info("job %s kind=%s created in community=%s", job.pk, kind, community.pk)
    job = written(str(job.pk), events.JOB_CREATED)
    enqueue_on_commit(str(job.pk), job.attempt)
    return job


def enqueue_on_commit(job_id: str, attempt: int) -> None:
    """Sends the run to Celery once the row is committed. A lost send is not lost work: the
    reaper re-sends jobs queued for too long (`JOBS_QUEUED_RESEND_SECONDS`)."""

    def send() -> None:
        from jobs.tasks import run_job_task

        try:
            run_job_task.delay(job_id, attempt)
        except Exception:
            logger.error("job %s attempt %s could not be enqueued", job_id, attempt, exc_info=True)

    transaction.on_commit(send)


@transaction.atomic
def claim_run(job_id: str, attempt: int, runner: str) -> Run | None:
    """Makes `runner` (a Celery task id) the owner of the job's current attempt: a queued job,
    the same task again (a Celery retry or a redelivery keeps its id), or a running one whose
    heartbeat went stale. Anything else (an old attempt, a finished job, a live run) is None:
    a duplicate or late message, acknowledged and dropped."""
    lock_stream_of(job_id)
    now = timezone.now()
    stale = now - timedelta(seconds=settings.JOBS_STALE_SECONDS)
    claimed = (
        Job.objects.filter(pk=job_id, attempt=attempt)
        .filter(
            Q(status=Status.QUEUED)
            | Q(status=Status.RUNNING, runner=runner)
            | Q(status=Status.RUNNING, heartbeat_at__lt=stale)
        )
        .update(
            status=Status.RUNNING,
            runner=runner,
            started_at=Coalesce("started_at", now),
            heartbeat_at=now,
            version=F("version") + 1,
            progress_published_at=now,
            published_version=F("version") + 1,
        )
    )
    if not claimed:
        logger.info("job %s attempt %s not claimable by %s: dropped", job_id, attempt, runner)
        return None
    job = written(job_id, events.JOB_PROGRESSED)
    logger.info("job %s kind=%s attempt=%s running on %s", job_id, job.kind, attempt, runner)
    return Run(
        job_id=job_id,
        kind_name=job.kind,
        runner=runner,
        attempt=attempt,
        community_id=job.community_id,
    )


@transaction.atomic
def request_cancel(job: Job) -> Job:
    """A queued job is cancelled at once; a running one gets the flag and its pipeline stops at
    its next unit of work (`JobCancelled`). Asking twice is harmless; a finished job is 409."""
    lock_stream(job.community_id)
    now = timezone.now()
    if Job.objects.filter(pk=job.pk, status=Status.QUEUED).update(
        status=Status.CANCELLED,
        cancel_requested_at=now,
        finished_at=now,
        result={"partial": True, "finished_stages": list(job.checkpoints)},
        version=F("version") + 1,
    ):
        logger.info("job %s cancelled before it ran", job.pk)
        return written(str(job.pk), events.JOB_CANCELLED)
    if Job.objects.filter(pk=job.pk, status=Status.RUNNING, cancel_requested_at=None).update(
        cancel_requested_at=now, version=F("version") + 1
    ):
        logger.info("job %s cancel requested while running", job.pk)
        return written(str(job.pk), events.JOB_PROGRESSED)
    current = Job.objects.get(pk=job.pk)
    if current.status == Status.RUNNING:
        return current
    raise JobStateConflict(f"The job already {current.status}; nothing to cancel.")


@transaction.atomic
def retry_job(job: Job) -> Job:
    """A failed or cancelled job runs again as the same job, attempt + 1, resuming after its
    last finished stage (its checkpoints are kept) with a fresh budget of automatic re-queues."""
    lock_stream(job.community_id)
    if not Job.objects.filter(pk=job.pk, status__in=[Status.FAILED, Status.CANCELLED]).update(
        status=Status.QUEUED,
        attempt=F("attempt") + 1,
        max_attempts=F("attempt") + settings.JOBS_MAX_ATTEMPTS,
        runner="",
        heartbeat_at=None,
        queued_at=timezone.now(),
        finished_at=None,
        cancel_requested_at=None,
        error="",
        error_stage="",
        result=None,
        version=F("version") + 1,
    ):
        status = Job.objects.filter(pk=job.pk).values_list("status", flat=True).first()
        if status is None:
            raise JobNotFound()
        raise JobStateConflict(f"Only a failed or cancelled job can be retried; it is {status}.")
    retried = written(str(job.pk), events.JOB_PROGRESSED)
    logger.info("job %s retried as attempt %s", job.pk, retried.attempt)
    enqueue_on_commit(str(job.pk), retried.attempt)
    return retried
