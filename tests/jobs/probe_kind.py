"""`probe`: a job kind for the machinery's tests, registered on import (tests only).

Stages `first` (1 unit) → `second` (`units` units) → complete. It records in `EXECUTED` which
stages each attempt ran, and can: ask for its own cancel at a unit (`cancel_at`), fail its
first attempt (`fail_first_attempt`), raise a transient database error the first
`transient_times` times (`OperationalError`: Celery's autoretry), die like a killed worker at a
unit on its first attempt (`die_at`: a BaseException the runner does not catch), or stay in one
unit for `hold_ms` without reporting (the heartbeat timer must keep it alive).
"""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Any

from django.db import OperationalError, transaction
from pydantic import BaseModel, ConfigDict, Field

from jobs.kinds import COMPLETE, KINDS, JobContext, JobKind, Stage, register

EXECUTED: dict[str, list[tuple[int, str]]] = defaultdict(list)
TRANSIENT_SEEN: dict[str, int] = defaultdict(int)
HEARTBEATS: dict[str, list[Any]] = defaultdict(list)  # heartbeat_at before and after a hold


class WorkerDied(BaseException):
    """Stands for kill -9: nothing in the runner handles it."""


class ProbeParams(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    units: int = Field(default=4, ge=1)
    cancel_at: int | None = None
    fail_first_attempt: bool = False
    transient_times: int = 0
    die_at: int | None = None
    hold_ms: int = 0


def run(ctx: JobContext) -> dict[str, Any]:
    params = ProbeParams.model_validate(ctx.params)
    attempt = int(getattr(ctx, "attempt", 1))
    if TRANSIENT_SEEN[ctx.job_id] < params.transient_times:
        TRANSIENT_SEEN[ctx.job_id] += 1
        raise OperationalError("the database went away for a moment")
    if ctx.checkpoint("first") is None:
        EXECUTED[ctx.job_id].append((attempt, "first"))
        ctx.begin("first", 1)
        ctx.advance(1)
        with transaction.atomic():
            ctx.finish_stage("first", {"attempt": attempt})
    EXECUTED[ctx.job_id].append((attempt, "second"))
    ctx.begin("second", params.units)
    for unit in range(1, params.units + 1):
        if params.die_at == unit and attempt == 1:
            raise WorkerDied()
        if params.fail_first_attempt and attempt == 1 and unit == 2:
            raise ValueError("first attempt breaks at unit 2")
        if params.hold_ms and unit == 1:
            _hold(ctx.job_id, params.hold_ms)
        if params.cancel_at == unit:
            from jobs.models import Job
            from jobs.services import request_cancel

            request_cancel(Job.objects.get(pk=ctx.job_id))
        ctx.advance(unit)
    with transaction.atomic():
        ctx.finish_stage("second", {"units": params.units})
    return {"units": params.units, "attempt": attempt}


def _hold(job_id: str, hold_ms: int) -> None:
    from jobs.models import Job

    beat = Job.objects.filter(pk=job_id).values_list("heartbeat_at", flat=True)
    HEARTBEATS[job_id].append(beat.get())
    time.sleep(hold_ms / 1000)
    HEARTBEATS[job_id].append(beat.get())


if "probe" not in KINDS:
    register(
        JobKind(
            name="probe",
            stages=(Stage("first", 1), Stage("second", 3), Stage(COMPLETE, 0)),
            params=ProbeParams,
            run=run,
        )
    )
