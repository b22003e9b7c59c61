"""Deliveries move pending → ready → delivered, and only so."""

from __future__ import annotations

import pytest

from communities.errors import Conflict, InvalidInput
from events_app.models import Delivery
from events_app.services import deliveries

pytestmark = pytest.mark.django_db


@pytest.fixture
def delivery(community, event, gift_box) -> Delivery:
    return deliveries.create_delivery(
        community, event.pk, recipient="Shelter on 5th", bundle_ref=gift_box.pk, quantity=2
    )


def test_a_new_delivery_is_pending(delivery):
    assert (delivery.status, delivery.delivered_at) == ("pending", None)


def test_a_delivery_goes_pending_to_ready_to_delivered(community, event, delivery):
    ready = deliveries.advance_delivery(community, event.pk, delivery.pk, status="ready")
    assert (ready.status, ready.delivered_at) == ("ready", None)

    done = deliveries.advance_delivery(community, event.pk, delivery.pk, status="delivered")
    assert done.status == "delivered" and done.delivered_at is not None


@pytest.mark.parametrize(
    ("path", "refused"),
    [
        ([], "pending"),
        ([], "delivered"),
        (["ready"], "ready"),
        (["ready"], "pending"),
        (["ready", "delivered"], "delivered"),
        (["ready", "delivered"], "ready"),
        (["ready", "delivered"], "pending"),
    ],
)
def test_every_other_move_is_a_conflict(community, event, delivery, path, refused):
    for status in path:
        deliveries.advance_delivery(community, event.pk, delivery.pk, status=status)

    with pytest.raises(Conflict):
        deliveries.advance_delivery(community, event.pk, delivery.pk, status=refused)
    assert Delivery.objects.get(pk=delivery.pk).status == (path[-1] if path else "pending")


def test_an_unknown_status_is_invalid(community, event, delivery):
    with pytest.raises(InvalidInput):
        deliveries.advance_delivery(community, event.pk, delivery.pk, status="lost")


def test_a_delivery_needs_a_recipient(community, event, gift_box):
    with pytest.raises(InvalidInput):
        deliveries.create_delivery(community, event.pk, recipient=" ", bundle_ref=gift_box.pk)
