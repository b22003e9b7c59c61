"""The one definition of an event's progress.

Everything that shows progress (the list, the detail, the stream payloads, the CSV, the
completion events) builds it here from plain aggregated numbers; nothing else decides what
"complete", "remaining" or "percent" mean. The seed this replaces had two definitions of
"complete" that disagreed.

Rules:
- a target's `percent` is produced / target × 100, uncapped (150 means half again over);
  `remaining` = max(target − produced, 0); `overage` = max(produced − target, 0);
  `complete` = produced ≥ target. Production targets count batches, assembly targets bundles.
- a kind (production, assembly) with no targets has status `none` — never "complete"; otherwise
  `complete` when every target is, `in_progress` when something was produced, else
  `not_started`. Its `percent` is the mean of the targets' percents each capped at 100, so an
  overshoot on one target never hides a shortfall on another.
- the event is complete when it has at least one target and every target is complete.
- voided runs count for nothing (the queries exclude them).

The figures are frozen dataclasses (the API's schema, the stream payloads' shape), but a list
builds thousands of them: the builders below fill each instance's `__dict__` in one step
(`_frozen`) instead of the generated `__init__`'s `object.__setattr__` per field, about four
times cheaper (docs/benchmarks.md), and compute each target's figures inline.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal, TypeVar

from events_app.models import DeliveryStatus

_T = TypeVar("_T")

KindStatus = Literal["none", "not_started", "in_progress", "complete"]
_DELIVERY_STATUSES: tuple[str, ...] = tuple(DeliveryStatus.values)
_new = object.__new__
_set = object.__setattr__


def _frozen(cls: type[_T], fields: dict[str, Any]) -> _T:
    """An instance of the frozen dataclass `cls` holding `fields` (every field, by name),
    made without running its `__init__`: equal, hashable, immutable and serialized as one
    made by `cls(**fields)`."""
    obj = _new(cls)
    _set(obj, "__dict__", fields)
    return obj


@dataclass(frozen=True)
class TargetFigures:
    target: int
    done: int
    percent: float
    remaining: int
    overage: int
    complete: bool


def _target_rule(target: int, done: int) -> tuple[float, int, int, bool]:
    """The one definition of a target's (percent, remaining, overage, complete)."""
    return (
        round(done * 100 / target, 2) if target > 0 else 0.0,
        target - done if target > done else 0,
        done - target if done > target else 0,
        target > 0 and done >= target,
    )


def target_figures(target: int, done: int) -> TargetFigures:
    percent, remaining, overage, complete = _target_rule(target, done)
    return _frozen(
        TargetFigures,
        {
            "target": target,
            "done": done,
            "percent": percent,
            "remaining": remaining,
            "overage": overage,
            "complete": complete,
        },
    )


@dataclass(frozen=True)
class ProductionProgress:
    target_id: int
    item_id: int
    item: str
    unit: str
    target_batches: int
    produced_batches: int
    produced_yield: int
    percent: float
    remaining: int
    overage: int
    complete: bool


@dataclass(frozen=True)
class AssemblyProgress:
    target_id: int
    bundle_id: int
    bundle: str
    target_quantity: int
    assembled: int
    percent: float
    remaining: int
    overage: int
    complete: bool


@dataclass(frozen=True)
class KindSummary:
    targets: int
    complete: int
    status: KindStatus
    percent: float


@dataclass(frozen=True)
class ItemAvailability:
    """Produced yield of an item in this event not yet consumed by its assembly runs."""

    item_id: int
    item: str
    produced_yield: int
    consumed: int
    available: int


