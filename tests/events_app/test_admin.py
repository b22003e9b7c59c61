"""The streamer's admin for events: seed_demo's owner manages the demo bake-along on their own
community only, and every edit goes through the services (validation, locks, stream events)."""

from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client

from communities.models import Community, Role
from events_app.models import Bundle, Event, Item, ProductionRun, ProductionTarget
from events_app.services import catalogue, runs
from realtime.models import OutboxEvent
from tests.factories import CommunityFactory, MembershipFactory

pytestmark = pytest.mark.django_db(transaction=True)
PAGES = ["event", "item", "bundle", "productionrun", "assemblyrun", "delivery"]


@pytest.fixture
def demo() -> Community:
    call_command("seed_demo", stdout=StringIO())
    return Community.objects.get(slug="demo")


@pytest.fixture
def owner(demo) -> Client:
    client = Client()
    client.force_login(get_user_model().objects.get(username="demo"))
    return client


@pytest.fixture
def other() -> Community:
    community = CommunityFactory(slug="elsewhere")
    MembershipFactory(community=community, role=Role.OWNER)
    catalogue.create_item(community, name="secret sauce")
    return community


def url(model: str, *parts: object) -> str:
    return "/admin/events_app/" + "/".join([model, *map(str, parts)]) + "/"


def shown(response) -> str:
    return " | ".join(str(m) for m in response.context["messages"])


def test_seed_demo_loads_the_demo_bake_along(demo):
    event = Event.objects.get(community=demo)
    assert event.name == "Winter bake-along"
    assert ProductionTarget.objects.filter(event=event).count() == 2


def test_the_owner_sees_every_events_page(owner, demo):
    index = owner.get("/admin/").content.decode()
    for model in PAGES:
        assert f'href="{url(model)}"' in index, model
        assert owner.get(url(model)).status_code == 200, model
    event = Event.objects.get(community=demo)
    assert owner.get(url("event", event.pk, "change")).status_code == 200


def test_another_communitys_rows_are_hidden_and_answer_404(owner, other):
    item = Item.objects.get(community=other)
    assert "secret sauce" not in owner.get(url("item")).content.decode()
    assert owner.get(url("item", item.pk, "change")).status_code == 404
    assert owner.post(url("item", item.pk, "change"), {"name": "mine"}).status_code == 404
    assert Item.objects.get(pk=item.pk).name == "secret sauce"


def test_a_member_who_is_not_a_moderator_sees_nothing(demo):
    member = MembershipFactory(community=demo, role=Role.MEMBER).user
    member.is_staff = True
    member.save()
    client = Client()
    client.force_login(member)
    assert client.get(url("event")).status_code == 403


def test_voiding_runs_from_the_admin_asks_a_reason_and_goes_through_the_service(owner, demo):
    event = Event.objects.get(community=demo)
    run = runs.record_production_run(demo, event.pk, "cookies", batches=1).run
    data = {"action": "void_runs", "_selected_action": [run.pk]}

    refused = owner.post(url("productionrun"), data, follow=True)
    assert "needs a reason" in shown(refused)
    assert not ProductionRun.objects.get(pk=run.pk).is_voided

    done = owner.post(url("productionrun"), {**data, "reason": "dropped the tray"}, follow=True)
    assert "voided" in shown(done)
    voided = ProductionRun.objects.get(pk=run.pk)
    assert voided.void_reason == "dropped the tray" and voided.voided_by.startswith("user:")
    assert OutboxEvent.objects.filter(type="events.progress.updated").last().data["event_id"] == (
        event.pk
    )


def test_runs_cannot_be_edited_or_deleted_in_the_admin(owner, demo):
    event = Event.objects.get(community=demo)
    run = runs.record_production_run(demo, event.pk, "cookies", batches=1).run
    assert owner.post(url("productionrun", run.pk, "delete"), {"post": "yes"}).status_code == 403
    assert ProductionRun.objects.filter(pk=run.pk).exists()


def test_an_item_in_use_is_not_deleted_and_the_page_says_why(owner, demo):
    cookies = Item.objects.get(community=demo, name="cookies")
    response = owner.post(url("item", cookies.pk, "delete"), {"post": "yes"}, follow=True)
    assert Item.objects.filter(pk=cookies.pk).exists()
    assert response.status_code in (200, 403)


