from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from django.utils import timezone
from ninja import Schema
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
    field_validator,
)

MAX_BATCH = 1000
# PostgreSQL text cannot hold NUL; checked here (in Rust, cheap) so one such event is refused
# alone instead of failing the write it shares with other events and requests.
NO_NUL = r"^[^\x00]*$"
# Weights are NUMERIC(12, 4): at most 8 digits before the point and 4 after.
WEIGHT_PATTERN = r"^\d{1,8}(\.\d{1,4})?$"
LeaderboardScope = Literal["cycle", "season", "all_time"]


def _iso_text(value: Any) -> Any:
    """A time is an ISO 8601 string, as the schema says; numbers are not read as epochs."""
    if not isinstance(value, str | datetime):
        raise ValueError("must be an ISO 8601 date-time string")
    return value


class StrictSchema(Schema):
    """Input is taken as the OpenAPI document declares it: "5", 2.0 or true are no integer,
    5 is no string (pydantic strict mode)."""

    model_config = ConfigDict(strict=True, extra="forbid")


class EngagementEventIn(BaseModel):  # plain pydantic: validated 1,000 at a time
    """One chat event. Strict: both engagement edges validate the parsed JSON with it
    (progression.engagement_io), so `"value": "5"`, `true` or `2.0` are refused alike."""

    model_config = ConfigDict(strict=True)

    platform_user_id: StrictStr = Field(min_length=1, max_length=100, pattern=NO_NUL)
    display_name: StrictStr = Field(default="", max_length=100, pattern=NO_NUL)
    metric: StrictStr = Field(min_length=1, max_length=40, pattern=NO_NUL)
    value: StrictInt = Field(default=1, ge=1, le=1_000_000)
    message_id: StrictStr | None = Field(default=None, min_length=1, max_length=200, pattern=NO_NUL)
    occurred_at: Annotated[
        datetime | None, BeforeValidator(lambda v: v if v is None else _iso_text(v))
    ] = Field(default=None, strict=False)

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


def _option(value: Any) -> Any:
    """One message for a bad option (a union would report one per member type)."""
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 1000:
        return value
    if isinstance(value, str) and 1 <= len(value) <= 100 and "\x00" not in value:
        return value
    raise ValueError("an option's position (1 to 1000) or a node key (1 to 100 characters)")


VoteOption = Annotated[
    Annotated[int, Field(ge=1, le=1000)]
    | Annotated[str, Field(min_length=1, max_length=100, pattern=NO_NUL)],
    BeforeValidator(_option),
]


class VoteIn(StrictSchema):
    option: VoteOption = Field(description="the option's position (1-based) or its node key")
    platform_user_id: StrictStr | None = Field(
        default=None, min_length=1, max_length=100, pattern=NO_NUL
    )


class VoteOut(Schema):
    session_id: int
    option: int
    key: str
    level: int
    votes: int


class RelockIn(StrictSchema):
    cascade: bool = False


class ForceUnlockIn(StrictSchema):
    """Strict: `"yes"` or `1` must not pass for a yes that skips the tree's order."""

    ignore_prerequisites: bool = False


class WeightIn(StrictSchema):
    weight: StrictStr = Field(
        pattern=WEIGHT_PATTERN,
        description="a decimal as text, at most 8 digits before the point and 4 after",
    )


class Payload(Schema):
    """Free-form JSON payloads (documented in docs/api.md)."""

    data: Any


class SettingsIn(StrictSchema):
    """Only the fields sent change (progression/services/settings.py holds the limits)."""

    vote_options: StrictInt | None = Field(default=None, ge=2, le=10)
    vote_duration_seconds: StrictInt | None = Field(
        default=None, ge=10, le=86_400, description="null: votes last until the target unlocks"
    )
    vote_window_seconds: StrictInt | None = Field(default=None, ge=0, le=3_600)
    rollover_cap: StrictInt | None = Field(default=None, ge=0, le=10_000_000)
