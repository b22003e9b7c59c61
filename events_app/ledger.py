"""Selectors for what a moderator manages: the community's catalogue (items, bundles with their
bills) and an event's records (its runs, voided ones too, and its deliveries).

Reads only, like `selectors.py` (kept apart so that file stays about progress); each list costs
a fixed number of queries whatever its length (names, components and consumption are joined or
prefetched), read in one snapshot (`selectors.read_snapshot`). Runs and deliveries name people
(who recorded a run, why it was voided, who receives a bundle): the API gives them to
moderators only, while the catalogue is as public as the events.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Prefetch

from communities.errors import NotFound
from communities.models import Community
from events_app.manage_out import run_record
from events_app.models import (
    AssemblyConsumption,
    AssemblyRun,
    Bundle,
    BundleComponent,
    Delivery,
    Event,
    Item,
    ProductionRun,
)
from events_app.selectors import read_snapshot

DEFAULT_LIMIT = 100
MAX_LIMIT = 500
_MAX_ID = 2**63 - 1


@dataclass(frozen=True)
class RecordPage:
    """Newest first; `more` says older records were left out (raise `limit` to see them)."""

    rows: list[dict[str, Any]]
    more: bool
    limit: int


def list_items(community: Community) -> list[dict[str, Any]]:
    """The community's items by name."""
    rows = Item.objects.filter(community=community).order_by("name", "id")
    return [dict(row) for row in rows.values("id", "name", "unit", "yield_per_batch")]


def list_bundles(community: Community) -> list[dict[str, Any]]:
    """The community's bundles by name, each with its bill of materials (by item name): two
    queries whatever the number of bundles."""
    components = Prefetch(
        "components",
        queryset=BundleComponent.objects.select_related("item").order_by("item__name", "id"),
    )
    with read_snapshot():
        bundles = list(
            Bundle.objects.filter(community=community)
            .order_by("name", "id")
            .prefetch_related(components)
        )
    return [
        {
            "id": bundle.pk,
            "name": bundle.name,
            "description": bundle.description,
            "components": [
                {"item_id": c.item_id, "item": c.item.name, "quantity": c.quantity}
                for c in bundle.components.all()
            ],
        }
        for bundle in bundles
    ]


def _require_event(community: Community, event_id: int) -> None:
    """Another community's event is as unknown as a missing one."""
    known = 0 < event_id <= _MAX_ID and (
        Event.objects.filter(community=community, pk=event_id).exists()
    )
    if not known:
        raise NotFound(f"No event {event_id} in {community.slug}.")


def _production_row(run: ProductionRun) -> dict[str, Any]:
    return {**run_record(run), "name": run.item.name}


def _assembly_row(run: AssemblyRun) -> dict[str, Any]:
    return {**run_record(run, run.consumption.all()), "name": run.bundle.name}


def list_runs(community: Community, event_id: int, *, limit: int = DEFAULT_LIMIT) -> RecordPage:
    """The event's production and assembly runs, newest first (voided ones included, with
    their reason), at most `limit`: four queries whatever the number of runs."""
    consumption = Prefetch(
        "consumption", queryset=AssemblyConsumption.objects.select_related("item").order_by("id")
    )
    with read_snapshot():
        _require_event(community, event_id)
        produced = list(
            ProductionRun.objects.filter(event_id=event_id)
            .select_related("item")
            .order_by("-recorded_at", "-id")[: limit + 1]
        )
        assembled = list(
            AssemblyRun.objects.filter(event_id=event_id)
            .select_related("bundle")
            .prefetch_related(consumption)
            .order_by("-recorded_at", "-id")[: limit + 1]
        )
    rows = [_production_row(r) for r in produced] + [_assembly_row(r) for r in assembled]
    rows.sort(key=lambda row: (row["recorded_at"], row["kind"], row["id"]), reverse=True)
    return RecordPage(rows=rows[:limit], more=len(rows) > limit, limit=limit)


def list_deliveries(
    community: Community, event_id: int, *, limit: int = DEFAULT_LIMIT
) -> RecordPage:
    """The event's deliveries, newest first, at most `limit`, each with its bundle's name."""
    with read_snapshot():
        _require_event(community, event_id)
        found = list(
            Delivery.objects.filter(event_id=event_id)
            .select_related("bundle")
            .order_by("-created_at", "-id")[: limit + 1]
        )
    rows = [
        {
            "id": d.pk,
            "event_id": d.event_id,
            "recipient": d.recipient,
            "bundle_id": d.bundle_id,
            "bundle": d.bundle.name,
            "quantity": d.quantity,
            "status": d.status,
            "note": d.note,
            "created_at": d.created_at,
            "delivered_at": d.delivered_at,
        }
        for d in found[:limit]
    ]
    return RecordPage(rows=rows, more=len(found) > limit, limit=limit)
