"""Assembly consumes what was produced, never more; voids give it back."""

from __future__ import annotations

import pytest

from communities.errors import Conflict
from events_app.models import AssemblyConsumption, AssemblyRun
from events_app.services import catalogue, runs

pytestmark = pytest.mark.django_db


def produce(community, event, item, batches, **kw):
    return runs.record_production_run(community, event.pk, item.pk, batches=batches, **kw).run


def test_an_assembly_run_without_enough_cookies_is_refused_naming_what_is_missing(
    community, event, cookies, bracelets, gift_box
):
    produce(community, event, cookies, 1)  # 12 cookies, no bracelets

    with pytest.raises(Conflict) as refused:
        runs.record_assembly_run(community, event.pk, gift_box.pk, quantity=3)

    assert refused.value.fields == {
        "cookies": ["needed 18, available 12"],
        "bracelets": ["needed 3, available 0"],
    }
    assert "cookies" in refused.value.message and "bracelets" in refused.value.message
    assert not AssemblyRun.objects.exists() and not AssemblyConsumption.objects.exists()


def test_an_assembly_run_stores_what_it_consumed(community, event, cookies, bracelets, gift_box):
    produce(community, event, cookies, 1)
    produce(community, event, bracelets, 2)

    run = runs.record_assembly_run(community, event.pk, "gift box", quantity=2).run

    taken = {c.item.name: c.quantity for c in run.consumption.select_related("item")}
    assert taken == {"cookies": 12, "bracelets": 2}
    assert runs.available_yield(event, [cookies.pk, bracelets.pk]) == {
        cookies.pk: 0,
        bracelets.pk: 0,
    }


def test_consumption_adds_up_across_several_runs(community, event, cookies, bracelets, gift_box):
    produce(community, event, cookies, 2)  # 24
    produce(community, event, bracelets, 3)
    runs.record_assembly_run(community, event.pk, gift_box.pk, quantity=2)  # 12 + 2
    runs.record_assembly_run(community, event.pk, gift_box.pk, quantity=1)  # 6 + 1

    with pytest.raises(Conflict) as refused:
        runs.record_assembly_run(community, event.pk, gift_box.pk, quantity=1)
    assert refused.value.fields == {"bracelets": ["needed 1, available 0"]}
    assert runs.available_yield(event, [cookies.pk]) == {cookies.pk: 6}


def test_yield_of_another_event_is_not_available(community, event, cookies, bracelets, gift_box):
    other = catalogue.create_event(
        community, name="Other", starts_on=event.starts_on, ends_on=event.ends_on, status="live"
    )
    produce(community, other, cookies, 5)
    produce(community, other, bracelets, 5)

    with pytest.raises(Conflict):
        runs.record_assembly_run(community, event.pk, gift_box.pk, quantity=1)


def test_voided_production_is_not_available(community, event, cookies, bracelets, gift_box):
    run = produce(community, event, cookies, 1)
    produce(community, event, bracelets, 1)
    runs.void_production_run(community, event.pk, run.pk, reason="burnt")

    with pytest.raises(Conflict) as refused:
        runs.record_assembly_run(community, event.pk, gift_box.pk, quantity=1)
    assert refused.value.fields == {"cookies": ["needed 6, available 0"]}


def test_voiding_an_assembly_run_gives_its_consumption_back(
    community, event, cookies, bracelets, gift_box
):
    produce(community, event, cookies, 1)
    produce(community, event, bracelets, 2)
    run = runs.record_assembly_run(community, event.pk, gift_box.pk, quantity=2).run

    runs.void_assembly_run(community, event.pk, run.pk, reason="boxes were empty")

    assert runs.available_yield(event, [cookies.pk, bracelets.pk]) == {
        cookies.pk: 12,
        bracelets.pk: 2,
    }
    assert AssemblyConsumption.objects.filter(run=run).count() == 2  # kept for audit
    assert runs.record_assembly_run(community, event.pk, gift_box.pk, quantity=2).created


def test_voiding_production_already_assembled_is_refused_naming_the_shortfall(
    community, event, cookies, bracelets, gift_box
):
    baked = produce(community, event, cookies, 1)  # 12
    produce(community, event, bracelets, 1)
    assembly = runs.record_assembly_run(community, event.pk, gift_box.pk, quantity=1).run  # 6

    with pytest.raises(Conflict) as refused:
        runs.void_production_run(community, event.pk, baked.pk, reason="burnt")
    assert refused.value.fields == {"cookies": ["short by 6"]}

    runs.void_assembly_run(community, event.pk, assembly.pk, reason="undo")
    assert runs.void_production_run(community, event.pk, baked.pk, reason="burnt").is_voided


def test_a_later_bill_of_materials_does_not_change_what_a_run_consumed(
    community, event, cookies, bracelets, gift_box
):
    produce(community, event, cookies, 1)
    produce(community, event, bracelets, 1)
    run = runs.record_assembly_run(community, event.pk, gift_box.pk, quantity=1).run

    catalogue.update_bundle(community, gift_box.pk, components={cookies.pk: 1})

    assert {c.quantity for c in run.consumption.all()} == {6, 1}


def test_assembly_retry_is_idempotent_and_other_content_conflicts(
    community, event, cookies, bracelets, gift_box
):
    produce(community, event, cookies, 2)
    produce(community, event, bracelets, 2)
    first = runs.record_assembly_run(
        community, event.pk, gift_box.pk, quantity=1, client_run_id="k"
    )
    again = runs.record_assembly_run(
        community, event.pk, gift_box.pk, quantity=1, client_run_id="k"
    )

    assert (again.created, again.run.pk) == (False, first.run.pk)
    assert AssemblyConsumption.objects.filter(run__event=event).count() == 2
    with pytest.raises(Conflict):
        runs.record_assembly_run(community, event.pk, gift_box.pk, quantity=2, client_run_id="k")
