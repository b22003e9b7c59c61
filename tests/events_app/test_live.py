"""The `events` topic: each event type is written to the outbox with the right payload, and
reaches a stream client."""

from __future__ import annotations

import json
from datetime import date

import pytest
from channels.db import database_sync_to_async

from events_app.services import catalogue, deliveries, runs
from realtime.hub import get_hub
from realtime.models import OutboxEvent
from tests.events_app.conftest import outbox
from tests.realtime.asgi_client import get_stream
from tests.realtime.helpers import until

PROGRESS = "events.progress.updated"
COMPLETED = "events.target.completed"
REOPENED = "events.target.reopened"
EVENT_COMPLETED = "events.event.completed"
EVENT_REOPENED = "events.event.reopened"
DELIVERY = "events.delivery.updated"


def finish(community, event, cookies, bracelets, gift_box):
    """Both targets complete: 2 batches of cookies (24), 2 gift boxes (12 cookies, 2 bracelets)."""
    baked = runs.record_production_run(community, event.pk, cookies.pk, batches=2).run
    runs.record_production_run(community, event.pk, bracelets.pk, batches=2)
    boxed = runs.record_assembly_run(community, event.pk, gift_box.pk, quantity=2).run
    return baked, boxed


@pytest.mark.django_db
class TestOutbox:
    def test_a_run_publishes_the_events_new_figures_coalesced_per_event(
        self, community, event, cookies
    ):
        runs.record_production_run(community, event.pk, cookies.pk, batches=1)

        last = outbox(PROGRESS)[-1]
        assert last.topic == "events" and last.coalesce_key == f"events.progress:{event.pk}"
        data = last.data
        assert (data["event_id"], data["name"], data["status"]) == (event.pk, event.name, "live")
        (row,) = data["production"]
        assert (row["produced_batches"], row["produced_yield"], row["percent"]) == (1, 12, 50.0)
        assert data["available"] == [
            {
                "item_id": cookies.pk,
                "item": "cookies",
                "produced_yield": 12,
                "consumed": 0,
                "available": 12,
            }
        ]
        assert data["deliveries"] == {"pending": 0, "ready": 0, "delivered": 0, "total": 0}

    def test_a_target_completes_once_and_the_event_once(
        self, community, event, cookies, bracelets, gift_box
    ):
        finish(community, event, cookies, bracelets, gift_box)
        runs.record_production_run(community, event.pk, cookies.pk, batches=1)  # over 100 %

        completed = outbox(COMPLETED)
        assert [(e.data["kind"], e.data["target"]["complete"]) for e in completed] == [
            ("production", True),
            ("assembly", True),
        ]
        assert completed[0].data["target"]["item"] == "cookies"
        (done,) = outbox(EVENT_COMPLETED)
        assert done.data["event_id"] == event.pk
        assert done.data["production_summary"]["status"] == "complete"
        event.refresh_from_db()
        assert event.completed_at is not None

    def test_a_void_that_takes_a_target_below_reopens_it_and_the_event(
        self, community, event, cookies, bracelets, gift_box
    ):
        _, boxed = finish(community, event, cookies, bracelets, gift_box)

        runs.void_assembly_run(community, event.pk, boxed.pk, reason="miscounted")

        (reopened,) = outbox(REOPENED)
        assert (reopened.data["kind"], reopened.data["target"]["assembled"]) == ("assembly", 0)
        assert reopened.data["reason"] == "void"
        (event_reopened,) = outbox(EVENT_REOPENED)
        assert event_reopened.data["event_id"] == event.pk
        event.refresh_from_db()
        assert event.completed_at is None
        # Completing again is a new completion, announced again.
        runs.record_assembly_run(community, event.pk, gift_box.pk, quantity=2)
        assert len(outbox(COMPLETED)) == 3 and len(outbox(EVENT_COMPLETED)) == 2

    def test_raising_a_target_reopens_it(self, community, event, cookies):
        runs.record_production_run(community, event.pk, cookies.pk, batches=2)
        catalogue.set_production_target(community, event.pk, cookies.pk, target_batches=3)

        (reopened,) = outbox(REOPENED)
        assert reopened.data["reason"] == "target"
        assert outbox(PROGRESS)[-1].data["production"][0]["remaining"] == 1

    def test_deliveries_publish_each_change_and_the_counts(self, community, event, gift_box):
        delivery = deliveries.create_delivery(
            community, event.pk, recipient="Shelter", bundle_ref=gift_box.pk
        )
        deliveries.advance_delivery(community, event.pk, delivery.pk, status="ready")

        assert [(e.data["previous_status"], e.data["status"]) for e in outbox(DELIVERY)] == [
            (None, "pending"),
            ("pending", "ready"),
        ]
        assert outbox(DELIVERY)[0].data["recipient"] == "Shelter"
        assert outbox(PROGRESS)[-1].data["deliveries"]["ready"] == 1

    def test_a_refused_run_publishes_nothing(self, community, event, gift_box):
        before = OutboxEvent.objects.count()
        with pytest.raises(Exception):  # noqa: B017, PT011 - the 409 is tested elsewhere
            runs.record_assembly_run(community, event.pk, gift_box.pk, quantity=1)
        assert OutboxEvent.objects.count() == before


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_a_stream_client_of_the_events_topic_receives_progress_and_completion(
    community, cookies, gift_box
):
    hub = get_hub()
    await hub.start()
    try:
        event = await database_sync_to_async(catalogue.create_event)(
            community,
            name="Live",
            starts_on=date(2026, 12, 1),
            ends_on=date(2026, 12, 2),
            status="live",
        )
        await database_sync_to_async(catalogue.set_production_target)(
            community, event.pk, cookies.pk, target_batches=1
        )
        response = await get_stream(community.slug, {"topics": "events"})
        try:
            await until(lambda: response.chunks, what="the stream to open")
            await database_sync_to_async(runs.record_production_run)(
                community, event.pk, cookies.pk, batches=1
            )
            await until(
                lambda: {COMPLETED, PROGRESS} <= {f.get("event") for f in response.frames()},
                10.0,
                "events.target.completed and events.progress.updated",
            )
        finally:
            await response.disconnect()
    finally:
        for task in hub._tasks:
            task.cancel()
    frames = [f for f in response.frames() if f.get("event") in (COMPLETED, PROGRESS)]
    completed = next(json.loads(f["data"]) for f in frames if f["event"] == COMPLETED)
    assert completed["topic"] == "events"
    assert completed["data"]["target"]["item"] == "cookies"
    progress = next(json.loads(f["data"]) for f in frames if f["event"] == PROGRESS)
    assert progress["data"]["production"][0]["complete"] is True
