"""HTTP edge of the lists a moderator manages from: the catalogue (items, bundles: whoever may
read the community's events) and an event's runs and deliveries (moderators and `admin`
tokens: they name people). Registered on `events_app.api`'s router like the writes.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Query

from communities.models import Community
from communities.permissions import Action, require
from communities.selectors import get_community
from config.schemas import OPTIONAL_AUTH, READ_ERRORS, errors
from events_app import ledger
from events_app.api import router
from events_app.manage_schemas import BundleListOut, DeliveryListOut, ItemListOut, RunListOut

_ERRORS = errors(READ_ERRORS)
_LIMIT = Query(ledger.DEFAULT_LIMIT, ge=1, le=ledger.MAX_LIMIT, description="newest first")


def _community(request: HttpRequest, slug: str, action: Action) -> Community:
    community = get_community(slug)
    require(request.actor, action, community)  # type: ignore[attr-defined]
    return community


@router.get(
    "/{slug}/items",
    response={200: ItemListOut, **_ERRORS},
    summary="The community's items, by name",
    openapi_extra=OPTIONAL_AUTH,
)
def get_items(request: HttpRequest, slug: str) -> Any:
    return {"items": ledger.list_items(_community(request, slug, Action.READ))}


@router.get(
    "/{slug}/bundles",
    response={200: BundleListOut, **_ERRORS},
    summary="The community's bundles with their components, by name",
    openapi_extra=OPTIONAL_AUTH,
)
def get_bundles(request: HttpRequest, slug: str) -> Any:
    return {"bundles": ledger.list_bundles(_community(request, slug, Action.READ))}


@router.get(
    "/{slug}/events/{event_id}/runs",
    response={200: RunListOut, **_ERRORS},
    summary="Moderators: an event's production and assembly runs, newest first",
)
def get_runs(request: HttpRequest, slug: str, event_id: int, limit: int = _LIMIT) -> Any:
    page = ledger.list_runs(_community(request, slug, Action.MODERATE), event_id, limit=limit)
    return {"runs": page.rows, "more": page.more, "limit": page.limit}


@router.get(
    "/{slug}/events/{event_id}/deliveries",
    response={200: DeliveryListOut, **_ERRORS},
    summary="Moderators: an event's deliveries, newest first",
)
def get_deliveries(request: HttpRequest, slug: str, event_id: int, limit: int = _LIMIT) -> Any:
    community = _community(request, slug, Action.MODERATE)
    page = ledger.list_deliveries(community, event_id, limit=limit)
    return {"deliveries": page.rows, "more": page.more, "limit": page.limit}
