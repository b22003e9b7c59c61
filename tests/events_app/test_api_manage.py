"""The write endpoints: who may do what, idempotent runs over HTTP, errors in the one shape."""

from __future__ import annotations

import pytest

from communities.models import Role
from events_app.models import AssemblyRun, Item, ProductionRun
from tests.events_app.conftest import error_of
from tests.factories import CommunityFactory, MembershipFactory, UserFactory, issue_token

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_token(community):
    return issue_token(community, "admin").secret


@pytest.fixture
def ingest_token(community):
    return issue_token(community, "ingest").secret


def test_a_bot_records_a_chat_bake_by_item_name_and_a_retry_answers_the_same_run(
    api, community, event, cookies, ingest_token
):
    body = {"item": "cookies", "batches": 2, "recorded_by": "twitch:ann", "client_run_id": "m-1"}
    path = f"{community.slug}/events/{event.pk}/production-runs"

    first = api("post", path, body, ingest_token)
    again = api("post", path, body, ingest_token)

    assert first.status_code == 201, first.content
    assert first.json()["created"] is True and first.json()["actual_yield"] == 24
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"] and again.json()["created"] is False
    assert ProductionRun.objects.get().recorded_by == "twitch:ann"
    conflict = error_of(api("post", path, {**body, "batches": 3}, ingest_token), 409)
    assert conflict["code"] == "conflict" and "client_run_id" in conflict["fields"]


def test_an_assembly_run_short_of_items_is_a_409_naming_them(
    api, community, event, gift_box, ingest_token
):
    error = error_of(
        api(
            "post",
            f"{community.slug}/events/{event.pk}/assembly-runs",
            {"bundle": gift_box.pk, "quantity": 1},
            ingest_token,
        ),
        409,
    )
    assert error["fields"] == {
        "cookies": ["needed 6, available 0"],
        "bracelets": ["needed 1, available 0"],
    }
    assert not AssemblyRun.objects.exists()


def test_a_moderator_token_manages_the_catalogue_and_voids(
    api, community, event, cookies, admin_token
):
    slug = community.slug
    item = api("post", f"{slug}/items", {"name": "jam", "yield_per_batch": 8}, admin_token)
    assert item.status_code == 201 and item.json()["yield_per_batch"] == 8
    jam = item.json()["id"]
    bundle = api(
        "post",
        f"{slug}/bundles",
        {"name": "jam box", "components": [{"item": "jam", "quantity": 2}]},
        admin_token,
    )
    assert bundle.status_code == 201
    assert bundle.json()["components"] == [{"item_id": jam, "item": "jam", "quantity": 2}]
    target = api(
        "put",
        f"{slug}/events/{event.pk}/production-targets/{jam}",
        {"target_batches": 3},
        admin_token,
    )
    assert target.json()["target"] == 3
    run = api(
        "post",
        f"{slug}/events/{event.pk}/production-runs",
        {"item": jam, "batches": 1},
        admin_token,
    ).json()
    voided = api(
        "post",
        f"{slug}/events/{event.pk}/production-runs/{run['id']}/void",
        {"reason": "test bake"},
        admin_token,
    )
    assert voided.status_code == 200 and voided.json()["void_reason"] == "test bake"
    assert error_of(api("delete", f"{slug}/items/{jam}", token=admin_token), 409)
    event_made = api(
        "post",
        f"{slug}/events",
        {"name": "Spring", "starts_on": "2027-03-01", "ends_on": "2027-03-02"},
        admin_token,
    )
    assert event_made.status_code == 201 and event_made.json()["status"] == "planned"
    changed = api(
        "patch",
        f"{slug}/events/{event_made.json()['id']}",
        {"status": "live"},
        admin_token,
    )
    assert changed.json()["status"] == "live"


def test_deliveries_over_http(api, community, event, gift_box, admin_token):
    path = f"{community.slug}/events/{event.pk}/deliveries"
    made = api("post", path, {"recipient": "Shelter", "bundle": "gift box"}, admin_token)
    assert made.status_code == 201 and made.json()["status"] == "pending"
    status = f"{path}/{made.json()['id']}/status"
    assert error_of(api("post", status, {"status": "delivered"}, admin_token), 409)
    assert api("post", status, {"status": "ready"}, admin_token).json()["status"] == "ready"
    done = api("post", status, {"status": "delivered"}, admin_token).json()
    assert done["delivered_at"] is not None


@pytest.mark.parametrize(
    "body",
    [
        {"item": "cookies", "batches": "2"},
        {"item": "cookies", "batches": 0},
        {"item": "cookies", "batches": 2, "extra": 1},
        {"item": "cook\x00ies", "batches": 2},
        {"item": True, "batches": 2},
        {"batches": 2},
    ],
)
def test_bad_run_bodies_are_a_400(api, community, event, cookies, ingest_token, body):
    path = f"{community.slug}/events/{event.pk}/production-runs"
    assert error_of(api("post", path, body, ingest_token), 400)["code"] == "invalid"


