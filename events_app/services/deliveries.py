"""Deliveries: who gets which bundles, moving pending → ready → delivered and never back.

Each write locks the event (`common.lock_event`) like runs do, since the delivery counts are
part of the event's figures and its progress snapshot.
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone

from communities.errors import Conflict, InvalidInput, NotFound
from communities.models import Community
from events_app.models import Delivery, DeliveryStatus
from events_app.services.common import get_bundle, lock_event
from events_app.services.publishing import publish_delivery, publish_event_changes

logger = logging.getLogger(__name__)

# The only moves: a delivery is prepared, then handed over. Anything else is a 409.
NEXT_STATUS: dict[str, str] = {
    DeliveryStatus.PENDING: DeliveryStatus.READY,
    DeliveryStatus.READY: DeliveryStatus.DELIVERED,
}


@transaction.atomic
def create_delivery(
    community: Community,
    event_id: int,
    *,
    recipient: str,
    bundle_ref: int | str,
    quantity: int = 1,
    note: str = "",
) -> Delivery:
    recipient = recipient.strip()
    if not recipient:
        raise InvalidInput("A delivery needs a recipient.", fields={"recipient": ["required"]})
    if not 0 < quantity <= 1_000_000:
        raise InvalidInput("quantity must be 1 to 1000000.", fields={"quantity": ["1 to 1000000"]})
    event = lock_event(community, event_id)
    bundle = get_bundle(community, bundle_ref)
    delivery = Delivery.objects.create(
        event=event, recipient=recipient, bundle=bundle, quantity=quantity, note=note
    )
    logger.info("event %s: delivery %s created for %s", event.pk, delivery.pk, recipient)
    publish_delivery(delivery, event, previous_status=None)
    publish_event_changes(event, reason="delivery")
    return delivery


@transaction.atomic
def advance_delivery(
    community: Community, event_id: int, delivery_id: int, *, status: str
) -> Delivery:
    """Only the next status is accepted; `delivered_at` is set when it is handed over."""
    if status not in DeliveryStatus.values:
        raise InvalidInput(f"Unknown status {status!r}.", fields={"status": DeliveryStatus.values})
    event = lock_event(community, event_id)
    delivery = Delivery.objects.filter(event=event, pk=delivery_id).first()
    if delivery is None:
        raise NotFound(f"No delivery {delivery_id} in event {event_id}.")
    previous = delivery.status
    if NEXT_STATUS.get(previous) != status:
        allowed = NEXT_STATUS.get(previous)
        raise Conflict(
            f"A {previous} delivery cannot become {status}"
            + (f"; only {allowed}." if allowed else "; it is final."),
            fields={"status": [f"{previous} → {status} is not allowed"]},
        )
    delivery.status = status
    if status == DeliveryStatus.DELIVERED:
        delivery.delivered_at = timezone.now()
    delivery.save(update_fields=["status", "delivered_at", "updated_at"])
    logger.info("event %s: delivery %s %s → %s", event.pk, delivery.pk, previous, status)
    publish_delivery(delivery, event, previous_status=previous)
    publish_event_changes(event, reason="delivery")
    return delivery
