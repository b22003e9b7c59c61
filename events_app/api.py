"""HTTP edge of events' progress: the list, the detail and the CSV of a community's events.

Reads only (the writes are `events_app/api_manage.py`); each route finds the community, asks
`communities.permissions` (public: anyone; private: members and `read` tokens, outsiders get
the 404 of an unknown slug) and calls one selector.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

import orjson
from django.http import HttpRequest, HttpResponse
from ninja import Query, Router, Schema
from pydantic import Field, create_model

from communities.models import Community
from communities.permissions import Action, require
from communities.selectors import get_community
from config.schemas import OPTIONAL_AUTH, READ_ERRORS, errors
from events_app import progress_csv, selectors
from events_app.progress import EventFigures


class EventOut(Schema):
    """An event and its figures (`progress`: the shape of `EventFigures.as_json()`)."""

    id: int
    name: str
    starts_on: date
    ends_on: date
    status: str
    description: str
    progress: EventFigures


# `from` is a Python keyword, so this model is made with create_model (an alias would not
# reach the OpenAPI document).
_PAGE_FIELDS: dict[str, Any] = {
    "events": (list[EventOut], ...),
    "next_cursor": (str | None, Field(description="Pass back as `cursor`; null at the end.")),
    "when": (Literal["upcoming", "past", "all"], ...),
    "from": (date | None, ...),
    "to": (date | None, ...),
    "limit": (int, ...),
}
EventPageOut = create_model("EventPageOut", __base__=Schema, **_PAGE_FIELDS)


router = Router(tags=["events"])
_ERRORS = errors(READ_ERRORS)
_WHEN = Query(
    selectors.DEFAULT_WHEN,
    description="upcoming: not yet ended (ends today or later, server's date); past: ended "
    "before today; all.",
)
_FROM = Query(None, alias="from", description="Events taking place on or after this day.")
_TO = Query(None, alias="to", description="Events taking place on or before this day.")
_CURSOR = Query(None, description="`next_cursor` of the previous page.", max_length=2000)
_LIMIT = Query(selectors.DEFAULT_LIMIT, ge=1, le=selectors.MAX_LIMIT)
_CSV_RESPONSE = {
    "responses": {
        "200": {
            "description": "One row per target, then the summaries (docs/production-progress.md)",
            "content": {"text/csv": {"schema": {"type": "string"}}},
        }
    }
}


def _json(document: Any) -> HttpResponse:
    """orjson writes the figures' dataclasses and dates directly: a page of 200 events is
    about 1 MB of JSON, and `asdict` + the standard encoder cost more than the whole read."""
    return HttpResponse(orjson.dumps(document), content_type="application/json")


def _community(request: HttpRequest, slug: str) -> Community:
    community = get_community(slug)
    require(request.actor, Action.READ, community)  # type: ignore[attr-defined]
    return community


@router.get(
    "/{slug}/events",
    response={200: EventPageOut, **_ERRORS},
    summary="Events with their production and assembly progress, one consistent snapshot",
    description="Ordered by start date, then name; `from`/`to` (inclusive) keep the events "
    "taking place on at least one day of the range. Cursor pagination: pass `next_cursor` "
    "back as `cursor`; it is null on the last page.",
    openapi_extra=OPTIONAL_AUTH,
)
def list_events(
    request: HttpRequest,
    slug: str,
    when: Literal["upcoming", "past", "all"] = _WHEN,
    date_from: date | None = _FROM,
    date_to: date | None = _TO,
    cursor: str | None = _CURSOR,
    limit: int = _LIMIT,
) -> HttpResponse:
    page = selectors.list_events(
        _community(request, slug),
        when=when,
        date_from=date_from,
        date_to=date_to,
        cursor=cursor,
        limit=limit,
    )
    return _json(page.as_document())


@router.get(
    "/{slug}/events/{event_id}",
    response={200: EventOut, **_ERRORS},
    summary="One event with its progress, deliveries and items available",
    openapi_extra=OPTIONAL_AUTH,
)
def get_event(request: HttpRequest, slug: str, event_id: int) -> HttpResponse:
    return _json(selectors.event_detail(_community(request, slug), event_id).as_document())


@router.get(
    "/{slug}/events/{event_id}/progress.csv",
    response=_ERRORS,
    summary="An event's progress as CSV, for spreadsheets",
    openapi_extra={**OPTIONAL_AUTH, **_CSV_RESPONSE},
)
def get_event_csv(request: HttpRequest, slug: str, event_id: int) -> HttpResponse:
    community = _community(request, slug)
    event = selectors.event_detail(community, event_id)
    response = HttpResponse(progress_csv.render(event), content_type="text/csv; charset=utf-8")
    name = progress_csv.filename(community.slug, event)
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


# The writes and the moderators' lists register their operations on this router (see
# api_manage's note).
from events_app import api_manage, api_records  # noqa: E402, F401
