"""HTTP edge of suggestions: viewers (or a bot relaying "!suggest ...") post them, moderators
read them. The pipeline that turns them into proposals runs as a job (`generate_proposals`)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from django.http import HttpRequest, JsonResponse
from ninja import Field, Query, Router, Schema
from pydantic import StrictStr, field_validator

from communities.errors import InvalidInput
from communities.models import Community
from communities.permissions import Action, require
from communities.selectors import get_community
from config.schemas import READ_ERRORS, WRITE_ERRORS, errors
from jobs import suggestions_selectors as selectors
from jobs.suggestions_models import Suggestion, SuggestionStatus
from jobs.suggestions_services import NewSuggestion, clean_label, clean_text, submit_suggestion
from progression.schemas import NO_NUL, StrictSchema

router = Router(tags=["suggestions"])
StatusName = Literal["pending", "grouped", "duplicate", "dismissed"]
_LIMIT = Query(50, ge=1, le=200)
_BEFORE = Query(None, ge=1, le=2**62)


class SuggestionIn(StrictSchema):
    text: StrictStr = Field(
        min_length=1, max_length=1000, description="3–300 characters once trimmed"
    )
    message_id: StrictStr | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        pattern=NO_NUL,
        description="the chat message's id (required for a bot); a repeat answers the first",
    )
    platform_user_id: StrictStr | None = Field(
        default=None, min_length=1, max_length=100, pattern=NO_NUL, description="bots only"
    )
    display_name: StrictStr = Field(default="", max_length=100, pattern=NO_NUL)

    @field_validator("text")
    @classmethod
    def _text(cls, value: str) -> str:
        return clean_text(value)

    @field_validator("message_id", "platform_user_id", "display_name")
    @classmethod
    def _label(cls, value: str | None) -> str | None:
        return value if value is None else clean_label(value)


class SuggestionOut(Schema):
    id: int
    text: str
    viewer_key: str
    display_name: str
    status: StatusName
    proposal_id: int | None
    duplicate_of_node: str | None
    created_at: datetime
    created: bool


class SuggestionListOut(Schema):
    suggestions: list[SuggestionOut]


def _community(request: HttpRequest, slug: str, action: Action) -> Community:
    community = get_community(slug)
    require(request.actor, action, community)  # type: ignore[attr-defined]
    return community


def _out(suggestion: Suggestion, created: bool = False) -> dict[str, Any]:
    node = suggestion.duplicate_of_node
    return {
        "id": suggestion.pk,
        "text": suggestion.text,
        "viewer_key": suggestion.viewer_key,
        "display_name": suggestion.display_name,
        "status": suggestion.status,
        "proposal_id": suggestion.proposal_id,
        "duplicate_of_node": node.key if node is not None else None,
        "created_at": suggestion.created_at,
        "created": created,
    }


def _new(request: HttpRequest, payload: SuggestionIn) -> NewSuggestion:
    """Who suggests: the viewer a bot names, or the signed-in person themselves."""
    actor = request.actor  # type: ignore[attr-defined]
    if actor.token_id is not None:
        missing = {
            name: ["required with a token"]
            for name in ("platform_user_id", "message_id")
            if not getattr(payload, name)
        }
        if missing:
            raise InvalidInput("A bot relays a viewer's chat message.", fields=missing)
        return NewSuggestion(
            text=payload.text,
            viewer_key=f"viewer:{payload.platform_user_id}",
            message_id=f"bot:{payload.message_id}",
            platform_user_id=payload.platform_user_id or "",
            display_name=payload.display_name,
        )
    message = payload.message_id or uuid.uuid4().hex  # no id: no idempotency either
    return NewSuggestion(
        text=payload.text,
        viewer_key=f"user:{actor.user_id}",
        message_id=f"user:{actor.user_id}:{message}",
        display_name=request.user.get_username(),
        user_id=actor.user_id,
    )


@router.post(
    "/{slug}/suggestions",
    response={200: SuggestionOut, 201: SuggestionOut, **errors(WRITE_ERRORS)},
    summary="Suggest a new tree node (a viewer, or a bot relaying !suggest)",
)
def post_suggestion(request: HttpRequest, slug: str, payload: SuggestionIn) -> Any:
    community = _community(request, slug, Action.SUGGEST)
    submitted = submit_suggestion(community, _new(request, payload))
    body = SuggestionOut(**_out(submitted.suggestion, submitted.created)).model_dump(mode="json")
    return JsonResponse(body, status=201 if submitted.created else 200)


@router.get(
    "/{slug}/suggestions",
    response={200: SuggestionListOut, **errors(READ_ERRORS)},
    summary="Moderators: the latest suggestions (newest first)",
)
def get_suggestions(
    request: HttpRequest,
    slug: str,
    status: StatusName | None = None,
    limit: int = _LIMIT,
    before: int | None = _BEFORE,
) -> Any:
    community = _community(request, slug, Action.MODERATE)
    found = selectors.list_suggestions(
        community, status=SuggestionStatus(status) if status else None, limit=limit, before=before
    )
    return {"suggestions": [_out(suggestion) for suggestion in found]}
