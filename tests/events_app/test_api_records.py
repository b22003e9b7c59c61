"""The lists a moderator manages from: the catalogue (as public as the events) and an event's
runs and deliveries (moderators only: they name people), in a fixed number of queries."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from communities.models import Role
from events_app.services import catalogue, deliveries, runs
from tests.events_app.conftest import error_of
from tests.factories import MembershipFactory, issue_token

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_token(community):
    return issue_token(community, "admin").secret


def _record(community, event, cookies, gift_box, n: int = 1) -> None:
    for _ in range(n):
        runs.record_production_run(community, event.pk, cookies.pk, batches=1)
    runs.record_assembly_run(community, event.pk, gift_box.pk, quantity=1)


def test_anyone_who_reads_the_events_lists_the_items_and_bundles(api, community, gift_box):
    items = api("get", f"{community.slug}/items")
    bundles = api("get", f"{community.slug}/bundles")

    assert items.status_code == 200, items.content
    assert [i["name"] for i in items.json()["items"]] == ["bracelets", "cookies"]
    assert items.json()["items"][1] == {
        "id": gift_box.components.get(item__name="cookies").item_id,
        "name": "cookies",
        "unit": "cookie",
        "yield_per_batch": 12,
    }
    (box,) = bundles.json()["bundles"]
    assert box["name"] == "gift box"
    assert [(c["item"], c["quantity"]) for c in box["components"]] == [
        ("bracelets", 1),
        ("cookies", 6),
    ]


def test_the_run_list_is_newest_first_with_names_consumption_and_voids(
    api, community, event, cookies, bracelets, gift_box, admin_token
):
    runs.record_production_run(community, event.pk, cookies.pk, batches=1)
    bracelet = runs.record_production_run(community, event.pk, bracelets.pk, batches=1).run
    runs.record_assembly_run(community, event.pk, gift_box.pk, quantity=1)
    runs.void_assembly_run(
        community, event.pk, event.assembly_runs.get().pk, reason="miscount", voided_by="x"
    )

    body = api("get", f"{community.slug}/events/{event.pk}/runs", token=admin_token).json()

    assembly, newest_production, oldest = body["runs"]
    assert (assembly["kind"], assembly["name"], assembly["quantity"]) == ("assembly", "gift box", 1)
    assert assembly["consumed"] == {"cookies": 6, "bracelets": 1}
    assert assembly["void_reason"] == "miscount" and assembly["voided_at"] is not None
    assert newest_production["id"] == bracelet.pk and newest_production["name"] == "bracelets"
    assert oldest["name"] == "cookies" and oldest["actual_yield"] == 12
    assert body["more"] is False and body["limit"] == 100


def test_the_run_list_says_when_older_runs_were_left_out(
    api, community, event, cookies, bracelets, gift_box, admin_token
):
    runs.record_production_run(community, event.pk, bracelets.pk, batches=1)
    _record(community, event, cookies, gift_box)
    path = f"{community.slug}/events/{event.pk}/runs"

    page = api("get", f"{path}?limit=2", token=admin_token).json()

    assert [r["kind"] for r in page["runs"]] == ["assembly", "production"]
    assert page["more"] is True
    assert api("get", f"{path}?limit=3", token=admin_token).json()["more"] is False


def test_the_run_list_costs_the_same_queries_for_one_run_or_many(
    community, event, cookies, bracelets, gift_box
):
    from events_app import ledger

    runs.record_production_run(community, event.pk, bracelets.pk, batches=5)
    _record(community, event, cookies, gift_box)
    with CaptureQueriesContext(connection) as few:
        ledger.list_runs(community, event.pk)
    _record(community, event, cookies, gift_box, n=3)
    with CaptureQueriesContext(connection) as many:
        assert len(ledger.list_runs(community, event.pk).rows) == 7

    assert len(many) == len(few)


def test_deliveries_are_listed_newest_first_with_their_bundle(
    api, community, event, gift_box, admin_token
):
    first = deliveries.create_delivery(
        community, event.pk, recipient="Shelter", bundle_ref="gift box"
    )
    deliveries.create_delivery(community, event.pk, recipient="School", bundle_ref=gift_box.pk)
    deliveries.advance_delivery(community, event.pk, first.pk, status="ready")

    body = api("get", f"{community.slug}/events/{event.pk}/deliveries", token=admin_token).json()

    assert [(d["recipient"], d["status"], d["bundle"]) for d in body["deliveries"]] == [
        ("School", "pending", "gift box"),
        ("Shelter", "ready", "gift box"),
    ]


def test_runs_and_deliveries_are_for_moderators_only(api, client, community, event):
    paths = [f"{community.slug}/events/{event.pk}/{what}" for what in ("runs", "deliveries")]
    for path in paths:
        assert error_of(api("get", path), 401)
        assert error_of(api("get", path, token=issue_token(community, "read").secret), 403)
    client.force_login(MembershipFactory(community=community, role=Role.MEMBER).user)
    for path in paths:
        assert error_of(api("get", path), 403)
    client.force_login(MembershipFactory(community=community, role=Role.MODERATOR).user)
    for path in paths:
        assert api("get", path).status_code == 200


def test_another_communitys_event_or_an_absurd_id_is_unknown(api, client, community, event):
    other = catalogue.create_event(
        MembershipFactory(role=Role.MODERATOR).community,
        name="Elsewhere",
        starts_on=event.starts_on,
        ends_on=event.ends_on,
    )
    client.force_login(MembershipFactory(community=community, role=Role.MODERATOR).user)
    for event_id in (other.pk, 0, 2**70):
        error = error_of(api("get", f"{community.slug}/events/{event_id}/runs"), 404)
        assert error["code"] == "not_found"
