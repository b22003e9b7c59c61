"""Production runs: recorded, idempotent by client run id, refused on closed events, voided."""

from __future__ import annotations

import pytest

from communities.errors import Conflict, InvalidInput, NotFound
from events_app.models import ProductionRun
from events_app.services import catalogue, runs
from tests.factories import CommunityFactory

pytestmark = pytest.mark.django_db


def test_a_run_yields_batches_times_the_yield_per_batch_by_default(community, event, cookies):
    result = runs.record_production_run(community, event.pk, cookies.pk, batches=2)

    assert result.created
    assert (result.run.batches, result.run.actual_yield) == (2, 24)


def test_an_actual_yield_overrides_the_default(community, event, cookies):
    run = runs.record_production_run(community, event.pk, "cookies", batches=2, actual_yield=20).run
    assert run.actual_yield == 20


def test_an_item_can_be_named_case_insensitively(community, event, cookies):
    assert runs.record_production_run(community, event.pk, "Cookies", batches=1).run.item == cookies


def test_the_same_client_run_id_twice_records_one_run(community, event, cookies):
    first = runs.record_production_run(
        community, event.pk, cookies.pk, batches=1, client_run_id="chat-42", recorded_by="ann"
    )
    again = runs.record_production_run(
        community, event.pk, cookies.pk, batches=1, client_run_id="chat-42", recorded_by="ann"
    )

    assert first.created and not again.created
    assert again.run.pk == first.run.pk
    assert ProductionRun.objects.filter(event=event).count() == 1


def test_the_same_client_run_id_with_other_content_is_a_conflict(community, event, cookies):
    runs.record_production_run(community, event.pk, cookies.pk, batches=1, client_run_id="x")

    with pytest.raises(Conflict) as refused:
        runs.record_production_run(community, event.pk, cookies.pk, batches=2, client_run_id="x")
    assert "client_run_id" in refused.value.fields
    assert ProductionRun.objects.filter(event=event).count() == 1


def test_client_run_ids_are_per_event(community, event, cookies):
    other = catalogue.create_event(
        community, name="Other", starts_on=event.starts_on, ends_on=event.ends_on
    )
    runs.record_production_run(community, event.pk, cookies.pk, batches=1, client_run_id="x")
    assert runs.record_production_run(
        community, other.pk, cookies.pk, batches=1, client_run_id="x"
    ).created


@pytest.mark.parametrize("status", ["closed", "cancelled"])
def test_runs_on_a_closed_or_cancelled_event_are_refused(community, event, cookies, status):
    event.status = status
    event.save()

    with pytest.raises(Conflict):
        runs.record_production_run(community, event.pk, cookies.pk, batches=1)
    assert not ProductionRun.objects.exists()


def test_a_planned_event_accepts_runs(community, event, cookies):
    event.status = "planned"
    event.save()
    assert runs.record_production_run(community, event.pk, cookies.pk, batches=1).created


def test_a_retry_of_a_run_recorded_before_the_event_closed_still_answers_the_run(
    community, event, cookies
):
    first = runs.record_production_run(
        community, event.pk, cookies.pk, batches=1, client_run_id="a"
    )
    catalogue.update_event(community, event.pk, catalogue.EventChanges(status="closed"))

    again = runs.record_production_run(
        community, event.pk, cookies.pk, batches=1, client_run_id="a"
    )
    assert (again.run.pk, again.created) == (first.run.pk, False)


def test_another_communitys_event_or_item_is_not_found(community, event, cookies):
    other = CommunityFactory()
    foreign = catalogue.create_item(other, name="foreign", yield_per_batch=1)

    with pytest.raises(NotFound):
        runs.record_production_run(other, event.pk, foreign.pk, batches=1)
    with pytest.raises(NotFound):
        runs.record_production_run(community, event.pk, foreign.pk, batches=1)
    with pytest.raises(NotFound):
        runs.record_production_run(community, event.pk, "foreign", batches=1)


def test_zero_batches_are_invalid(community, event, cookies):
    with pytest.raises(InvalidInput):
        runs.record_production_run(community, event.pk, cookies.pk, batches=0)


def test_a_void_keeps_the_run_with_its_reason_and_it_counts_for_nothing(community, event, cookies):
    run = runs.record_production_run(community, event.pk, cookies.pk, batches=2).run

    voided = runs.void_production_run(
        community, event.pk, run.pk, reason="counted twice", voided_by="user:1"
    )

    stored = ProductionRun.objects.get(pk=run.pk)
    assert voided.is_voided and stored.void_reason == "counted twice"
    assert stored.voided_by == "user:1"
    assert runs.available_yield(event, [cookies.pk]) == {cookies.pk: 0}


def test_a_void_needs_a_reason(community, event, cookies):
    run = runs.record_production_run(community, event.pk, cookies.pk, batches=2).run
    with pytest.raises(InvalidInput):
        runs.void_production_run(community, event.pk, run.pk, reason="  ")
    assert not ProductionRun.objects.get(pk=run.pk).is_voided


def test_voiding_twice_is_a_no_op_that_keeps_the_first_reason(community, event, cookies):
    run = runs.record_production_run(community, event.pk, cookies.pk, batches=2).run
    first = runs.void_production_run(community, event.pk, run.pk, reason="first")
    again = runs.void_production_run(community, event.pk, run.pk, reason="second")

    assert again.voided_at == first.voided_at
    assert ProductionRun.objects.get(pk=run.pk).void_reason == "first"


def test_voiding_a_run_of_another_event_is_not_found(community, event, cookies):
    other = catalogue.create_event(
        community, name="Other", starts_on=event.starts_on, ends_on=event.ends_on
    )
    run = runs.record_production_run(community, event.pk, cookies.pk, batches=2).run
    with pytest.raises(NotFound):
        runs.void_production_run(community, other.pk, run.pk, reason="x")


def test_a_yield_too_large_for_the_books_is_invalid_not_a_crash(community, event):
    huge = catalogue.create_item(community, name="sprinkles", yield_per_batch=1_000_000)
    with pytest.raises(InvalidInput):
        runs.record_production_run(community, event.pk, huge.pk, batches=1_000_000)
    assert not ProductionRun.objects.exists()
