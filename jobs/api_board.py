"""HTTP edge of the proposals board. Reading it is for the community's members and moderators
(and tokens with `read`), never public whatever the community's visibility; moving and editing
cards is for moderators (and tokens with `admin`)."""

from __future__ import annotations

import re
from typing import Any, Literal

from django.http import HttpRequest
from ninja import Field, Path, Router, Schema, Status
from pydantic import StrictInt, StrictStr, field_validator

from communities.models import Community
from communities.permissions import Action, require
from communities.selectors import get_community
from config.schemas import READ_ERRORS, WRITE_ERRORS, ErrorDetail, errors
from jobs import board_selectors as selectors
from jobs import board_services as services
from jobs.board_events import card_payload
from jobs.errors import StaleCard
from progression.schemas import NO_NUL, StrictSchema
from progression.tree_schema import MAX_COST, MAX_TIER

router = Router(tags=["board"])
ColumnName = Literal["new", "shortlisted", "accepted", "rejected", "built"]
MovableColumn = Literal["new", "shortlisted", "accepted", "rejected"]
# A prerequisite is a node key, or `card:<id>`: another card (built in the same job, or before).
PREREQUISITE = r"^([a-z][a-z0-9_]*|card:[1-9][0-9]{0,9})$"
_CARD_ID = Path(..., ge=1, le=2**31 - 1)
_MOVE_ERRORS = {code: schema for code, schema in errors(WRITE_ERRORS).items() if code != 409}


class CardOut(Schema):
    """A card as it is now; the same object is the `card` of every `board.card.*` event."""

    id: int
    title: str
    summary: str
    column: ColumnName
    position: int | None
    version: int = Field(description="grows with every change; send it back to move or edit")
    tier: int
    cost: int | None = Field(description="None: the tree's default cost for the tier")
    prerequisites: list[str]
    supporters: int
    suggestion_count: int
    sample_quotes: list[Any]
    confidence: float
    built_node: str | None
    created_at: str
    updated_at: str


class BoardOut(Schema):
    new: list[CardOut]
    shortlisted: list[CardOut]
    accepted: list[CardOut]
    rejected: list[CardOut]
    built: list[CardOut]


class StaleOut(Schema):
    """A 409: the error, and the card as it is now when the version sent was stale."""

    error: ErrorDetail
    card: CardOut | None = None


class MoveOut(Schema):
    from_column: ColumnName
    from_position: int | None
    to_column: ColumnName
    to_position: int
    by: dict[str, str | int | None] = Field(description="user, token or job")
    version: int
    moved_at: str


class MoveIn(StrictSchema):
    column: MovableColumn
    position: StrictInt = Field(ge=0, le=100_000, description="past the end: the end")
    version: StrictInt = Field(ge=1, le=2**31 - 1)


class EditIn(StrictSchema):
    """Only the fields sent change; `cost: null` goes back to the tree's default."""

    version: StrictInt = Field(ge=1, le=2**31 - 1)
    title: StrictStr | None = Field(default=None, min_length=1, max_length=120, pattern=NO_NUL)
    summary: StrictStr | None = Field(default=None, max_length=2000, pattern=NO_NUL)
    tier: StrictInt | None = Field(default=None, ge=0, le=MAX_TIER)
    cost: StrictInt | None = Field(default=None, ge=0, le=MAX_COST)
    prerequisites: list[StrictStr] | None = Field(default=None, max_length=20)

    @field_validator("title")
    @classmethod
    def _title(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("a title needs a visible character")
        return value.strip() if value is not None else None

    @field_validator("prerequisites")
    @classmethod
    def _prerequisites(cls, value: list[str] | None) -> list[str] | None:
        for item in value or []:
            if len(item) > 64 or not re.match(PREREQUISITE, item):
                raise ValueError(f"{item[:70]!r} is neither a node key nor card:<id>")
        if value is not None and len(set(value)) != len(value):
            raise ValueError("a prerequisite is listed twice")
        return value

    def changes(self) -> dict[str, Any]:
        """What was sent, besides the version; title, summary, tier, prerequisites never null."""
        sent = self.model_fields_set - {"version"}
        return {
            name: getattr(self, name)
            for name in sent
            if getattr(self, name) is not None or name == "cost"
        }


def _community(request: HttpRequest, slug: str, action: Action) -> Community:
    community = get_community(slug)
    require(request.actor, action, community)  # type: ignore[attr-defined]
    return community


def _stale(exc: StaleCard) -> Status[Any]:
    body = {
        "error": {"code": exc.code, "message": exc.message, "fields": exc.fields},
        "card": exc.card,
    }
    return Status(409, body)


@router.get(
    "/{slug}/proposals",
    response={200: BoardOut, **errors(READ_ERRORS)},
    summary="Members: the proposals board, by column, each in position order",
)
def get_board(request: HttpRequest, slug: str) -> Any:
    return selectors.board(_community(request, slug, Action.READ_MEMBERS))


@router.get(
    "/{slug}/proposals/{card_id}/moves",
    response={200: list[MoveOut], **errors(READ_ERRORS)},
    summary="Members: a card's moves, oldest first (who, from, to, when)",
)
def get_moves(request: HttpRequest, slug: str, card_id: int = _CARD_ID) -> Any:
    community = _community(request, slug, Action.READ_MEMBERS)
    return selectors.card_moves(selectors.get_card(community, card_id))


@router.post(
    "/{slug}/proposals/{card_id}/move",
    response={200: CardOut, 409: StaleOut, **_MOVE_ERRORS},
    summary="Moderators: move a card (409 with the current card if the version is stale)",
)
def post_move(request: HttpRequest, slug: str, payload: MoveIn, card_id: int = _CARD_ID) -> Any:
    community = _community(request, slug, Action.MODERATE)
    try:
        card = services.move_card(
            community,
            card_id,
            column=payload.column,
            position=payload.position,
            version=payload.version,
            actor=request.actor,  # type: ignore[attr-defined]
        )
    except StaleCard as exc:
        return _stale(exc)
    return card_payload(card)


@router.patch(
    "/{slug}/proposals/{card_id}",
    response={200: CardOut, 409: StaleOut, **_MOVE_ERRORS},
    summary="Moderators: edit a card's title, summary, tier, cost or prerequisites",
)
def patch_card(request: HttpRequest, slug: str, payload: EditIn, card_id: int = _CARD_ID) -> Any:
    community = _community(request, slug, Action.MODERATE)
    try:
        card = services.edit_card(
            community,
            card_id,
            version=payload.version,
            changes=payload.changes(),
            actor=request.actor,  # type: ignore[attr-defined]
        )
    except StaleCard as exc:
        return _stale(exc)
    return card_payload(card)
