"""Event types of the `events` topic and their payloads (catalogued in docs/events.md)."""

from __future__ import annotations

from typing import Any

from events_app.models import Delivery, Event
from events_app.progress import AssemblyProgress, EventFigures, ProductionProgress

TOPIC = "events"

PROGRESS_UPDATED = "events.progress.updated"
TARGET_COMPLETED = "events.target.completed"
TARGET_REOPENED = "events.target.reopened"
EVENT_COMPLETED = "events.event.completed"
EVENT_REOPENED = "events.event.reopened"
DELIVERY_UPDATED = "events.delivery.updated"


def progress_coalesce_key(event_id: int) -> str:
    """One snapshot per event may replace an older one of the same event, never another's."""
    return f"events.progress:{event_id}"


def event_ref(event: Event) -> dict[str, Any]:
    return {
        "event_id": event.pk,
        "name": event.name,
        "status": event.status,
        "starts_on": event.starts_on.isoformat(),
        "ends_on": event.ends_on.isoformat(),
    }


def progress_payload(event: Event, figures: EventFigures) -> dict[str, Any]:
    """The event's figures as `events_app.progress` defines them, with what names the event."""
    return {**figures.as_json(), **event_ref(event)}


def target_payload(
    event: Event, row: ProductionProgress | AssemblyProgress, *, reason: str
) -> dict[str, Any]:
    """`kind` says which list of the progress payload `target` comes from."""
    kind = "production" if isinstance(row, ProductionProgress) else "assembly"
    return {**event_ref(event), "kind": kind, "target": _asdict(row), "reason": reason}


def event_completion_payload(event: Event, figures: EventFigures, *, reason: str) -> dict[str, Any]:
    return {
        **event_ref(event),
        "production_summary": _asdict(figures.production_summary),
        "assembly_summary": _asdict(figures.assembly_summary),
        "reason": reason,
    }


def delivery_payload(delivery: Delivery, *, previous_status: str | None) -> dict[str, Any]:
    return {
        "event_id": delivery.event_id,
        "delivery_id": delivery.pk,
        "recipient": delivery.recipient,
        "bundle_id": delivery.bundle_id,
        "quantity": delivery.quantity,
        "status": delivery.status,
        "previous_status": previous_status,
        "delivered_at": delivery.delivered_at.isoformat() if delivery.delivered_at else None,
    }


def _asdict(value: Any) -> dict[str, Any]:
    from dataclasses import asdict

    return asdict(value)
