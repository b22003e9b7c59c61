"""Concurrent writers on PostgreSQL: ids stay gap-free, unique, and in commit order."""

from __future__ import annotations

import threading

import pytest
from django.db import connection
from django.db.models import Count, Max

from realtime.models import OutboxEvent
from tests.factories import CommunityFactory
from tests.realtime.helpers import publish_committed

THREADS, PER_THREAD = 8, 50


def _writer(community, start: threading.Barrier, ids: list[int], errors: list[BaseException]):
    try:
        start.wait()
        for _ in range(PER_THREAD):
            ids.append(publish_committed(community, "jobs", "jobs.job.progressed").event_id)
    except BaseException as exc:  # noqa: BLE001 - reported by the test thread
        errors.append(exc)
    finally:
        connection.close()


def _reader(community, stop: threading.Event, snapshots: list[tuple[int, int]]):
    """Every committed id is visible only once all ids below it are: count == max, always."""
    try:
        while not stop.is_set():
            seen = OutboxEvent.objects.filter(community=community).aggregate(
                n=Count("pk"), top=Max("event_id")
            )
            snapshots.append((seen["n"], seen["top"] or 0))
    finally:
        connection.close()


@pytest.mark.real_services
@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_get_ids_one_to_n_with_no_duplicate_no_hole_in_commit_order(
    fanout_recorder,
):
    assert connection.vendor == "postgresql"
    community = CommunityFactory()
    start = threading.Barrier(THREADS)
    per_thread: list[list[int]] = [[] for _ in range(THREADS)]
    errors: list[BaseException] = []
    snapshots: list[tuple[int, int]] = []
    stop = threading.Event()
    reader = threading.Thread(target=_reader, args=(community, stop, snapshots))
    writers = [
        threading.Thread(target=_writer, args=(community, start, ids, errors)) for ids in per_thread
    ]

    reader.start()
    for thread in writers:
        thread.start()
    for thread in writers:
        thread.join(timeout=120)
    stop.set()
    reader.join(timeout=30)

    assert errors == []
    total = THREADS * PER_THREAD
    stored = list(
        OutboxEvent.objects.filter(community=community)
        .order_by("event_id")
        .values_list("event_id", flat=True)
    )
    assert stored == list(range(1, total + 1))
    assert sorted(i for ids in per_thread for i in ids) == list(range(1, total + 1))
    # Each writer's own commits come in order, so its ids must rise.
    assert all(ids == sorted(ids) and len(ids) == PER_THREAD for ids in per_thread)
    # A reader never saw id n before every id below n was committed.
    assert len(snapshots) > 1
    assert [s for s in snapshots if s[0] != s[1]] == []
    assert sorted(fanout_recorder.event_ids) == list(range(1, total + 1))
