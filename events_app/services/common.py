"""Lookups scoped to a community, the event lock, and the domain errors of the events app.

Everything is community-scoped: an event, item or bundle of another community is "not found",
exactly like one that does not exist.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import IntegrityError, transaction
from django.db.models import ProtectedError

from communities.errors import Conflict, NotFound
from communities.models import Community
from events_app.models import Bundle, Event, EventStatus, Item

# Runs are recorded while an event is being prepared or held; closed and cancelled are final
# for the figures (reopen a closed event to correct it).
RECORDING_STATUSES = frozenset({EventStatus.PLANNED, EventStatus.LIVE})


class EventNotFound(NotFound):
    def __init__(self, event_id: object) -> None:
        super().__init__(f"No event {event_id}.")


def get_event(community: Community, event_id: int) -> Event:
    event = Event.objects.filter(community=community, pk=event_id).first()
    if event is None:
        raise EventNotFound(event_id)
    return event


def lock_event(community: Community, event_id: int) -> Event:
    """The event's row, locked until the transaction ends: every write that changes the event's
    figures takes this lock first, which serializes them per event (see the package doc)."""
    event = (
        Event.objects.select_for_update(of=("self",))
        .select_related("community")
        .filter(community=community, pk=event_id)
        .first()
    )
    if event is None:
        raise EventNotFound(event_id)
    return event


def get_item(community: Community, ref: int | str) -> Item:
    """By id (an int) or by name (a string, exact then case-insensitive)."""
    found = find_by_ref(Item.objects.filter(community=community), ref)
    if found is None:
        raise NotFound(f"No item {ref!r}.", fields={"item": ["unknown item"]})
    return found


def get_bundle(community: Community, ref: int | str) -> Bundle:
    found = find_by_ref(Bundle.objects.filter(community=community), ref)
    if found is None:
        raise NotFound(f"No bundle {ref!r}.", fields={"bundle": ["unknown bundle"]})
    return found


def find_by_ref(queryset, ref: int | str):  # type: ignore[no-untyped-def]
    """An id (int) or a name (str): exact first, then case-insensitive ("Cookies")."""
    if isinstance(ref, int):
        return queryset.filter(pk=ref).first()
    return queryset.filter(name=ref).first() or queryset.filter(name__iexact=ref).first()


def require_recording(event: Event) -> None:
    if event.status not in RECORDING_STATUSES:
        raise Conflict(
            f"Event {event.pk} is {event.status}: runs are recorded only while it is planned "
            "or live.",
            fields={"status": [event.status]},
        )


@contextmanager
def conflicts_as_409(what: str) -> Iterator[None]:
    """A unique or protecting constraint that still fires (a race the checks before it lost)
    becomes a 409 naming `what`, never a 500; the savepoint keeps the transaction usable."""
    try:
        with transaction.atomic():
            yield
    except IntegrityError as error:
        raise Conflict(f"{what} conflicts with an existing row.") from error
    except ProtectedError as error:
        raise Conflict(f"{what} is still referenced by runs, targets or bundles.") from error
