"""What an engagement request says and what it is answered, shared by both HTTP edges.

The Ninja route (`progression.api`) and the lean ASGI route (`progression.ingest_edge`) parse
with `parse_submission` and answer with `answer`, so a bot sees the same validation and the same
JSON whichever one served it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import TypeAdapter, ValidationError

from communities.errors import InvalidInput, error_body
from progression import metrics
from progression.schemas import MAX_BATCH, EngagementEventIn
from progression.services.engagement import EngagementEvent, EngagementResult, Outcome

_event = TypeAdapter(EngagementEventIn)
_events = TypeAdapter(list[EngagementEventIn])
STATUSES = ("accepted", "duplicate", "rate_limited", "invalid")


@dataclass
class Submission:
    """One request's events: the valid ones (with their position) and what was refused."""

    events: list[EngagementEvent]
    invalid: dict[int, Outcome] = field(default_factory=dict)
    size: int = 0


def parse_submission(payload: Any) -> Submission:
    items = _split_events(payload)
    try:  # the common case: everything valid, validated in one call
        parsed = _events.validate_python(items)
    except ValidationError:
        return _parse_one_by_one(items)
    return Submission(
        events=[_to_event(index, item) for index, item in enumerate(parsed)], size=len(items)
    )


def _parse_one_by_one(items: list[Any]) -> Submission:
    valid: list[EngagementEvent] = []
    invalid: dict[int, Outcome] = {}
    for index, item in enumerate(items):
        try:
            parsed = _event.validate_python(item)
        except ValidationError as exc:
            invalid[index] = Outcome(index, "invalid", reason=_reason(exc))
            continue
        valid.append(_to_event(index, parsed))
    return Submission(events=valid, invalid=invalid, size=len(items))


def _to_event(index: int, item: EngagementEventIn) -> EngagementEvent:
    return EngagementEvent(
        index=index,
        platform_user_id=item.platform_user_id,
        metric=item.metric,
        value=item.value,
        display_name=item.display_name,
        message_id=item.message_id,
        occurred_at=item.occurred_at,
    )


def _split_events(payload: Any) -> list[Any]:
    if isinstance(payload, dict) and "events" in payload:
        items = payload["events"]
        if not isinstance(items, list):
            raise InvalidInput("`events` must be a list.", fields={"events": ["must be a list"]})
        if len(items) > MAX_BATCH:
            raise InvalidInput(
                f"At most {MAX_BATCH} events per batch.",
                fields={"events": [f"{len(items)} > {MAX_BATCH}"]},
            )
        return items
    if isinstance(payload, dict):
        return [payload]
    raise InvalidInput(
        'Send one event object or {"events": [...]}.', fields={"__all__": ["not an object"]}
    )


def _reason(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'event'}: {_message(e)}" for e in exc.errors()
    )


def _message(error: Any) -> str:
    if error["type"] == "string_pattern_mismatch":  # the only pattern is NO_NUL
        return "must not contain NUL (\\u0000) characters"
    return error["msg"]


def answer(submission: Submission, result: EngagementResult) -> tuple[int, dict[str, Any]]:
    """The status and JSON body for one request; 429 when every event was over the limit."""
    by_index = {o.index: o for o in result.outcomes} | submission.invalid
    outcomes = [by_index[i] for i in range(submission.size)]
    counts = dict.fromkeys(STATUSES, 0)
    for outcome in outcomes:
        counts[outcome.status] += 1
    for status, count in counts.items():
        if count:
            metrics.OUTCOMES[status].inc(count)
    if result.credited:
        metrics.POINTS.inc(result.credited)
    if outcomes and counts["rate_limited"] == len(outcomes):
        return 429, error_body("rate_limited", "Every event was over the rate limit; retry later.")
    percent = (
        None
        if not result.cost or result.accumulated is None
        else round(min(100.0, 100.0 * result.accumulated / result.cost), 2)
    )
    return 200, {
        "results": [
            {"index": o.index, "status": o.status, "points": o.points, "reason": o.reason}
            for o in outcomes
        ],
        **counts,
        "credited_points": result.credited,
        "progress": {
            "progress_id": result.progress_id,
            "accumulated": result.accumulated,
            "cost": result.cost,
            "percent": percent,
        },
    }
