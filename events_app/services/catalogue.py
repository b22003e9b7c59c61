"""Moderators' catalogue: events, items, bundles with their components, and targets.

Checks that need no other row (names, dates, positive numbers) raise `InvalidInput` (400);
what clashes with existing rows (a name taken, an item still used, a forbidden status change)
is a `Conflict` (409); another community's rows are `NotFound` (404). Target changes lock the
event (`common.lock_event`) and publish the new figures, since they can complete or reopen it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import date

from django.db import transaction

from communities.errors import Conflict, InvalidInput
from communities.models import Community
from events_app.models import (
    AssemblyTarget,
    Bundle,
    BundleComponent,
    Event,
    EventStatus,
    Item,
    ProductionTarget,
)
from events_app.services.common import (
    conflicts_as_409,
    find_by_ref,
    get_bundle,
    get_event,
    get_item,
    lock_event,
)
from events_app.services.publishing import publish_event_changes

logger = logging.getLogger(__name__)
MAX_NAME = 120
MAX_COUNT = 1_000_000

# Planned events go live (or are called off); live ones close (or are called off); a closed
# event may be reopened to correct its runs. Cancelled is final.
STATUS_MOVES: dict[str, frozenset[str]] = {
    EventStatus.PLANNED: frozenset({EventStatus.LIVE, EventStatus.CANCELLED}),
    EventStatus.LIVE: frozenset({EventStatus.CLOSED, EventStatus.CANCELLED, EventStatus.PLANNED}),
    EventStatus.CLOSED: frozenset({EventStatus.LIVE}),
    EventStatus.CANCELLED: frozenset(),
}


def _name(value: str, field: str = "name") -> str:
    value = value.strip()
    if not value or len(value) > MAX_NAME:
        raise InvalidInput(
            f"{field} must be 1 to {MAX_NAME} characters.", fields={field: ["1-120"]}
        )
    return value


def _count(value: int, field: str) -> int:
    if isinstance(value, bool) or not 0 < value <= MAX_COUNT:
        raise InvalidInput(f"{field} must be 1 to {MAX_COUNT}.", fields={field: ["1 to 1000000"]})
    return value


# --- events ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class EventChanges:
    """A partial update: None leaves a field as it is."""

    name: str | None = None
    starts_on: date | None = None
    ends_on: date | None = None
    description: str | None = None
    status: str | None = None


def _check_dates(starts_on: date, ends_on: date) -> None:
    if ends_on < starts_on:
        raise InvalidInput(
            "An event cannot end before it starts.", fields={"ends_on": ["before starts_on"]}
        )


def _check_unique_event(community: Community, name: str, starts_on: date, pk: int | None) -> None:
    taken = Event.objects.filter(community=community, name=name, starts_on=starts_on)
    if pk is not None:
        taken = taken.exclude(pk=pk)
    if taken.exists():
        raise Conflict(
            f"An event {name!r} already starts on {starts_on}.", fields={"name": ["taken"]}
        )


@transaction.atomic
def create_event(
    community: Community,
    *,
    name: str,
    starts_on: date,
    ends_on: date,
    description: str = "",
    status: str = EventStatus.PLANNED,
) -> Event:
    name = _name(name)
    _check_dates(starts_on, ends_on)
    if status not in EventStatus.values:
        raise InvalidInput(f"Unknown status {status!r}.", fields={"status": EventStatus.values})
    _check_unique_event(community, name, starts_on, None)
    with conflicts_as_409(f"Event {name!r}"):
        event = Event.objects.create(
            community=community,
            name=name,
            starts_on=starts_on,
            ends_on=ends_on,
            description=description,
            status=status,
        )
    logger.info("community %s: event %s %r created", community.pk, event.pk, name)
    return event


@transaction.atomic
def update_event(community: Community, event_id: int, changes: EventChanges) -> Event:
    event = lock_event(community, event_id)
    given = {f.name: getattr(changes, f.name) for f in fields(changes)}
    given = {k: v for k, v in given.items() if v is not None}
    if "name" in given:
        given["name"] = _name(given["name"])
    status = given.get("status")
    if status is not None and status != event.status:
        if status not in EventStatus.values:
            raise InvalidInput(f"Unknown status {status!r}.", fields={"status": EventStatus.values})
        if status not in STATUS_MOVES[event.status]:
            raise Conflict(
                f"A {event.status} event cannot become {status}.",
                fields={"status": [f"{event.status} → {status} is not allowed"]},
            )
    for key, value in given.items():
        setattr(event, key, value)
    _check_dates(event.starts_on, event.ends_on)
    _check_unique_event(community, event.name, event.starts_on, event.pk)
    with conflicts_as_409(f"Event {event.name!r}"):
        event.save()
    publish_event_changes(event, reason="event")
    return event


@transaction.atomic
def delete_event(community: Community, event_id: int) -> None:
    """Only an event with nothing recorded: runs and deliveries are history (cancel it instead)."""
    event = lock_event(community, event_id)
    if event.production_runs.exists() or event.assembly_runs.exists() or event.deliveries.exists():
        raise Conflict(
            f"Event {event.pk} has runs or deliveries: cancel or close it instead of deleting.",
        )
    event.delete()
    logger.info("community %s: event %s deleted", community.pk, event_id)


# --- items -----------------------------------------------------------------------------------


def _check_unique_name(
    model: type[Item] | type[Bundle], community: Community, name: str, pk: int | None
) -> None:
    taken = model.objects.filter(community=community, name=name)
    if pk is not None:
        taken = taken.exclude(pk=pk)
    if taken.exists():
        raise Conflict(f"{model.__name__} {name!r} already exists.", fields={"name": ["taken"]})


@transaction.atomic
def create_item(
    community: Community, *, name: str, yield_per_batch: int = 1, unit: str = ""
) -> Item:
    name = _name(name)
    _count(yield_per_batch, "yield_per_batch")
    _check_unique_name(Item, community, name, None)
    with conflicts_as_409(f"Item {name!r}"):
        return Item.objects.create(
            community=community, name=name, yield_per_batch=yield_per_batch, unit=unit
        )


@transaction.atomic
def update_item(
    community: Community,
    item_ref: int | str,
    *,
    name: str | None = None,
    yield_per_batch: int | None = None,
    unit: str | None = None,
) -> Item:
    """A new yield per batch applies to later runs; recorded runs keep their actual yield."""
    item = get_item(community, item_ref)
    if name is not None:
        item.name = _name(name)
        _check_unique_name(Item, community, item.name, item.pk)
    if yield_per_batch is not None:
        item.yield_per_batch = _count(yield_per_batch, "yield_per_batch")
    if unit is not None:
        item.unit = unit
    with conflicts_as_409(f"Item {item.name!r}"):
        item.save()
    return item


@transaction.atomic
def delete_item(community: Community, item_ref: int | str) -> None:
    """Refused (409) while a bundle, a target or a run refers to it."""
    item = get_item(community, item_ref)
    with conflicts_as_409(f"Item {item.name!r}"):
        item.delete()


# --- bundles ---------------------------------------------------------------------------------


def _components(community: Community, components: Mapping[int | str, int]) -> dict[Item, int]:
    if not components:
        raise InvalidInput("A bundle needs components.", fields={"components": ["required"]})
    found: dict[Item, int] = {}
    problems: dict[str, list[str]] = {}
    for ref, quantity in components.items():
        where = f"components.{ref}"
        item = find_by_ref(Item.objects.filter(community=community), ref)
        if item is None:
            problems[where] = ["unknown item"]
        elif isinstance(quantity, bool) or not 0 < quantity <= MAX_COUNT:
            problems[where] = ["quantity must be 1 to 1000000"]
        elif item in found:
            problems[where] = ["listed twice"]
        else:
            found[item] = quantity
    if problems:
        raise InvalidInput("Invalid components.", fields=problems)
    return found


def _set_components(bundle: Bundle, components: dict[Item, int]) -> None:
    """Replaces the bill of materials; runs already recorded keep what they consumed."""
    bundle.components.exclude(item__in=list(components)).delete()
    for item, quantity in components.items():
        BundleComponent.objects.update_or_create(
            bundle=bundle, item=item, defaults={"quantity": quantity}
        )


@transaction.atomic
def create_bundle(
    community: Community,
    *,
    name: str,
    components: Mapping[int | str, int],
    description: str = "",
) -> Bundle:
    """`components`: item id or name → quantity per bundle; items of this community only."""
    name = _name(name)
    found = _components(community, components)
    _check_unique_name(Bundle, community, name, None)
    with conflicts_as_409(f"Bundle {name!r}"):
        bundle = Bundle.objects.create(community=community, name=name, description=description)
    _set_components(bundle, found)
    return bundle


@transaction.atomic
def update_bundle(
    community: Community,
    bundle_ref: int | str,
    *,
    name: str | None = None,
    description: str | None = None,
    components: Mapping[int | str, int] | None = None,
) -> Bundle:
    bundle = get_bundle(community, bundle_ref)
    if name is not None:
        bundle.name = _name(name)
        _check_unique_name(Bundle, community, bundle.name, bundle.pk)
    if description is not None:
        bundle.description = description
    with conflicts_as_409(f"Bundle {bundle.name!r}"):
        bundle.save()
    if components is not None:
        _set_components(bundle, _components(community, components))
    return bundle


@transaction.atomic
def delete_bundle(community: Community, bundle_ref: int | str) -> None:
    """Refused (409) while a target, a run or a delivery refers to it."""
    bundle = get_bundle(community, bundle_ref)
    with conflicts_as_409(f"Bundle {bundle.name!r}"):
        bundle.delete()


# --- targets ---------------------------------------------------------------------------------


@transaction.atomic
def set_production_target(
    community: Community, event_id: int, item_ref: int | str, *, target_batches: int
) -> ProductionTarget:
    """Creates the event's target for this item or changes it (one per item per event)."""
    _count(target_batches, "target_batches")
    event = lock_event(community, event_id)
    item = get_item(community, item_ref)
    target, _ = ProductionTarget.objects.update_or_create(
        event=event, item=item, defaults={"target_batches": target_batches}
    )
    publish_event_changes(event, reason="target")
    target.refresh_from_db(fields=["completed_at"])
    return target


