"""Input and output of the events app's write endpoints (`events_app.api_manage`).

Strict like every input of the API (`progression.schemas.StrictSchema`): `"5"` is no number,
NUL is refused in text. Items and bundles are named by id (an integer) or by name (a string,
matched exactly, then case-insensitively), so a chat bot can send `"item": "cookies"`.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from ninja import Schema
from pydantic import BeforeValidator, Field, StrictInt, StrictStr

from progression.schemas import NO_NUL, StrictSchema

MAX_COUNT = 1_000_000
Count = Annotated[StrictInt, Field(ge=1, le=MAX_COUNT)]
Name = Annotated[StrictStr, Field(min_length=1, max_length=120, pattern=NO_NUL)]
Text = Annotated[StrictStr, Field(max_length=5000, pattern=NO_NUL)]
Short = Annotated[StrictStr, Field(max_length=200, pattern=NO_NUL)]
EventStatusIn = Literal["planned", "live", "closed", "cancelled"]
DeliveryStatusIn = Literal["pending", "ready", "delivered"]


def _iso_date(value: Any) -> Any:
    """A date is an ISO 8601 string (`2026-12-24`), as the schema says; no numbers."""
    if not isinstance(value, str | date) or isinstance(value, datetime):
        raise ValueError("must be an ISO 8601 date string (YYYY-MM-DD)")
    return value


def _ref(value: Any) -> Any:
    """One message for a bad reference (a union would report one per member type)."""
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value < 2**63:
        return value
    if isinstance(value, str) and 1 <= len(value) <= 120 and "\x00" not in value:
        return value
    raise ValueError("an id (a positive integer) or a name (1 to 120 characters)")


DateIn = Annotated[date, BeforeValidator(_iso_date)]
Ref = Annotated[
    Annotated[int, Field(ge=1)] | Annotated[str, Field(min_length=1, max_length=120)],
    BeforeValidator(_ref),
]


class EventIn(StrictSchema):
    name: Name
    starts_on: DateIn = Field(strict=False)
    ends_on: DateIn = Field(strict=False)
    description: Text = ""
    status: EventStatusIn = "planned"


class EventPatch(StrictSchema):
    name: Name | None = None
    starts_on: DateIn | None = Field(default=None, strict=False)
    ends_on: DateIn | None = Field(default=None, strict=False)
    description: Text | None = None
    status: EventStatusIn | None = None


class ItemIn(StrictSchema):
    name: Name
    yield_per_batch: Count = 1
    unit: Annotated[StrictStr, Field(max_length=40, pattern=NO_NUL)] = ""


class ItemPatch(StrictSchema):
    name: Name | None = None
    yield_per_batch: Count | None = None
    unit: Annotated[StrictStr, Field(max_length=40, pattern=NO_NUL)] | None = None


class ComponentIn(StrictSchema):
    item: Ref = Field(description="the item's id or name")
    quantity: Count


class BundleIn(StrictSchema):
    name: Name
    description: Text = ""
    components: list[ComponentIn] = Field(min_length=1, max_length=100)


class BundlePatch(StrictSchema):
    name: Name | None = None
    description: Text | None = None
    components: list[ComponentIn] | None = Field(
        default=None, min_length=1, max_length=100, description="replaces the bill of materials"
    )


class ProductionTargetIn(StrictSchema):
    target_batches: Count


class AssemblyTargetIn(StrictSchema):
    target_quantity: Count


class _RunIn(StrictSchema):
    recorded_by: Short = Field(
        default="", description="the person or chat viewer (name or platform id) credited"
    )
    client_run_id: Annotated[StrictStr, Field(max_length=100, pattern=NO_NUL)] = Field(
        default="",
        description="idempotency key per event: a retry with the same id and content returns "
        "the first run (200); other content under it is a 409",
    )


class ProductionRunIn(_RunIn):
    item: Ref = Field(description="the item's id or name")
    batches: Count
    actual_yield: Annotated[StrictInt, Field(ge=0, le=MAX_COUNT * 1000)] | None = Field(
        default=None, description="default: batches × the item's yield per batch"
    )


class AssemblyRunIn(_RunIn):
    bundle: Ref = Field(description="the bundle's id or name")
    quantity: Count


class VoidIn(StrictSchema):
    reason: Annotated[StrictStr, Field(min_length=1, max_length=500, pattern=NO_NUL)]


class DeliveryIn(StrictSchema):
    recipient: Annotated[StrictStr, Field(min_length=1, max_length=200, pattern=NO_NUL)]
    bundle: Ref = Field(description="the bundle's id or name")
    quantity: Count = 1
    note: Annotated[StrictStr, Field(max_length=500, pattern=NO_NUL)] = ""


class DeliveryStatusChangeIn(StrictSchema):
    status: DeliveryStatusIn


# --- output ------------------------------------------------------------------------------------


class EventOut(Schema):
    id: int
    name: str
    starts_on: date
    ends_on: date
    description: str
    status: str
    completed_at: datetime | None


class ItemOut(Schema):
    id: int
    name: str
    unit: str
    yield_per_batch: int


class ComponentOut(Schema):
    item_id: int
    item: str
    quantity: int


class BundleOut(Schema):
    id: int
    name: str
    description: str
    components: list[ComponentOut]


class TargetOut(Schema):
    id: int
    event_id: int
    item_id: int | None = None
    bundle_id: int | None = None
    target: int
    completed_at: datetime | None


class RunFields(Schema):
    """What every view of a run shows (`manage_out.run_record`)."""

    id: int
    event_id: int
    kind: Literal["production", "assembly"]
    item_id: int | None = None
    bundle_id: int | None = None
    batches: int | None = None
    actual_yield: int | None = None
    quantity: int | None = None
    consumed: dict[str, int] | None = Field(default=None, description="item name → quantity")
    recorded_by: str
    recorded_at: datetime
    client_run_id: str
    voided_at: datetime | None
    void_reason: str


class RunOut(RunFields):
    created: bool = Field(description="false: a retry of an earlier run, returned as it was")


class DeliveryOut(Schema):
    id: int
    event_id: int
    recipient: str
    bundle_id: int
    quantity: int
    status: str
    note: str
    delivered_at: datetime | None


class DeletedOut(Schema):
    deleted: bool


# --- lists (`events_app.api_records`) ----------------------------------------------------------


class ItemListOut(Schema):
    items: list[ItemOut]


class BundleListOut(Schema):
    bundles: list[BundleOut]


class RunRowOut(RunFields):
    """A run as the event's run list shows it: `name` is its item's or bundle's."""

    name: str


class RunListOut(Schema):
    runs: list[RunRowOut] = Field(description="newest first, voided runs included")
    more: bool = Field(description="older runs were left out: ask with a larger `limit`")
    limit: int


class DeliveryRowOut(DeliveryOut):
    bundle: str
    created_at: datetime


class DeliveryListOut(Schema):
    deliveries: list[DeliveryRowOut] = Field(description="newest first")
    more: bool = Field(description="older deliveries were left out: ask with a larger `limit`")
    limit: int
