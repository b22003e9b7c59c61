"""Job kinds: each declares its stages and their weights once, here, in code.

This is the contract between the job machinery (`jobs/services.py`, `jobs/tasks.py`, the
runner that implements `JobContext`) and the pipelines (`jobs/pipelines/*`). A pipeline only
talks to its `JobContext`; it never touches the `Job` row, the cache or Celery itself.

Percent is derived, never stored twice: the finished stages' weights, plus the current stage's
weight × current / total, over the sum of all weights (`overall_percent`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Protocol, get_args, get_origin

from pydantic import BaseModel, Field

COMPLETE = "complete"


@dataclass(frozen=True)
class Stage:
    name: str
    weight: int  # relative share of the bar; the final `complete` stage weighs 0


class JobCancelled(Exception):
    """Raised by `JobContext.advance` when the job was cancelled: the pipeline stops at its
    next unit of work; what it finished (and checkpointed) is kept and reported."""


class JobContext(Protocol):
    """What a running pipeline may do. One instance per attempt, made by the runner."""

    job_id: str
    community_id: int
    params: dict[str, Any]

    def checkpoint(self, stage: str) -> Any | None:
        """The data a finished stage saved (JSON), or None if that stage has not finished:
        a redelivered job skips finished stages and resumes with their saved data."""
        ...

    def begin(self, stage: str, total: int, message: str = "") -> None:
        """Enter `stage` (never backwards) with `total` units of work."""
        ...

    def advance(self, current: int, message: str = "") -> None:
        """Report `current` of the stage's total done (never decreasing); raises
        JobCancelled if the job was cancelled meanwhile. Also beats the heartbeat."""
        ...

    def finish_stage(self, stage: str, data: Any) -> None:
        """Record `stage` as finished with its checkpoint data. Call it inside the same
        `transaction.atomic` as the stage's own writes, so a crash leaves both or neither."""
        ...


@dataclass(frozen=True)
class JobKind:
    name: str
    stages: tuple[Stage, ...]
    params: type[BaseModel]  # validates the parameters at creation (strict, extra="forbid")
    run: Callable[[JobContext], dict[str, Any]]  # returns the job's result (JSON)
    description: str = ""
    label: str = ""  # what a moderator reads ("Generate proposals"); the name otherwise

    def stage_names(self) -> tuple[str, ...]:
        return tuple(stage.name for stage in self.stages)

    def stage_index(self, stage: str) -> int:
        return self.stage_names().index(stage)


KINDS: dict[str, JobKind] = {}


def register(kind: JobKind) -> JobKind:
    names = kind.stage_names()
    if not names or names[-1] != COMPLETE or len(set(names)) != len(names):
        raise ValueError(f"{kind.name}: stages must be unique and end with {COMPLETE!r}")
    KINDS[kind.name] = kind
    return kind


# A pause per unit of work, the same parameter wherever a pipeline offers it: it lets a
# demonstration (or an end-to-end test) watch a stage.
UnitDelayMs = Annotated[
    int,
    Field(
        ge=0,
        le=2_000,
        title="Pause per unit of work (ms)",
        description="For demonstrations; 0 runs at full speed.",
    ),
]


def describe_params(model: type[BaseModel]) -> list[dict[str, Any]]:
    """A kind's parameters as a form shows them (`GET …/job-kinds`), read off its pydantic model
    so the console never keeps a second list: name, label (the field's title), help (its
    description), type (`int`, or `ids` for a list of integers), bounds, default, required."""
    described = []
    for name, field in model.model_fields.items():
        bounds = {type(m).__name__: m for m in field.metadata}
        args = get_args(field.annotation) or (field.annotation,)
        described.append(
            {
                "name": name,
                "label": field.title or name.replace("_", " ").capitalize(),
                "help": field.description or "",
                "type": "ids" if any(get_origin(a) is list for a in args) else "int",
                "min": getattr(bounds.get("Ge"), "ge", None),
                "max": getattr(bounds.get("Le"), "le", None),
                "default": None if field.is_required() else field.default,
                "required": field.is_required(),
            }
        )
    return described


def overall_percent(kind: JobKind, stage: str, current: int, total: int) -> float:
    """0–100 from the stage weights; a stage with total 0 counts as not started."""
    weights = [s.weight for s in kind.stages]
    whole = sum(weights) or 1
    index = kind.stage_index(stage)
    done: float = sum(weights[:index])
    if total > 0:
        done += weights[index] * min(current, total) / total
    if stage == COMPLETE:
        done = whole
    return round(100 * done / whole, 2)
