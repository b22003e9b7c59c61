from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from django.utils import timezone
from ninja import Schema
from pydantic import BaseModel, Field, field_validator

MAX_BATCH = 1000
# PostgreSQL text cannot hold NUL; checked here (in Rust, cheap) so one such event is refused
# alone instead of failing the write it shares with other events and requests.
NO_NUL = r"^[^\x00]*$"


class EngagementEventIn(BaseModel):  # plain pydantic: validated 1,000 at a time
    platform_user_id: str = Field(min_length=1, max_length=100, pattern=NO_NUL)
    display_name: str = Field(default="", max_length=100, pattern=NO_NUL)
    metric: str = Field(min_length=1, max_length=40, pattern=NO_NUL)
    value: int = Field(default=1, ge=1, le=1_000_000)
    message_id: str | None = Field(default=None, min_length=1, max_length=200, pattern=NO_NUL)
    occurred_at: datetime | None = None

    @field_validator("occurred_at")
    @classmethod
    def not_in_the_future(cls, value: datetime | None) -> datetime | None:
        if value is not None:
            if value.tzinfo is None:
                raise ValueError("must include a time zone")
            try:  # stored in UTC: PostgreSQL refuses offsets past ±15:59 that pydantic accepts
                value = value.astimezone(UTC)
            except OverflowError:
                raise ValueError("is out of range") from None
            if value > timezone.now() + timedelta(minutes=5):
                raise ValueError("is in the future")
        return value


class EngagementBatchIn(Schema):
    """Either one event (the fields of an event at the top level) or `events`: up to 1,000."""

    events: list[EngagementEventIn] = Field(max_length=MAX_BATCH)


class OutcomeOut(Schema):
    index: int
    status: str
    points: int
    reason: str = ""


class ProgressBrief(Schema):
    progress_id: int
    accumulated: int | None = Field(description="null if it could not be read after the commit")
    cost: int | None
    percent: float | None


class EngagementOut(Schema):
    results: list[OutcomeOut]
    accepted: int
    duplicate: int
    rate_limited: int
    invalid: int
    credited_points: int
    progress: ProgressBrief


class VoteIn(Schema):
    option: int | str = Field(description="the option's position (1-based) or its node key")
    platform_user_id: str | None = Field(default=None, max_length=100)


class VoteOut(Schema):
    session_id: int
    option: int
    key: str
    level: int
    votes: int


class RelockIn(Schema):
    cascade: bool = False


class ForceUnlockIn(Schema):
    """Strict: `"yes"` or `1` must not pass for a yes that skips the tree's order."""

    ignore_prerequisites: bool = Field(default=False, strict=True)


class WeightIn(Schema):
    weight: str = Field(pattern=r"^\d+(\.\d+)?$")


class Payload(Schema):
    """Free-form JSON payloads (documented in docs/api.md)."""

    data: Any
