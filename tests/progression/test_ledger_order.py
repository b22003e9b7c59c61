"""Two batches with the same message ids in opposite orders, inserted concurrently on
PostgreSQL, never deadlock: each waits for the other's commit and the repeat is a duplicate."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, connections

from progression.integrity import check_integrity
from progression.models import Contribution
from progression.services.engagement import EngagementEvent, record_engagement
from tests.factories import NodeFactory

pytestmark = [pytest.mark.real_services, pytest.mark.django_db(transaction=True)]

# Every ledger insert takes 0.3 s, so both batches are surely mid-insert together.
SLOW_INSERTS = """
CREATE OR REPLACE FUNCTION ph_test_slow_insert() RETURNS trigger AS $$
BEGIN PERFORM pg_sleep(0.3); RETURN NEW; END $$ LANGUAGE plpgsql;
CREATE TRIGGER ph_test_slow_insert BEFORE INSERT ON progression_contribution
FOR EACH ROW EXECUTE FUNCTION ph_test_slow_insert();
"""


def event(index: int, viewer: str, message_id: str) -> EngagementEvent:
    return EngagementEvent(index, viewer, "message", 1, "", message_id)


def test_batches_repeating_each_others_messages_in_opposite_order_do_not_deadlock(community):
    NodeFactory(community=community, key="first", cost_override=10_000)
    record_engagement(community, [event(0, "ann", "seed-1"), event(1, "bob", "seed-2")])
    with connection.cursor() as cursor:
        cursor.execute(SLOW_INSERTS)
    batches = [
        [event(0, "ann", "m1"), event(1, "bob", "m2")],
        [event(0, "bob", "m2"), event(1, "ann", "m1")],
    ]
    barrier = threading.Barrier(2)
    results: list = [None, None]

    def send(number: int) -> None:
        try:
            barrier.wait()
            results[number] = record_engagement(community, batches[number])
        except Exception as exc:  # noqa: BLE001 - handed to the test thread
            results[number] = exc
        finally:
            connections.close_all()

    try:
        threads = [threading.Thread(target=send, args=(n,)) for n in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP TRIGGER ph_test_slow_insert ON progression_contribution")

    errors = [r for r in results if isinstance(r, Exception)]
    assert not errors, errors
    statuses = sorted(o.status for r in results for o in r.outcomes)
    assert statuses == ["accepted", "accepted", "duplicate", "duplicate"]
    assert set(
        Contribution.objects.filter(community=community).values_list("message_id", flat=True)
    ) == {"seed-1", "seed-2", "m1", "m2"}
    assert check_integrity(community) == []
