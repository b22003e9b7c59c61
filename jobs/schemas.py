"""Input and output shapes of the jobs API (strict: what OpenAPI declares is what passes)."""

from __future__ import annotations

from typing import Any, Literal

from ninja import Schema
from pydantic import ConfigDict, Field, StrictStr

from jobs.models import Status

StatusName = Literal["queued", "running", "succeeded", "failed", "cancelled"]
assert set(StatusName.__args__) == set(Status.values)  # type: ignore[attr-defined]


# What a kind's name looks like, wherever one is given (a job to start, a filter).
KIND_PATTERN = r"^[a-z][a-z0-9_]*$"


class JobIn(Schema):
    model_config = ConfigDict(strict=True, extra="forbid")

    kind: StrictStr = Field(min_length=1, max_length=50, pattern=KIND_PATTERN)
    params: dict[str, Any] = Field(
        default_factory=dict, description="the kind's parameters, validated by the kind"
    )


class JobError(Schema):
    message: str
    stage: str


class JobOut(Schema):
    """A job as it is now; the same object is the data of every `jobs.job.*` event."""

    id: str
    community: str
    kind: str
    status: StatusName
    stage: str
    stages: list[str]
    current: int
    total: int
    percent: float = Field(description="0-100, from the kind's stage weights")
    message: str
    attempt: int
    max_attempts: int
    cancel_requested: bool
    params: dict[str, Any]
    result: dict[str, Any] | None
    error: JobError | None
    finished_stages: list[str]
    started_by: dict[str, int] | None
    created_at: str
    started_at: str | None
    finished_at: str | None
    heartbeat_at: str | None
    version: int = Field(description="grows with every change: keep the highest seen")


class JobPage(Schema):
    items: list[JobOut]
    count: int
    limit: int
    offset: int


class JobKindStage(Schema):
    name: str
    weight: int


class JobKindParam(Schema):
    name: str
    label: str
    help: str
    type: Literal["int", "ids"] = Field(description="ids: a list of integers")
    min: int | None
    max: int | None
    default: Any
    required: bool


class JobKindOut(Schema):
    kind: str
    label: str
    description: str
    stages: list[JobKindStage]
    params: list[JobKindParam]


class JobKindList(Schema):
    kinds: list[JobKindOut]
