"""Moderators' catalogue: events, items, bundles and targets, validated and community-scoped."""

from __future__ import annotations

from datetime import date

import pytest

from communities.errors import Conflict, InvalidInput, NotFound
from events_app.models import Event, Item, ProductionTarget
from events_app.services import catalogue, deliveries, runs
from tests.factories import CommunityFactory

pytestmark = pytest.mark.django_db
D1, D2 = date(2026, 12, 1), date(2026, 12, 2)


def test_an_event_cannot_end_before_it_starts(community):
    with pytest.raises(InvalidInput) as refused:
        catalogue.create_event(community, name="x", starts_on=D2, ends_on=D1)
    assert "ends_on" in refused.value.fields
    assert not Event.objects.exists()


def test_an_event_name_and_start_date_are_unique_per_community(community):
    catalogue.create_event(community, name="x", starts_on=D1, ends_on=D1)
    with pytest.raises(Conflict):
        catalogue.create_event(community, name="x", starts_on=D1, ends_on=D2)
    catalogue.create_event(CommunityFactory(), name="x", starts_on=D1, ends_on=D1)


@pytest.mark.parametrize(
    ("moves", "allowed"),
    [
        (["live"], True),
        (["cancelled"], True),
        (["closed"], False),
        (["live", "closed"], True),
        (["live", "closed", "live"], True),
        (["cancelled", "planned"], False),
        (["cancelled", "live"], False),
        (["live", "closed", "cancelled"], False),
    ],
)
def test_status_moves(community, moves, allowed):
    event = catalogue.create_event(community, name="x", starts_on=D1, ends_on=D1)
    for move in moves[:-1]:
        catalogue.update_event(community, event.pk, catalogue.EventChanges(status=move))
    change = catalogue.EventChanges(status=moves[-1])
    if allowed:
        assert catalogue.update_event(community, event.pk, change).status == moves[-1]
    else:
        with pytest.raises(Conflict):
            catalogue.update_event(community, event.pk, change)


def test_an_update_keeps_the_dates_valid(community):
    event = catalogue.create_event(community, name="x", starts_on=D1, ends_on=D2)
    with pytest.raises(InvalidInput):
        catalogue.update_event(
            community, event.pk, catalogue.EventChanges(starts_on=date(2027, 1, 1))
        )
    assert Event.objects.get(pk=event.pk).starts_on == D1


def test_an_event_with_runs_cannot_be_deleted_but_an_empty_one_can(community, event, cookies):
    runs.record_production_run(community, event.pk, cookies.pk, batches=1)
    with pytest.raises(Conflict):
        catalogue.delete_event(community, event.pk)
    empty = catalogue.create_event(community, name="empty", starts_on=D1, ends_on=D1)
    catalogue.delete_event(community, empty.pk)
    assert not Event.objects.filter(pk=empty.pk).exists()


def test_an_item_needs_a_positive_yield_and_a_unique_name(community, cookies):
    with pytest.raises(InvalidInput):
        catalogue.create_item(community, name="flour", yield_per_batch=0)
    with pytest.raises(Conflict):
        catalogue.create_item(community, name="cookies")


def test_an_item_used_by_a_bundle_or_a_run_cannot_be_deleted(community, event, cookies, gift_box):
    with pytest.raises(Conflict):
        catalogue.delete_item(community, cookies.pk)
    lonely = catalogue.create_item(community, name="lonely")
    catalogue.delete_item(community, lonely.pk)
    assert not Item.objects.filter(pk=lonely.pk).exists()


def test_a_bundle_used_by_a_target_or_a_delivery_cannot_be_deleted(community, event, gift_box):
    with pytest.raises(Conflict):
        catalogue.delete_bundle(community, gift_box.pk)
    catalogue.remove_assembly_target(community, event.pk, gift_box.pk)
    deliveries.create_delivery(community, event.pk, recipient="a", bundle_ref=gift_box.pk)
    with pytest.raises(Conflict):
        catalogue.delete_bundle(community, gift_box.pk)


def test_bundle_components_must_be_items_of_the_same_community_with_positive_quantities(
    community, cookies
):
    foreign = catalogue.create_item(CommunityFactory(), name="foreign")
    with pytest.raises(InvalidInput) as refused:
        catalogue.create_bundle(
            community, name="box", components={foreign.pk: 1, cookies.pk: 0, "nope": 2}
        )
    assert set(refused.value.fields) == {
        f"components.{foreign.pk}",
        f"components.{cookies.pk}",
        "components.nope",
    }


def test_a_target_is_positive_and_one_per_item_per_event(community, event, cookies):
    with pytest.raises(InvalidInput):
        catalogue.set_production_target(community, event.pk, cookies.pk, target_batches=0)
    catalogue.set_production_target(community, event.pk, cookies.pk, target_batches=5)
    assert ProductionTarget.objects.get(event=event, item=cookies).target_batches == 5
    assert ProductionTarget.objects.filter(event=event).count() == 1


def test_another_communitys_event_is_not_found(community, event, cookies):
    other = CommunityFactory()
    with pytest.raises(NotFound):
        catalogue.set_production_target(other, event.pk, cookies.pk, target_batches=1)
    with pytest.raises(NotFound):
        catalogue.update_event(other, event.pk, catalogue.EventChanges(name="mine"))
