"""Job event types and their payload (catalogued in docs/events.md, topic `jobs`)."""

from __future__ import annotations

from typing import Any

from jobs.kinds import KINDS, overall_percent
from jobs.models import Job, Status

TOPIC = "jobs"
JOB_CREATED = "jobs.job.created"
JOB_PROGRESSED = "jobs.job.progressed"
JOB_SUCCEEDED = "jobs.job.succeeded"
JOB_FAILED = "jobs.job.failed"
JOB_CANCELLED = "jobs.job.cancelled"

TERMINAL_EVENTS = {
    Status.SUCCEEDED: JOB_SUCCEEDED,
    Status.FAILED: JOB_FAILED,
    Status.CANCELLED: JOB_CANCELLED,
}


def percent(job: Job) -> float:
    kind = KINDS.get(job.kind)
    if kind is None or job.stage not in kind.stage_names():
        return 100.0 if job.status == Status.SUCCEEDED else 0.0
    return overall_percent(kind, job.stage, job.current, job.total)


def job_payload(job: Job) -> dict[str, Any]:
    """The public state of a job: the API's detail, every event's data and the cached value.
    `version` grows with every write, so a reader keeps the highest it has seen."""
    return {
        "id": str(job.pk),
        "community": job.community.slug,
        "kind": job.kind,
        "status": job.status,
        "stage": job.stage,
        "stages": _stage_names(job.kind),
        "current": job.current,
        "total": job.total,
        "percent": percent(job),
        "message": job.message,
        "attempt": job.attempt,
        "max_attempts": job.max_attempts,
        "cancel_requested": job.cancel_requested_at is not None,
        "params": job.params,
        "result": job.result,
        "error": {"message": job.error, "stage": job.error_stage} if job.error else None,
        "finished_stages": list(job.checkpoints),
        "started_by": _started_by(job),
        "created_at": job.created_at.isoformat(),
        "started_at": job.started_at.isoformat() if job.started_at else None,
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
        "heartbeat_at": job.heartbeat_at.isoformat() if job.heartbeat_at else None,
        "version": job.version,
    }


def _stage_names(kind_name: str) -> list[str]:
    kind = KINDS.get(kind_name)
    return list(kind.stage_names()) if kind else []


def _started_by(job: Job) -> dict[str, Any] | None:
    if job.started_by_token_id is not None:
        return {"token": job.started_by_token_id}
    if job.started_by_user_id is not None:
        return {"user": job.started_by_user_id}
    return None