def test_dates_are_validated(api, community, admin_token):
    path = f"{community.slug}/events"
    body = {"name": "x", "starts_on": "2027-03-02", "ends_on": "2027-03-01"}
    assert "ends_on" in error_of(api("post", path, body, admin_token), 400)["fields"]
    assert error_of(api("post", path, {**body, "starts_on": 20270302}, admin_token), 400)


def test_an_unknown_event_item_or_run_is_a_404(api, community, event, ingest_token, admin_token):
    slug = community.slug
    body = {"item": "nothing", "batches": 1}
    assert error_of(
        api("post", f"{slug}/events/{event.pk}/production-runs", body, ingest_token), 404
    )
    assert error_of(api("post", f"{slug}/events/999999/production-runs", body, ingest_token), 404)
    void = {"reason": "x"}
    assert error_of(
        api(
            "post",
            f"{slug}/events/{event.pk}/assembly-runs/99999999999999999999/void",
            void,
            admin_token,
        ),
        404,
    )


# --- the access matrix -------------------------------------------------------------------------

RUN = {"item": "cookies", "batches": 1}
ITEM = {"name": "flour"}


def _calls(slug, event):
    return {
        "record": ("post", f"{slug}/events/{event.pk}/production-runs", RUN),
        "manage": ("post", f"{slug}/items", ITEM),
    }


def test_anonymous_callers_get_401(api, community, event, cookies):
    for method, path, body in _calls(community.slug, event).values():
        assert error_of(api(method, path, body), 401)


def test_members_get_403(api, client, community, event, cookies):
    client.force_login(MembershipFactory(community=community, role=Role.MEMBER).user)
    for method, path, body in _calls(community.slug, event).values():
        assert error_of(api(method, path, body), 403)


def test_outsiders_of_a_private_community_get_404(api, client, private_community):
    client.force_login(UserFactory())
    path = f"{private_community.slug}/items"
    assert error_of(api("post", path, ITEM), 404)


def test_a_signed_in_moderator_may_record_and_manage(api, client, community, event, cookies):
    client.force_login(MembershipFactory(community=community, role=Role.MODERATOR).user)
    for method, path, body in _calls(community.slug, event).values():
        assert api(method, path, body).status_code == 201


def test_a_session_write_without_csrf_is_refused(community, event, cookies):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    strict.force_login(MembershipFactory(community=community, role=Role.MODERATOR).user)
    response = strict.post(
        f"/api/communities/{community.slug}/items", ITEM, content_type="application/json"
    )
    assert error_of(response, 403)
    assert not Item.objects.filter(name="flour").exists()


def test_an_admin_token_may_record_and_manage(api, community, event, cookies, admin_token):
    for method, path, body in _calls(community.slug, event).values():
        assert api(method, path, body, admin_token).status_code == 201


def test_an_ingest_token_records_runs_but_does_not_manage(
    api, community, event, cookies, ingest_token
):
    calls = _calls(community.slug, event)
    method, path, body = calls["record"]
    assert api(method, path, body, ingest_token).status_code == 201
    method, path, body = calls["manage"]
    assert error_of(api(method, path, body, ingest_token), 403)
    void = (
        f"{community.slug}/events/{event.pk}/production-runs/{ProductionRun.objects.get().pk}/void"
    )
    assert error_of(api("post", void, {"reason": "x"}, ingest_token), 403)


def test_another_communitys_token_is_refused(api, community, event, cookies):
    foreign = issue_token(CommunityFactory(), "admin", "ingest").secret
    for method, path, body in _calls(community.slug, event).values():
        assert error_of(api(method, path, body, foreign), 403)


def test_a_run_on_a_closed_event_is_a_409(api, community, event, cookies, admin_token):
    settings = f"{community.slug}/events/{event.pk}"
    assert api("patch", settings, {"status": "closed"}, admin_token).status_code == 200
    path = f"{community.slug}/events/{event.pk}/production-runs"
    assert error_of(api("post", path, RUN, admin_token), 409)["fields"] == {"status": ["closed"]}


def test_a_bundle_listing_an_item_twice_is_a_400(api, community, cookies, admin_token):
    body = {
        "name": "double",
        "components": [{"item": "cookies", "quantity": 1}, {"item": cookies.pk, "quantity": 2}],
    }
    error = error_of(api("post", f"{community.slug}/bundles", body, admin_token), 400)
    assert "listed twice" in str(error["fields"])
    body["components"][1]["item"] = "cookies"
    assert error_of(api("post", f"{community.slug}/bundles", body, admin_token), 400)
