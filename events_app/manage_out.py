"""The written objects as the write endpoints answer them (`events_app.manage_schemas` *Out)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from events_app.models import (
    AssemblyConsumption,
    AssemblyRun,
    AssemblyTarget,
    Bundle,
    Delivery,
    ProductionRun,
    ProductionTarget,
)


def bundle_out(bundle: Bundle) -> dict[str, Any]:
    return {
        "id": bundle.pk,
        "name": bundle.name,
        "description": bundle.description,
        "components": [
            {"item_id": c.item_id, "item": c.item.name, "quantity": c.quantity}
            for c in bundle.components.select_related("item").order_by("item__name")
        ],
    }


def target_out(target: ProductionTarget | AssemblyTarget) -> dict[str, Any]:
    if isinstance(target, ProductionTarget):
        return {
            "id": target.pk,
            "event_id": target.event_id,
            "item_id": target.item_id,
            "target": target.target_batches,
            "completed_at": target.completed_at,
        }
    return {
        "id": target.pk,
        "event_id": target.event_id,
        "bundle_id": target.bundle_id,
        "target": target.target_quantity,
        "completed_at": target.completed_at,
    }


def run_record(
    run: ProductionRun | AssemblyRun, consumption: Iterable[AssemblyConsumption] | None = None
) -> dict[str, Any]:
    """What every view of a run shows (the recording's answer, the event's run list).

    `consumption`: an assembly run's rows with their items when the caller prefetched them;
    otherwise they are read here (one query)."""
    common = {
        "id": run.pk,
        "event_id": run.event_id,
        "recorded_by": run.recorded_by,
        "recorded_at": run.recorded_at,
        "client_run_id": run.client_run_id,
        "voided_at": run.voided_at,
        "void_reason": run.void_reason,
    }
    if isinstance(run, ProductionRun):
        return {
            **common,
            "kind": "production",
            "item_id": run.item_id,
            "batches": run.batches,
            "actual_yield": run.actual_yield,
        }
    rows = run.consumption.select_related("item") if consumption is None else consumption
    return {
        **common,
        "kind": "assembly",
        "bundle_id": run.bundle_id,
        "quantity": run.quantity,
        "consumed": {c.item.name: c.quantity for c in rows},
    }


def run_out(run: ProductionRun | AssemblyRun, *, created: bool = False) -> dict[str, Any]:
    return {**run_record(run), "created": created}


def delivery_out(delivery: Delivery) -> dict[str, Any]:
    return {
        "id": delivery.pk,
        "event_id": delivery.event_id,
        "recipient": delivery.recipient,
        "bundle_id": delivery.bundle_id,
        "quantity": delivery.quantity,
        "status": delivery.status,
        "note": delivery.note,
        "delivered_at": delivery.delivered_at,
    }