@transaction.atomic
def set_assembly_target(
    community: Community, event_id: int, bundle_ref: int | str, *, target_quantity: int
) -> AssemblyTarget:
    _count(target_quantity, "target_quantity")
    event = lock_event(community, event_id)
    bundle = get_bundle(community, bundle_ref)
    target, _ = AssemblyTarget.objects.update_or_create(
        event=event, bundle=bundle, defaults={"target_quantity": target_quantity}
    )
    publish_event_changes(event, reason="target")
    target.refresh_from_db(fields=["completed_at"])
    return target


@transaction.atomic
def remove_production_target(community: Community, event_id: int, item_ref: int | str) -> bool:
    """True if there was one. Runs stay; only the goal goes."""
    event = lock_event(community, event_id)
    item = get_item(community, item_ref)
    deleted, _ = ProductionTarget.objects.filter(event=event, item=item).delete()
    if deleted:
        publish_event_changes(event, reason="target")
    return bool(deleted)


@transaction.atomic
def remove_assembly_target(community: Community, event_id: int, bundle_ref: int | str) -> bool:
    event = lock_event(community, event_id)
    bundle = get_bundle(community, bundle_ref)
    deleted, _ = AssemblyTarget.objects.filter(event=event, bundle=bundle).delete()
    if deleted:
        publish_event_changes(event, reason="target")
    return bool(deleted)


def event_of(community: Community, event_id: int) -> Event:
    """The event (404 if not this community's), for edges that answer with it."""
    return get_event(community, event_id)
