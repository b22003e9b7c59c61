"""HTTP edge of the events app's writes: moderators manage, bots with `ingest` record runs.

The reads (list, detail, CSV) are `events_app.api`; both declare their operations on its one
router, because Ninja routes a path to the first router that declares it (a second router's
methods on `events` or `events/<id>` would answer 405).
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja.responses import Status

from communities.errors import InvalidInput, NotFound
from communities.models import Community
from communities.permissions import Action, can, require
from communities.selectors import get_community
from config.schemas import WRITE_ERRORS, errors

# The reads' router: a path's methods must live on one router (ninja answers 405 for the
# methods of a second router declaring the same path), so reads and writes share it.
from events_app.api import router  # noqa: E402
from events_app.manage_out import bundle_out, delivery_out, run_out, target_out
from events_app.manage_schemas import (
    AssemblyRunIn,
    AssemblyTargetIn,
    BundleIn,
    BundleOut,
    BundlePatch,
    DeletedOut,
    DeliveryIn,
    DeliveryOut,
    DeliveryStatusChangeIn,
    EventIn,
    EventOut,
    EventPatch,
    ItemIn,
    ItemOut,
    ItemPatch,
    ProductionRunIn,
    ProductionTargetIn,
    RunOut,
    TargetOut,
    VoidIn,
)
from events_app.services import catalogue, deliveries, runs

_ERRORS = errors(WRITE_ERRORS)
MAX_ID = 2**63 - 1


def _community(request: HttpRequest, slug: str, action: Action) -> Community:
    community = get_community(slug)
    require(request.actor, action, community)  # type: ignore[attr-defined]
    return community


def _recorder_community(request: HttpRequest, slug: str) -> Community:
    """Runs are recorded by bots with `ingest` and by whoever may moderate (moderators,
    `admin` tokens): the people who would otherwise correct them."""
    community = get_community(slug)
    if not can(request.actor, Action.MODERATE, community):  # type: ignore[attr-defined]
        require(request.actor, Action.INGEST, community)  # type: ignore[attr-defined]
    return community


def _id(value: int, what: str) -> int:
    """Ids past what the columns hold are simply unknown (never a database error)."""
    if not 1 <= value <= MAX_ID:
        raise NotFound(f"No {what} {value}.")
    return value


def _who(request: HttpRequest) -> str:
    actor = request.actor  # type: ignore[attr-defined]
    return f"token:{actor.token_id}" if actor.token_id else f"user:{actor.user_id}"


# --- events ------------------------------------------------------------------------------------


@router.post(
    "/{slug}/events",
    response={201: EventOut, **_ERRORS},
    summary="Moderators: create an event",
)
def post_event(request: HttpRequest, slug: str, payload: EventIn) -> Any:
    community = _community(request, slug, Action.MODERATE)
    return Status(201, catalogue.create_event(community, **payload.dict()))


@router.patch(
    "/{slug}/events/{event_id}",
    response={200: EventOut, **_ERRORS},
    summary="Moderators: change an event (name, dates, description, status)",
    description="Status moves: planned → live or cancelled; live → closed, cancelled or "
    "planned; closed → live (to correct it). Cancelled is final. Others are a 409.",
)
def patch_event(request: HttpRequest, slug: str, event_id: int, payload: EventPatch) -> Any:
    community = _community(request, slug, Action.MODERATE)
    changes = catalogue.EventChanges(**payload.dict(exclude_unset=True))
    return catalogue.update_event(community, _id(event_id, "event"), changes)


@router.delete(
    "/{slug}/events/{event_id}",
    response={200: DeletedOut, **_ERRORS},
    summary="Moderators: delete an event with nothing recorded (else 409: cancel it)",
)
def delete_event(request: HttpRequest, slug: str, event_id: int) -> Any:
    community = _community(request, slug, Action.MODERATE)
    catalogue.delete_event(community, _id(event_id, "event"))
    return {"deleted": True}


# --- items and bundles -------------------------------------------------------------------------


@router.post("/{slug}/items", response={201: ItemOut, **_ERRORS}, summary="Moderators: add an item")
def post_item(request: HttpRequest, slug: str, payload: ItemIn) -> Any:
    community = _community(request, slug, Action.MODERATE)
    return Status(201, catalogue.create_item(community, **payload.dict()))


@router.patch(
    "/{slug}/items/{item_id}",
    response={200: ItemOut, **_ERRORS},
    summary="Moderators: change an item",
)
def patch_item(request: HttpRequest, slug: str, item_id: int, payload: ItemPatch) -> Any:
    community = _community(request, slug, Action.MODERATE)
    return catalogue.update_item(
        community, _id(item_id, "item"), **payload.dict(exclude_unset=True)
    )


@router.delete(
    "/{slug}/items/{item_id}",
    response={200: DeletedOut, **_ERRORS},
    summary="Moderators: delete an item no bundle, target or run refers to (else 409)",
)
def delete_item(request: HttpRequest, slug: str, item_id: int) -> Any:
    catalogue.delete_item(_community(request, slug, Action.MODERATE), _id(item_id, "item"))
    return {"deleted": True}


def _components(components: list[Any]) -> dict[int | str, int]:
    found: dict[int | str, int] = {}
    for i, component in enumerate(components):
        if component.item in found:
            raise InvalidInput(
                "An item is listed twice.", fields={f"components.{i}.item": ["listed twice"]}
            )
        found[component.item] = component.quantity
    return found


@router.post(
    "/{slug}/bundles",
    response={201: BundleOut, **_ERRORS},
    summary="Moderators: add a bundle with its components",
)
def post_bundle(request: HttpRequest, slug: str, payload: BundleIn) -> Any:
    community = _community(request, slug, Action.MODERATE)
    bundle = catalogue.create_bundle(
        community,
        name=payload.name,
        description=payload.description,
        components=_components(payload.components),
    )
    return Status(201, bundle_out(bundle))


@router.patch(
    "/{slug}/bundles/{bundle_id}",
    response={200: BundleOut, **_ERRORS},
    summary="Moderators: change a bundle (components replace the bill of materials)",
)
def patch_bundle(request: HttpRequest, slug: str, bundle_id: int, payload: BundlePatch) -> Any:
    community = _community(request, slug, Action.MODERATE)
    bundle = catalogue.update_bundle(
        community,
        _id(bundle_id, "bundle"),
        name=payload.name,
        description=payload.description,
        components=None if payload.components is None else _components(payload.components),
    )
    return bundle_out(bundle)


@router.delete(
    "/{slug}/bundles/{bundle_id}",
    response={200: DeletedOut, **_ERRORS},
    summary="Moderators: delete a bundle no target, run or delivery refers to (else 409)",
)
def delete_bundle(request: HttpRequest, slug: str, bundle_id: int) -> Any:
    catalogue.delete_bundle(_community(request, slug, Action.MODERATE), _id(bundle_id, "bundle"))
    return {"deleted": True}


# --- targets -----------------------------------------------------------------------------------


@router.put(
    "/{slug}/events/{event_id}/production-targets/{item_id}",
    response={200: TargetOut, **_ERRORS},
    summary="Moderators: set how many batches of an item the event aims for",
)
def put_production_target(
    request: HttpRequest, slug: str, event_id: int, item_id: int, payload: ProductionTargetIn
) -> Any:
    community = _community(request, slug, Action.MODERATE)
    target = catalogue.set_production_target(
        community,
        _id(event_id, "event"),
        _id(item_id, "item"),
        target_batches=payload.target_batches,
    )
    return target_out(target)


@router.delete(
    "/{slug}/events/{event_id}/production-targets/{item_id}",
    response={200: DeletedOut, **_ERRORS},
    summary="Moderators: remove a production target (its runs stay)",
)
def delete_production_target(request: HttpRequest, slug: str, event_id: int, item_id: int) -> Any:
    community = _community(request, slug, Action.MODERATE)
    found = catalogue.remove_production_target(
        community, _id(event_id, "event"), _id(item_id, "item")
    )
    return {"deleted": found}


@router.put(
    "/{slug}/events/{event_id}/assembly-targets/{bundle_id}",
    response={200: TargetOut, **_ERRORS},
    summary="Moderators: set how many bundles the event aims to assemble",
)
def put_assembly_target(
    request: HttpRequest, slug: str, event_id: int, bundle_id: int, payload: AssemblyTargetIn
) -> Any:
    community = _community(request, slug, Action.MODERATE)
    target = catalogue.set_assembly_target(
        community,
        _id(event_id, "event"),
        _id(bundle_id, "bundle"),
        target_quantity=payload.target_quantity,
    )
    return target_out(target)


@router.delete(
    "/{slug}/events/{event_id}/assembly-targets/{bundle_id}",
    response={200: DeletedOut, **_ERRORS},
    summary="Moderators: remove an assembly target (its runs stay)",
)
def delete_assembly_target(request: HttpRequest, slug: str, event_id: int, bundle_id: int) -> Any:
    community = _community(request, slug, Action.MODERATE)
    found = catalogue.remove_assembly_target(
        community, _id(event_id, "event"), _id(bundle_id, "bundle")
    )
    return {"deleted": found}


# --- runs --------------------------------------------------------------------------------------

_RUN_RESPONSES = {200: RunOut, 201: RunOut, **_ERRORS}


@router.post(
    "/{slug}/events/{event_id}/production-runs",
    response=_RUN_RESPONSES,
    summary="Bots (ingest) and moderators: record a production run",
    description="201 for a new run; 200 with `created: false` for a retry with the same "
    "`client_run_id` and content; 409 for other content under that id or a closed or "
    "cancelled event.",
)
def post_production_run(
    request: HttpRequest, slug: str, event_id: int, payload: ProductionRunIn
) -> Any:
    community = _recorder_community(request, slug)
    result = runs.record_production_run(
        community,
        _id(event_id, "event"),
        payload.item,
        batches=payload.batches,
        actual_yield=payload.actual_yield,
        recorded_by=payload.recorded_by,
        client_run_id=payload.client_run_id,
        actor=request.actor,  # type: ignore[attr-defined]
    )
    return Status(201 if result.created else 200, run_out(result.run, created=result.created))


@router.post(
    "/{slug}/events/{event_id}/assembly-runs",
    response=_RUN_RESPONSES,
    summary="Bots (ingest) and moderators: record an assembly run",
    description="Consumes each component's quantity × `quantity` of the event's produced, "
    "not yet consumed yield; a 409 names every item that is short (`fields`: item name → "
    "needed, available). Idempotent by `client_run_id` like production runs.",
)
def post_assembly_run(
    request: HttpRequest, slug: str, event_id: int, payload: AssemblyRunIn
) -> Any:
    community = _recorder_community(request, slug)
    result = runs.record_assembly_run(
        community,
        _id(event_id, "event"),
        payload.bundle,
        quantity=payload.quantity,
        recorded_by=payload.recorded_by,
        client_run_id=payload.client_run_id,
        actor=request.actor,  # type: ignore[attr-defined]
    )
    return Status(201 if result.created else 200, run_out(result.run, created=result.created))


@router.post(
    "/{slug}/events/{event_id}/production-runs/{run_id}/void",
    response={200: RunOut, **_ERRORS},
    summary="Moderators: void a production run (409 if its yield is already assembled)",
)
def post_void_production_run(
    request: HttpRequest, slug: str, event_id: int, run_id: int, payload: VoidIn
) -> Any:
    community = _community(request, slug, Action.MODERATE)
    run = runs.void_production_run(
        community,
        _id(event_id, "event"),
        _id(run_id, "run"),
        reason=payload.reason,
        voided_by=_who(request),
    )
    return run_out(run)


@router.post(
    "/{slug}/events/{event_id}/assembly-runs/{run_id}/void",
    response={200: RunOut, **_ERRORS},
    summary="Moderators: void an assembly run (what it consumed is available again)",
)
def post_void_assembly_run(
    request: HttpRequest, slug: str, event_id: int, run_id: int, payload: VoidIn
) -> Any:
    community = _community(request, slug, Action.MODERATE)
    run = runs.void_assembly_run(
        community,
        _id(event_id, "event"),
        _id(run_id, "run"),
        reason=payload.reason,
        voided_by=_who(request),
    )
    return run_out(run)


# --- deliveries --------------------------------------------------------------------------------


@router.post(
    "/{slug}/events/{event_id}/deliveries",
    response={201: DeliveryOut, **_ERRORS},
    summary="Moderators: add a delivery (pending)",
)
def post_delivery(request: HttpRequest, slug: str, event_id: int, payload: DeliveryIn) -> Any:
    community = _community(request, slug, Action.MODERATE)
    delivery = deliveries.create_delivery(
        community,
        _id(event_id, "event"),
        recipient=payload.recipient,
        bundle_ref=payload.bundle,
        quantity=payload.quantity,
        note=payload.note,
    )
    return Status(201, delivery_out(delivery))


@router.post(
    "/{slug}/events/{event_id}/deliveries/{delivery_id}/status",
    response={200: DeliveryOut, **_ERRORS},
    summary="Moderators: move a delivery on (pending → ready → delivered; others 409)",
)
def post_delivery_status(
    request: HttpRequest,
    slug: str,
    event_id: int,
    delivery_id: int,
    payload: DeliveryStatusChangeIn,
) -> Any:
    community = _community(request, slug, Action.MODERATE)
    delivery = deliveries.advance_delivery(
        community, _id(event_id, "event"), _id(delivery_id, "delivery"), status=payload.status
    )
    return delivery_out(delivery)
