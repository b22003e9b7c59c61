"""Production and assembly runs, and their voids.

Every function here first locks the event's row (`common.lock_event`): writes to one event run
one after the other, each seeing every run committed before it. That is what makes "available"
exact when an assembly run consumes (two concurrent runs cannot both take the last cookies)
and what makes a client run id's check-then-insert safe. The unique constraints on
(event, client_run_id) stay as the last line.

Idempotency: a run sent again with the same `client_run_id` (per event and kind) and the same
content (item or bundle, batches and yield, or quantity) returns the original run with
`created=False`, even if it was voided since or the event closed since; different content
under the same id is a 409. Voiding twice is a no-op that returns the run as it is (its first
reason is kept): a retried void must not fail.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Generic, TypeVar

from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from communities.errors import Conflict, InvalidInput, NotFound
from communities.models import Community
from communities.permissions import Actor
from events_app.models import (
    AssemblyConsumption,
    AssemblyRun,
    Bundle,
    Event,
    Item,
    ProductionRun,
)
from events_app.services import totals
from events_app.services.common import get_bundle, get_item, lock_event, require_recording
from events_app.services.publishing import publish_event_changes

logger = logging.getLogger(__name__)
R = TypeVar("R", ProductionRun, AssemblyRun)
MAX_COUNT = 1_000_000  # batches and quantities per run
MAX_YIELD = 1_000_000_000  # what one run yields or consumes of an item (an int column)


@dataclass(frozen=True)
class RunResult(Generic[R]):
    run: R
    created: bool  # False: an earlier run with this client run id (a retry), returned as is


def _recorder(actor: Actor | None) -> dict[str, int | None]:
    if actor is None:
        return {}
    return {"recorded_by_user_id": actor.user_id, "recorded_by_token_id": actor.token_id}


def _positive(name: str, value: int) -> None:
    if not 0 < value <= MAX_COUNT:
        raise InvalidInput(f"{name} must be 1 to {MAX_COUNT}.", fields={name: ["1 to 1000000"]})


@transaction.atomic
def record_production_run(
    community: Community,
    event_id: int,
    item_ref: int | str,
    *,
    batches: int,
    actual_yield: int | None = None,
    recorded_by: str = "",
    client_run_id: str = "",
    actor: Actor | None = None,
) -> RunResult[ProductionRun]:
    """`actual_yield` defaults to batches × the item's yield per batch."""
    _positive("batches", batches)
    event = lock_event(community, event_id)
    item = get_item(community, item_ref)
    produced = batches * item.yield_per_batch if actual_yield is None else actual_yield
    if not 0 <= produced <= MAX_YIELD:
        raise InvalidInput(
            f"A run yields 0 to {MAX_YIELD}.", fields={"actual_yield": [f"0 to {MAX_YIELD}"]}
        )
    if client_run_id:
        earlier = ProductionRun.objects.filter(event=event, client_run_id=client_run_id).first()
        if earlier is not None:
            same = (earlier.item_id, earlier.batches, earlier.actual_yield)
            return _repeat(earlier, same == (item.pk, batches, produced), client_run_id)
    require_recording(event)
    run = ProductionRun.objects.create(
        event=event,
        item=item,
        batches=batches,
        actual_yield=produced,
        recorded_by=recorded_by,
        client_run_id=client_run_id,
        **_recorder(actor),
    )
    totals.count_production_run(run)
    logger.info("event %s: production run %s, %s × %s", event.pk, run.pk, batches, item.name)
    publish_event_changes(event, reason="production_run")
    return RunResult(run=run, created=True)


@transaction.atomic
def record_assembly_run(
    community: Community,
    event_id: int,
    bundle_ref: int | str,
    *,
    quantity: int,
    recorded_by: str = "",
    client_run_id: str = "",
    actor: Actor | None = None,
) -> RunResult[AssemblyRun]:
    """Consumes q × each component's quantity of this event's available yield, or refuses
    with a 409 naming every item that is short (`fields`: item name → needed, available)."""
    _positive("quantity", quantity)
    event = lock_event(community, event_id)
    bundle = get_bundle(community, bundle_ref)
    if client_run_id:
        earlier = AssemblyRun.objects.filter(event=event, client_run_id=client_run_id).first()
        if earlier is not None:
            same = (earlier.bundle_id, earlier.quantity) == (bundle.pk, quantity)
            return _repeat(earlier, same, client_run_id)
    require_recording(event)
    needs = _needs(bundle, quantity)
    _check_available(event, needs)
    run = AssemblyRun.objects.create(
        event=event,
        bundle=bundle,
        quantity=quantity,
        recorded_by=recorded_by,
        client_run_id=client_run_id,
        **_recorder(actor),
    )
    AssemblyConsumption.objects.bulk_create(
        AssemblyConsumption(run=run, event=event, item=item, quantity=need)
        for item, need in needs.items()
    )
    totals.count_assembly_run(run, [(item.pk, need) for item, need in needs.items()])
    logger.info("event %s: assembly run %s, %s × %s", event.pk, run.pk, quantity, bundle.name)
    publish_event_changes(event, reason="assembly_run")
    return RunResult(run=run, created=True)