@dataclass(frozen=True)
class EventFigures:
    event_id: int
    production: tuple[ProductionProgress, ...]
    assembly: tuple[AssemblyProgress, ...]
    production_summary: KindSummary
    assembly_summary: KindSummary
    complete: bool
    status: KindStatus
    deliveries: dict[str, int]  # pending, ready, delivered, total
    available: tuple[ItemAvailability, ...]

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def production_progress(
    *,
    target_id: int,
    item_id: int,
    item: str,
    unit: str,
    target_batches: int,
    produced_batches: int,
    produced_yield: int,
) -> ProductionProgress:
    percent, remaining, overage, complete = _target_rule(target_batches, produced_batches)
    return _frozen(
        ProductionProgress,
        {
            "target_id": target_id,
            "item_id": item_id,
            "item": item,
            "unit": unit,
            "target_batches": target_batches,
            "produced_batches": produced_batches,
            "produced_yield": produced_yield,
            "percent": percent,
            "remaining": remaining,
            "overage": overage,
            "complete": complete,
        },
    )


def assembly_progress(
    *, target_id: int, bundle_id: int, bundle: str, target_quantity: int, assembled: int
) -> AssemblyProgress:
    percent, remaining, overage, complete = _target_rule(target_quantity, assembled)
    return _frozen(
        AssemblyProgress,
        {
            "target_id": target_id,
            "bundle_id": bundle_id,
            "bundle": bundle,
            "target_quantity": target_quantity,
            "assembled": assembled,
            "percent": percent,
            "remaining": remaining,
            "overage": overage,
            "complete": complete,
        },
    )


def item_availability(
    *, item_id: int, item: str, produced_yield: int, consumed: int
) -> ItemAvailability:
    """An item's stock: what was produced minus what assembly consumed (may be negative when
    a production run was voided after its yield was used)."""
    return _frozen(
        ItemAvailability,
        {
            "item_id": item_id,
            "item": item,
            "produced_yield": produced_yield,
            "consumed": consumed,
            "available": produced_yield - consumed,
        },
    )


_NO_TARGETS: dict[str, Any] = {"targets": 0, "complete": 0, "status": "none", "percent": 0.0}


def kind_summary(rows: Sequence[ProductionProgress] | Sequence[AssemblyProgress]) -> KindSummary:
    if not rows:
        return _frozen(KindSummary, dict(_NO_TARGETS))
    complete = 0
    capped = 0.0
    for r in rows:
        if r.complete:
            complete += 1
        capped += r.percent if r.percent < 100.0 else 100.0
    percent = round(capped / len(rows), 2)
    status: KindStatus
    if complete == len(rows):
        status = "complete"
    elif percent > 0:
        status = "in_progress"
    else:
        status = "not_started"
    return _frozen(
        KindSummary,
        {"targets": len(rows), "complete": complete, "status": status, "percent": percent},
    )


def delivery_counts(by_status: Mapping[str, int]) -> dict[str, int]:
    counts = {status: int(by_status.get(status, 0)) for status in _DELIVERY_STATUSES}
    counts["total"] = sum(counts.values())
    return counts


def event_figures(
    *,
    event_id: int,
    production: Iterable[ProductionProgress],
    assembly: Iterable[AssemblyProgress],
    deliveries_by_status: Mapping[str, int],
    available: Iterable[ItemAvailability],
) -> EventFigures:
    prod = tuple(production)
    asm = tuple(assembly)
    prod_summary = kind_summary(prod)
    asm_summary = kind_summary(asm)
    targets = len(prod) + len(asm)
    # Every target complete: each kind's count of complete targets is its number of targets.
    complete = (
        targets > 0
        and prod_summary.complete == prod_summary.targets
        and asm_summary.complete == asm_summary.targets
    )
    status: KindStatus
    if targets == 0:
        status = "none"
    elif complete:
        status = "complete"
    elif "in_progress" in (prod_summary.status, asm_summary.status) or "complete" in (
        prod_summary.status,
        asm_summary.status,
    ):
        status = "in_progress"
    else:
        status = "not_started"
    return _frozen(
        EventFigures,
        {
            "event_id": event_id,
            "production": prod,
            "assembly": asm,
            "production_summary": prod_summary,
            "assembly_summary": asm_summary,
            "complete": complete,
            "status": status,
            "deliveries": delivery_counts(deliveries_by_status),
            "available": tuple(available),
        },
    )
