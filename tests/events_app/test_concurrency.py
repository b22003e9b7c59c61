"""Concurrency proofs on PostgreSQL, with real threads each on its own connection.

- Yield for exactly 10 gift boxes, then 24 concurrent assembly runs of one box: exactly 10
  succeed, 14 are refused with 409, and nothing is consumed beyond what was produced.
- Concurrent production runs crossing a target: exactly one `events.target.completed`.
- The same client run id sent by 12 threads at once: one run.
"""

from __future__ import annotations

from datetime import date

import pytest
from django.db.models import Sum

from communities.errors import Conflict
from events_app.models import AssemblyConsumption, AssemblyRun, ProductionRun
from events_app.services import catalogue, runs
from realtime.models import OutboxEvent
from tests.progression.concurrency_helpers import run_concurrently

pytestmark = [pytest.mark.real_services, pytest.mark.django_db(transaction=True)]
BOXES = 10
ASSEMBLERS = 24


@pytest.fixture
def bake_along(community):
    cookies = catalogue.create_item(community, name="cookies", yield_per_batch=6)
    ribbons = catalogue.create_item(community, name="ribbons", yield_per_batch=1)
    box = catalogue.create_bundle(community, name="box", components={cookies.pk: 3, ribbons.pk: 1})
    event = catalogue.create_event(
        community,
        name="Race",
        starts_on=date(2026, 12, 1),
        ends_on=date(2026, 12, 2),
        status="live",
    )
    return event, cookies, ribbons, box


def test_concurrent_assembly_never_consumes_more_than_was_produced(community, bake_along):
    event, cookies, ribbons, box = bake_along
    runs.record_production_run(community, event.pk, cookies.pk, batches=5)  # 30 = 10 boxes
    runs.record_production_run(community, event.pk, ribbons.pk, batches=BOXES + 3)

    ran = run_concurrently(
        [
            lambda i=i: runs.record_assembly_run(
                community, event.pk, box.pk, quantity=1, client_run_id=f"asm-{i}"
            )
            for i in range(ASSEMBLERS)
        ]
    )

    unexpected = [r.error for r in ran if r.error is not None and not isinstance(r.error, Conflict)]
    assert not unexpected, unexpected[0]
    assert sum(1 for r in ran if r.error is None) == BOXES
    refused = [r.error for r in ran if isinstance(r.error, Conflict)]
    assert len(refused) == ASSEMBLERS - BOXES
    assert all(e.fields == {"cookies": ["needed 3, available 0"]} for e in refused)
    assert AssemblyRun.objects.filter(event=event).count() == BOXES
    consumed = AssemblyConsumption.objects.filter(event=event, item=cookies).aggregate(
        total=Sum("quantity")
    )["total"]
    assert consumed == 30
    assert runs.available_yield(event, [cookies.pk, ribbons.pk]) == {cookies.pk: 0, ribbons.pk: 3}


def test_concurrent_runs_crossing_a_target_complete_it_exactly_once(community, bake_along):
    event, cookies, _, _ = bake_along
    catalogue.set_production_target(community, event.pk, cookies.pk, target_batches=5)

    ran = run_concurrently(
        [
            lambda: runs.record_production_run(community, event.pk, cookies.pk, batches=1)
            for _ in range(16)
        ]
    )

    assert not [r.error for r in ran if r.error is not None]
    completed = OutboxEvent.objects.filter(type="events.target.completed")
    assert completed.count() == 1
    assert completed.get().data["target"]["produced_batches"] == 5  # the run that crossed it
    assert OutboxEvent.objects.filter(type="events.event.completed").count() == 1
    assert OutboxEvent.objects.filter(type="events.progress.updated").count() == 16 + 1


def test_one_client_run_id_sent_at_once_by_many_threads_records_one_run(community, bake_along):
    event, cookies, _, _ = bake_along

    ran = run_concurrently(
        [
            lambda: runs.record_production_run(
                community, event.pk, cookies.pk, batches=1, client_run_id="chat-7"
            )
            for _ in range(12)
        ]
    )

    assert not [r.error for r in ran if r.error is not None]
    assert sum(1 for r in ran if r.value.created) == 1
    assert ProductionRun.objects.filter(event=event).count() == 1
