"""`selftest`: an operator's smoke test of the job machinery, needing nothing but the database.

Stages warming → counting → summing → complete. `counting` writes one `SelftestUnit` row per
unit (unique per job and unit, so a redelivered run produces each exactly once), waiting
`delay_ms` before each; `fail_at` makes unit N raise, to see a failure end to end. Start one
with `POST /api/communities/<slug>/jobs {"kind": "selftest", "params": {"units": 20}}`.
"""

from __future__ import annotations

import time
from typing import Any

from django.db import transaction
from pydantic import BaseModel, ConfigDict, Field

from jobs.kinds import COMPLETE, JobContext, JobKind, Stage, register
from jobs.models import SelftestUnit


class SelftestParams(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    units: int = Field(default=20, ge=1, le=10_000, title="Units")
    delay_ms: int = Field(default=0, ge=0, le=5_000, title="Pause per unit (ms)")
    fail_at: int | None = Field(
        default=None,
        ge=1,
        le=10_000,
        title="Fail at unit",
        description="Empty: never. To see a failure end to end.",
    )


class SelftestFailure(RuntimeError):
    """The failure `fail_at` asked for."""


def run(ctx: JobContext) -> dict[str, Any]:
    params = SelftestParams.model_validate(ctx.params)
    if ctx.checkpoint("warming") is None:
        ctx.begin("warming", 1, "warming up")
        _pause(params.delay_ms)
        with transaction.atomic():
            ctx.finish_stage("warming", {"warmed": True})
    counted = ctx.checkpoint("counting")
    if counted is None:
        counted = _count(ctx, params)
    if ctx.checkpoint("summing") is None:
        ctx.begin("summing", 1, "summing")
        rows = SelftestUnit.objects.filter(job_id=ctx.job_id).count()
        with transaction.atomic():
            ctx.finish_stage("summing", {"rows": rows})
    summed = ctx.checkpoint("summing") or {}
    return {"units": counted["units"], "rows": summed.get("rows", 0)}


def _count(ctx: JobContext, params: SelftestParams) -> dict[str, Any]:
    ctx.begin("counting", params.units, "counting")
    attempt = int(getattr(ctx, "attempt", 1))
    for unit in range(1, params.units + 1):
        _pause(params.delay_ms)
        if params.fail_at == unit:
            raise SelftestFailure(f"failing at unit {unit} as asked (fail_at)")
        SelftestUnit.objects.bulk_create(
            [SelftestUnit(job_id=ctx.job_id, unit=unit, attempt=attempt)],
            ignore_conflicts=True,
        )
        # The count after the row, as a write of its own: how pipelines count (the hot path,
        # jobs.services.progress.advance). A run lost in between redoes the unit: its row
        # exists once whatever the number of runs that wrote it.
        ctx.advance(unit, f"unit {unit} of {params.units}")
    data = {"units": params.units}
    with transaction.atomic():
        ctx.finish_stage("counting", data)
    return data


def _pause(delay_ms: int) -> None:
    if delay_ms:
        time.sleep(delay_ms / 1000)


KIND = register(
    JobKind(
        name="selftest",
        stages=(
            Stage("warming", 1),
            Stage("counting", 8),
            Stage("summing", 1),
            Stage(COMPLETE, 0),
        ),
        params=SelftestParams,
        run=run,
        description="Smoke test of the job machinery: counts units, one row per unit.",
        label="Self-test",
    )
)
