"""The one writer of a running job's progress: stages, counts, checkpoints and the end.

Every write is one conditional UPDATE fenced by the run (`runner`, the Celery task id that
claimed the job) and by the rule it must keep, so no read-modify-write can race: a stage never
moves backwards, `current` never decreases within a stage, 0 ≤ current ≤ total (a database
constraint too), and a finished job never changes again. When the UPDATE matches nothing the
row is read once to say why, and a typed refusal is raised (`jobs.errors.ProgressRefused`, or
`JobCancelled` when a moderator asked to stop) and logged at WARNING.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NoReturn

from django.conf import settings
from django.db import transaction
from django.db.models import (
    Case,
    F,
    PositiveIntegerField,
    Q,
    Value,
    When,
)
from django.utils import timezone

from jobs import events
from jobs.errors import ProgressRefused, Refusal, RunLost
from jobs.kinds import COMPLETE, KINDS, JobCancelled, JobKind
from jobs.models import Job, Status
from jobs.services.counts import Mode, record_count
from jobs.services.writes import announce, written
from realtime import lock_stream, try_lock_stream

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Run:
    """Who is writing: one claimed run of a job. Every write below is fenced by `runner`."""

    job_id: str
    kind_name: str
    runner: str
    attempt: int
    community_id: int  # whose stream a write locks first (see `writes`), without a query

    @property
    def kind(self) -> JobKind:
        return KINDS[self.kind_name]


def _mine(run: Run) -> Any:
    return Job.objects.filter(pk=run.job_id, runner=run.runner, status=Status.RUNNING)


def _live(run: Run) -> Any:
    return _mine(run).filter(cancel_requested_at__isnull=True)


def _stage_index(run: Run, stage: str) -> int:
    if stage not in run.kind.stage_names():
        _refuse(run, Refusal.UNKNOWN_STAGE, f"stage {stage!r} is not a stage of {run.kind_name}")
    return run.kind.stage_index(stage)


@transaction.atomic
def begin_stage(run: Run, stage: str, total: int, message: str = "") -> int:
    """Enters `stage` with `total` units; returns the units already done in it (0, or more when
    a new run resumes the stage a lost run had started: its progress is kept, never reset)."""
    lock_stream(run.community_id)
    index = _stage_index(run, stage)
    if total < 0:
        _refuse(run, Refusal.OUT_OF_RANGE, f"total {total} is negative")
    now = timezone.now()
    later = Q(stage_index__lt=index)
    same = Q(stage_index=index) & (Q(total=total) | Q(current=0))
    updated = (
        _live(run)
        .filter(later | same)
        .update(
            stage=stage,
            stage_index=index,
            current=Case(
                When(later, then=Value(0)),
                default=F("current"),
                output_field=PositiveIntegerField(),
            ),
            total=total,
            message=message[:300],
            heartbeat_at=now,
            version=F("version") + 1,
            progress_published_at=now,
            published_version=F("version") + 1,
        )
    )
    if not updated:
        _diagnose(run, stage=stage, total=total)
    job = written(run.job_id, events.JOB_PROGRESSED)
    _remember_last_event(job)
    return job.current


def advance(run: Run, stage: str, current: int, message: str = "") -> bool:
    """Records `current` units of `stage` done. Publishes `jobs.job.progressed` at most once
    per JOBS_PROGRESS_EVENT_INTERVAL_MS per job (the cache always gets the latest); returns
    whether an event left.

    The hot path of jobs (a runner counts up to 10 times a second). Made as its own
    transaction, as runners make it:
    - a count inside the coalescing interval publishes nothing: one statement on the job row,
      no stream lock, and while it waits for the row it holds nothing, so it cannot take part
      in a deadlock (the lock order: jobs.services.writes);
    - a count whose event is due takes the stream lock first, then writes and publishes; if
      another writer holds the stream it does not queue behind it: the count is written and
      its event left for a later count (or the heartbeat), so a community running many jobs
      slows its jobs' progress events down, never its runners.
    Inside a caller's transaction the count cannot know what the caller locks next, so it
    waits for the stream lock first, as every write that publishes does."""
    _stage_index(run, stage)
    if current < 0:
        _refuse(run, Refusal.OUT_OF_RANGE, f"current {current} is negative")
    now = timezone.now()
    due = now - timedelta(milliseconds=settings.JOBS_PROGRESS_EVENT_INTERVAL_MS)
    nested = transaction.get_connection().in_atomic_block
    last_event = _last_event_at.get(run.job_id)
    if not nested and (last_event is None or last_event > due):
        job = record_count(**_count(run, stage, current, message, now, due), mode="quiet")
        if job is not None:
            _remember_last_event(job)
            announce(job, None)  # autocommit: the cache is written at once
            return False
    with transaction.atomic():
        if nested:
            lock_stream(run.community_id)
            mode: Mode = "publish"
        else:
            mode = "publish" if try_lock_stream(run.community_id) else "hold"
        job = record_count(**_count(run, stage, current, message, now, due), mode=mode)
        if job is None:
            _diagnose(run, stage=stage, current=current)
        publish = mode == "publish" and job.published_version == job.version
        announce(job, events.JOB_PROGRESSED if publish else None)
    _remember_last_event(job)
    return publish


# When each job's last progress event left, as the rows this process's writes returned say.
# A count that knows from it that its event is due skips the quiet attempt, which could only
# miss (one statement less per published count). A hint, never a rule: if another process let
# an event out since (a moderator's cancel, the reaper), the publishing statement sees it is not
# due and publishes nothing, as it would have anyway.
_last_event_at: dict[str, datetime] = {}
_LAST_EVENT_HINTS = 10_000


def _remember_last_event(job: Job) -> None:
    if job.progress_published_at is None:
        return
    if len(_last_event_at) >= _LAST_EVENT_HINTS:
        _last_event_at.clear()  # finished jobs' hints; the next counts rebuild the live ones
    _last_event_at[str(job.pk)] = job.progress_published_at


def _count(
    run: Run, stage: str, current: int, message: str, now: datetime, due: datetime
) -> dict[str, Any]:
    return {
        "job_id": run.job_id,
        "runner": run.runner,
        "stage": stage,
        "current": current,
        "message": message,
        "now": now,
        "due": due,
    }


def touch(run: Run) -> None:
    """A heartbeat between progress writes (a resumed stage redoing units it already counted);
    raises JobCancelled or RunLost like `advance` would."""
    if not _live(run).update(heartbeat_at=timezone.now()):
        _diagnose(run)


def beat(run: Run) -> None:
    """The heartbeat timer's tick: keeps the run alive during a long unit of work, and lets
    out the last progress event if coalescing held it back. The heartbeat is one statement on
    the job row alone; only a held-back event takes the stream lock (first, then the row)."""
    now = timezone.now()
    if not _mine(run).update(heartbeat_at=now):
        return
    due = now - timedelta(milliseconds=settings.JOBS_PROGRESS_EVENT_INTERVAL_MS)
    pending = _mine(run).filter(published_version__lt=F("version"), progress_published_at__lte=due)
    if not pending.exists():
        return
    with transaction.atomic():
        lock_stream(run.community_id)
        if pending.update(progress_published_at=now, published_version=F("version")):
            _remember_last_event(written(run.job_id, events.JOB_PROGRESSED))


def finish_stage(run: Run, stage: str, data: Any) -> None:
    """Records `stage` as finished with its checkpoint data. Call it inside the stage's own
    `transaction.atomic`, with the stage's writes: a crash leaves both or neither. Allowed even
    after a cancel request: finished work is kept."""
    index = _stage_index(run, stage)
    with transaction.atomic():
        lock_stream(run.community_id)
        job = _mine(run).filter(stage_index__lte=index).select_for_update().first()
        if job is None:
            _diagnose(run, stage=stage, cancelled_ok=True)
        checkpoints = {**job.checkpoints, stage: data}
        entering = job.stage_index < index
        now = timezone.now()
        updated = (
            _mine(run)
            .filter(stage_index=job.stage_index, version=job.version)
            .update(
                stage=stage,
                stage_index=index,
                total=1 if entering else F("total"),
                current=1 if entering else F("total"),
                checkpoints=checkpoints,
                heartbeat_at=now,
                version=F("version") + 1,
                progress_published_at=now,
                published_version=F("version") + 1,
            )
        )
        if not updated:
            _diagnose(run, stage=stage, cancelled_ok=True)
        _remember_last_event(written(run.job_id, events.JOB_PROGRESSED))


@transaction.atomic
def complete(run: Run, result: dict[str, Any], message: str = "") -> None:
    """The pipeline returned: the job succeeded. Raises JobCancelled instead if a moderator
    asked to stop meanwhile (the runner then keeps `result` as the partial result)."""
    lock_stream(run.community_id)
    last = len(run.kind.stages) - 1
    now = timezone.now()
    updated = _live(run).update(
        status=Status.SUCCEEDED,
        stage=COMPLETE,
        stage_index=last,
        current=0,
        total=0,
        message=message[:300],
        result=result,
        finished_at=now,
        heartbeat_at=now,
        version=F("version") + 1,
    )
    if not updated:
        _diagnose(run)
    _log_end(run, Status.SUCCEEDED)
    written(run.job_id, events.JOB_SUCCEEDED)


@transaction.atomic
def fail(run: Run, error: str) -> None:
    """The pipeline raised: failed, keeping the progress it had and naming the stage."""
    lock_stream(run.community_id)
    updated = _mine(run).update(
        status=Status.FAILED,
        error=error[:4000] or "failed",
        error_stage=F("stage"),
        finished_at=timezone.now(),
        version=F("version") + 1,
    )
    if not updated:
        _diagnose(run)
    _log_end(run, Status.FAILED, error)
    written(run.job_id, events.JOB_FAILED)


def fail_given_up_run(job_id: str, runner: str, error: str) -> bool:
    """Fails the job if the task `runner` still owns it: the task gave up (its retries of a
    transient error are spent). False if another run owns it or it already ended."""
    found = Job.objects.filter(pk=job_id).values_list("kind", "attempt", "community_id").first()
    if found is None:
        return False
    kind, attempt, community_id = found
    run = Run(
        job_id=job_id, kind_name=kind, runner=runner, attempt=attempt, community_id=community_id
    )
    try:
        fail(run, error)
    except RunLost as lost:
        logger.info("job %s not failed after retries: %s", job_id, lost.reason)
        return False
    return True


@transaction.atomic
def cancel(run: Run, partial: dict[str, Any]) -> None:
    """The pipeline stopped on a cancel request: cancelled, progress and partial result kept."""
    lock_stream(run.community_id)
    if not _mine(run).update(
        status=Status.CANCELLED,
        result=partial,
        finished_at=timezone.now(),
        version=F("version") + 1,
    ):
        _diagnose(run)
    _log_end(run, Status.CANCELLED)
    written(run.job_id, events.JOB_CANCELLED)


def _log_end(run: Run, status: str, error: str = "") -> None:
    logger.info(
        "job %s kind=%s attempt=%s %s %s", run.job_id, run.kind_name, run.attempt, status, error
    )


def _diagnose(
    run: Run,
    *,
    stage: str | None = None,
    current: int | None = None,
    total: int | None = None,
    cancelled_ok: bool = False,
) -> NoReturn:
    """Says why a conditional write matched nothing (the UPDATE already refused it)."""
    job = Job.objects.filter(pk=run.job_id).first()
    if job is None:
        _refuse(run, Refusal.GONE, "the job no longer exists", lost=True)
    if job.runner != run.runner:
        _refuse(run, Refusal.SUPERSEDED, f"a newer run owns the job ({job.status})", lost=True)
    if job.status != Status.RUNNING:
        _refuse(run, Refusal.NOT_RUNNING, f"the job is {job.status}", lost=True)
    if job.cancel_requested_at is not None and not cancelled_ok:
        logger.info("job %s cancel requested: stopping at stage %s", run.job_id, job.stage)
        raise JobCancelled(f"job {run.job_id} was cancelled")
    if stage is not None:
        index = run.kind.stage_index(stage)
        if job.stage_index > index:
            _refuse(run, Refusal.STAGE_BACKWARDS, f"stage {stage!r} is before {job.stage!r}")
        if job.stage_index < index:
            _refuse(run, Refusal.STAGE_NOT_CURRENT, f"stage {stage!r} was not begun")
    if total is not None and job.total != total:
        _refuse(run, Refusal.TOTAL_CHANGED, f"stage {job.stage!r} has {job.total} units")
    if current is not None and current < job.current:
        _refuse(run, Refusal.CURRENT_BACKWARDS, f"current {current} < {job.current}")
    if current is not None and current > job.total:
        _refuse(run, Refusal.OUT_OF_RANGE, f"current {current} > total {job.total}")
    _refuse(run, Refusal.NOT_RUNNING, "the job changed meanwhile", lost=True)


def _refuse(run: Run, reason: Refusal, message: str, *, lost: bool = False) -> NoReturn:
    logger.warning(
        "job %s progress refused (%s): %s [runner=%s]", run.job_id, reason, message, run.runner
    )
    raise (RunLost if lost else ProgressRefused)(reason, message)
