"""Periodic care (beat): no job stays running or queued forever, finished jobs do not pile up."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from jobs import events
from jobs.models import TERMINAL, Job, Status
from jobs.services.lifecycle import enqueue_on_commit
from jobs.services.writes import written
from realtime import lock_stream

logger = logging.getLogger(__name__)
BATCH = 200


@dataclass(frozen=True)
class Reaped:
    requeued: int = 0
    failed: int = 0
    cancelled: int = 0
    resent: int = 0


def reap_stale_jobs() -> Reaped:
    """A running job whose heartbeat is older than JOBS_STALE_SECONDS lost its worker (killed,
    out of memory, the machine gone): it is re-queued as attempt + 1 while attempts remain and
    resumes after its last finished stage; then it fails, saying so. A job whose cancel was
    requested is cancelled instead. Queued jobs waiting longer than JOBS_QUEUED_RESEND_SECONDS
    are sent to Celery again (a duplicate message is dropped by the claim)."""
    now = timezone.now()
    cutoff = now - timedelta(seconds=settings.JOBS_STALE_SECONDS)
    counts = {"requeued": 0, "failed": 0, "cancelled": 0}
    stale = Job.objects.filter(status=Status.RUNNING, heartbeat_at__lt=cutoff)
    for job in stale.order_by("heartbeat_at")[:BATCH]:
        outcome = _reap_one(job, cutoff)
        if outcome:
            counts[outcome] += 1
    resent = _resend_queued(now)
    result = Reaped(resent=resent, **counts)
    if result != Reaped():
        logger.warning("job reaper: %s", result)
    return result


@transaction.atomic(durable=True)
def _reap_one(job: Job, cutoff: datetime) -> str | None:
    lock_stream(job.community_id)  # one lock order: stream, then job (see jobs.services.writes)
    mine = Job.objects.filter(
        pk=job.pk, status=Status.RUNNING, runner=job.runner, heartbeat_at__lt=cutoff
    )
    silent = f"no heartbeat for {settings.JOBS_STALE_SECONDS:g}s"
    now = timezone.now()
    if job.cancel_requested_at is not None:
        if not mine.update(
            status=Status.CANCELLED,
            result={"partial": True, "finished_stages": list(job.checkpoints)},
            message=f"cancelled; its worker was lost ({silent})",
            finished_at=now,
            version=F("version") + 1,
        ):
            return None
        written(str(job.pk), events.JOB_CANCELLED)
        return "cancelled"
    if job.attempt < job.max_attempts:
        if not mine.update(
            status=Status.QUEUED,
            attempt=F("attempt") + 1,
            runner="",
            heartbeat_at=None,
            queued_at=now,
            message=f"re-queued: worker lost ({silent}) on attempt {job.attempt}",
            version=F("version") + 1,
            progress_published_at=now,
            published_version=F("version") + 1,
        ):
            return None
        written(str(job.pk), events.JOB_PROGRESSED)
        enqueue_on_commit(str(job.pk), job.attempt + 1)
        logger.warning("job %s worker lost on attempt %s: re-queued", job.pk, job.attempt)
        return "requeued"
    reason = f"worker lost ({silent}) on attempt {job.attempt} of {job.max_attempts}"
    if not mine.update(
        status=Status.FAILED,
        error=reason,
        error_stage=F("stage"),
        finished_at=now,
        version=F("version") + 1,
    ):
        return None
    written(str(job.pk), events.JOB_FAILED)
    logger.warning("job %s failed: %s", job.pk, reason)
    return "failed"


def _resend_queued(now: datetime) -> int:
    cutoff = now - timedelta(seconds=settings.JOBS_QUEUED_RESEND_SECONDS)
    resent = 0
    for pk, attempt in Job.objects.filter(status=Status.QUEUED, queued_at__lt=cutoff).values_list(
        "pk", "attempt"
    )[:BATCH]:
        with transaction.atomic(durable=True):
            if Job.objects.filter(pk=pk, status=Status.QUEUED, attempt=attempt).update(
                queued_at=timezone.now()
            ):
                enqueue_on_commit(str(pk), attempt)
                resent += 1
    return resent


def prune_finished_jobs(*, retention_seconds: int | None = None) -> int:
    """Deletes jobs finished longer ago than the retention (JOBS_RETENTION_SECONDS), with what
    they produced that hangs off them (cascade); running and queued jobs are never pruned."""
    seconds = settings.JOBS_RETENTION_SECONDS if retention_seconds is None else retention_seconds
    cutoff = timezone.now() - timedelta(seconds=seconds)
    with transaction.atomic(durable=True):
        _, per_model = Job.objects.filter(
            status__in=[s.value for s in TERMINAL], finished_at__lt=cutoff
        ).delete()
    deleted = per_model.get(Job._meta.label, 0)
    if deleted:
        logger.info("pruned %d jobs finished more than %ss ago", deleted, seconds)
    return deleted