def _repeat(earlier: R, same: bool, client_run_id: str) -> RunResult[R]:
    if not same:
        raise Conflict(
            f"Client run id {client_run_id!r} was already used for a different run.",
            fields={"client_run_id": [f"already used by run {earlier.pk}"]},
        )
    return RunResult(run=earlier, created=False)


def _needs(bundle: Bundle, quantity: int) -> dict[Item, int]:
    components = list(bundle.components.select_related("item"))
    if not components:
        raise Conflict(f"Bundle {bundle.name!r} has no components to assemble it from.")
    needs = {c.item: c.quantity * quantity for c in components}
    if any(need > MAX_YIELD for need in needs.values()):
        raise InvalidInput(
            f"A run consumes at most {MAX_YIELD} of an item.", fields={"quantity": ["too large"]}
        )
    return needs


def available_yield(event: Event, item_ids: list[int]) -> dict[int, int]:
    """Produced yield (non-voided production runs) minus what non-voided assembly runs took."""
    produced = dict(
        ProductionRun.objects.filter(event=event, item_id__in=item_ids, voided_at__isnull=True)
        .values("item_id")
        .annotate(total=Sum("actual_yield"))
        .values_list("item_id", "total")
    )
    consumed = dict(
        AssemblyConsumption.objects.filter(
            event=event, item_id__in=item_ids, run__voided_at__isnull=True
        )
        .values("item_id")
        .annotate(total=Sum("quantity"))
        .values_list("item_id", "total")
    )
    return {i: (produced.get(i) or 0) - (consumed.get(i) or 0) for i in item_ids}


def _check_available(event: Event, needs: dict[Item, int]) -> None:
    have = available_yield(event, [item.pk for item in needs])
    short = {
        item.name: [f"needed {need}, available {have[item.pk]}"]
        for item, need in needs.items()
        if have[item.pk] < need
    }
    if short:
        listed = "; ".join(f"{name}: {msgs[0]}" for name, msgs in short.items())
        logger.warning("event %s: assembly refused, short of %s", event.pk, listed)
        raise Conflict(f"Not enough produced to assemble: {listed}.", fields=short)


def _void_reason(reason: str) -> str:
    reason = reason.strip()
    if not reason:
        raise InvalidInput("A void needs a reason.", fields={"reason": ["required"]})
    return reason


@transaction.atomic
def void_production_run(
    community: Community, event_id: int, run_id: int, *, reason: str, voided_by: str = ""
) -> ProductionRun:
    """Refused (409) if assembly runs already consumed this yield: void those first."""
    reason = _void_reason(reason)
    event = lock_event(community, event_id)
    run = ProductionRun.objects.select_related("item").filter(event=event, pk=run_id).first()
    if run is None:
        raise NotFound(f"No production run {run_id} in event {event_id}.")
    if run.voided_at is not None:
        return run
    left = available_yield(event, [run.item_id])[run.item_id] - run.actual_yield
    if left < 0:
        raise Conflict(
            f"Assembly runs already consumed this yield of {run.item.name}: voiding it would "
            f"leave {left}; void those assembly runs first.",
            fields={run.item.name: [f"short by {-left}"]},
        )
    _void(run, reason, voided_by)
    totals.count_production_run(run, sign=-1)
    publish_event_changes(event, reason="void")
    return run


@transaction.atomic
def void_assembly_run(
    community: Community, event_id: int, run_id: int, *, reason: str, voided_by: str = ""
) -> AssemblyRun:
    """Gives back what it consumed (its consumption rows stay, for audit, but no longer count)."""
    reason = _void_reason(reason)
    event = lock_event(community, event_id)
    run = AssemblyRun.objects.filter(event=event, pk=run_id).first()
    if run is None:
        raise NotFound(f"No assembly run {run_id} in event {event_id}.")
    if run.voided_at is not None:
        return run
    _void(run, reason, voided_by)
    totals.uncount_assembly_run(run)
    publish_event_changes(event, reason="void")
    return run


def _void(run: ProductionRun | AssemblyRun, reason: str, voided_by: str) -> None:
    run.voided_at = timezone.now()
    run.void_reason = reason[:500]
    run.voided_by = voided_by[:200]
    run.save(update_fields=["voided_at", "void_reason", "voided_by"])
    logger.info("event %s: %s %s voided: %s", run.event_id, type(run).__name__, run.pk, reason)