def test_an_event_status_change_the_service_refuses_is_shown_on_the_form(owner, demo):
    event = Event.objects.get(community=demo)
    catalogue.update_event(demo, event.pk, catalogue.EventChanges(status="cancelled"))
    form = {
        "name": event.name,
        "starts_on": event.starts_on.isoformat(),
        "ends_on": event.ends_on.isoformat(),
        "description": event.description,
        "status": "live",
        **_empty_inlines(),
    }
    response = owner.post(url("event", event.pk, "change"), form)
    assert response.status_code == 200  # the form again, with the error
    assert "cannot become live" in response.content.decode()
    assert Event.objects.get(pk=event.pk).status == "cancelled"


def test_a_target_edited_inline_goes_through_the_service_and_publishes(owner, demo):
    event = Event.objects.get(community=demo)
    target = ProductionTarget.objects.get(event=event, item__name="cookies")
    others = list(ProductionTarget.objects.filter(event=event).order_by("pk"))
    form = {
        "name": event.name,
        "starts_on": event.starts_on.isoformat(),
        "ends_on": event.ends_on.isoformat(),
        "description": event.description,
        "status": event.status,
        **_empty_inlines(),
        "production_targets-TOTAL_FORMS": str(len(others)),
        "production_targets-INITIAL_FORMS": str(len(others)),
    }
    for i, row in enumerate(others):
        form[f"production_targets-{i}-id"] = str(row.pk)
        form[f"production_targets-{i}-event"] = str(event.pk)
        form[f"production_targets-{i}-item"] = str(row.item_id)
        batches = 1 if row.pk == target.pk else row.target_batches
        form[f"production_targets-{i}-target_batches"] = str(batches)
    before = OutboxEvent.objects.filter(type="events.progress.updated").count()

    response = owner.post(url("event", event.pk, "change"), form)

    assert response.status_code == 302, response.content.decode()[:2000]
    assert ProductionTarget.objects.get(pk=target.pk).target_batches == 1
    assert OutboxEvent.objects.filter(type="events.progress.updated").count() > before


def _empty_inlines() -> dict[str, str]:
    form: dict[str, str] = {}
    for prefix in ("production_targets", "assembly_targets"):
        form.update(
            {
                f"{prefix}-TOTAL_FORMS": "0",
                f"{prefix}-INITIAL_FORMS": "0",
                f"{prefix}-MIN_NUM_FORMS": "0",
                f"{prefix}-MAX_NUM_FORMS": "1000",
            }
        )
    return form


def test_a_bundle_added_in_the_admin_goes_through_the_service_with_its_components(owner, demo):
    cookies = Item.objects.get(community=demo, name="cookies")
    form = {
        "community": str(demo.pk),
        "name": "cookie bag",
        "description": "",
        "components-TOTAL_FORMS": "1",
        "components-INITIAL_FORMS": "0",
        "components-MIN_NUM_FORMS": "1",
        "components-MAX_NUM_FORMS": "1000",
        "components-0-item": str(cookies.pk),
        "components-0-quantity": "10",
    }
    response = owner.post(url("bundle", "add"), form)

    assert response.status_code == 302, response.content.decode()[:3000]
    bag = Bundle.objects.get(community=demo, name="cookie bag")
    assert list(bag.components.values_list("item__name", "quantity")) == [("cookies", 10)]


def test_the_admin_refuses_a_component_of_another_community(owner, demo, other):
    MembershipFactory(
        community=other, role=Role.MODERATOR, user=get_user_model().objects.get(username="demo")
    )
    foreign = Item.objects.get(community=other)
    form = {
        "community": str(demo.pk),
        "name": "mixed",
        "description": "",
        "components-TOTAL_FORMS": "1",
        "components-INITIAL_FORMS": "0",
        "components-MIN_NUM_FORMS": "1",
        "components-MAX_NUM_FORMS": "1000",
        "components-0-item": str(foreign.pk),
        "components-0-quantity": "1",
    }
    response = owner.post(url("bundle", "add"), form)

    assert response.status_code == 200
    assert "Not an item of this community" in response.content.decode()
