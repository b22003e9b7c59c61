"""Coalesced snapshots (`progression.progress.updated`, `progression.vote.cast`) are published
in commit order with the events around them (issue 7, A3).

The race, made deterministic: a snapshot reads the state, and before it publishes, an unlock (or
a vote's resolution) commits with its events. The snapshot must still come *before* those
events, describing the state they replaced, never after them describing a closed target or a
replaced vote. PostgreSQL only: under SQLite every transaction holds the one write lock from
its start, so the race cannot happen there.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
from django.db import connection

from progression import events, tasks_on_commit
from progression.models import UnlockProgress, VoteSession
from progression.services import unlocks, voting
from progression.services.engagement import EngagementEvent, record_engagement
from realtime.models import OutboxEvent
from tests.progression.concurrency_helpers import build_chain, build_open_vote

pytestmark = [pytest.mark.real_services, pytest.mark.django_db(transaction=True)]

PATIENCE = 10.0


def in_thread(name: str, work: Callable[[], object]) -> tuple[threading.Thread, list]:
    outcome: list = []

    def run() -> None:
        try:
            outcome.append(work())
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            outcome.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    return thread, outcome


def waiting_on_a_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0] > 0


def until(predicate: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + PATIENCE
    while not predicate():
        assert time.monotonic() < deadline, f"not within {PATIENCE}s: {what}"
        time.sleep(0.02)


def pause_snapshot_after_its_read(
    monkeypatch, name: str
) -> tuple[threading.Event, threading.Event]:
    """The snapshot thread stops right after it has built its payload from the state it read."""
    read_done, release = threading.Event(), threading.Event()
    real = getattr(events, name)

    def paused(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        payload = real(*args, **kwargs)
        if threading.current_thread().name == "snapshot":
            read_done.set()
            release.wait(PATIENCE)
        return payload

    monkeypatch.setattr(events, name, paused)
    return read_done, release


def race(
    monkeypatch, payload_name: str, snapshot: Callable[[], object], change: Callable[[], object]
):
    """Runs the snapshot until it has read, then the change; lets the snapshot go on once the
    change has committed or is waiting on a lock (the snapshot's)."""
    read_done, release = pause_snapshot_after_its_read(monkeypatch, payload_name)
    snap, snap_outcome = in_thread("snapshot", snapshot)
    assert read_done.wait(PATIENCE), "the snapshot never read the state"
    changer, change_outcome = in_thread("change", change)
    until(lambda: not changer.is_alive() or waiting_on_a_lock(), "the change to commit or wait")
    release.set()
    snap.join(PATIENCE)
    changer.join(PATIENCE)
    assert not snap.is_alive() and not changer.is_alive()
    for outcome in (snap_outcome, change_outcome):
        assert not isinstance(outcome[0], BaseException), repr(outcome[0])


def stream_of(community) -> list[OutboxEvent]:
    return list(OutboxEvent.objects.filter(community=community).order_by("event_id"))


def test_a_progress_snapshot_never_follows_the_unlock_of_its_target(community, monkeypatch):
    chain = build_chain(community, first_cost=100, next_cost=1_000_000)
    monkeypatch.setattr(tasks_on_commit, "unlock_due", lambda progress_id: None)
    monkeypatch.setattr(tasks_on_commit, "snapshot_due", lambda community_id, kind: None)
    record_engagement(
        community, [EngagementEvent(index=0, platform_user_id="ann", metric="message", value=150)]
    )
    closing = chain.progress.pk

    race(
        monkeypatch,
        "progress_payload",
        lambda: unlocks.publish_progress_snapshot(community.pk),
        lambda: unlocks.unlock_target(closing),
    )

    rows = stream_of(community)
    types = [row.type for row in rows]
    assert events.NODE_UNLOCKED in types, types
    unlocked_at = types.index(events.NODE_UNLOCKED)
    late = [
        row.event_id
        for row in rows[unlocked_at:]
        if row.type == events.PROGRESS_UPDATED and row.data["progress_id"] == closing
    ]
    assert late == [], f"progress.updated of closed progress {closing} after its unlock: {types}"
    active = UnlockProgress.objects.get(community=community, status="active")
    last_progress = [r for r in rows if r.type in (events.PROGRESS_UPDATED, events.TARGET_SET)][-1]
    assert last_progress.data["progress_id"] == active.pk


def test_a_vote_snapshot_never_follows_the_resolution_of_its_vote(community, monkeypatch):
    build_open_vote(community, nodes=4)
    monkeypatch.setattr(tasks_on_commit, "snapshot_due", lambda community_id, kind: None)
    first = VoteSession.objects.get(community=community, status="open")
    voting.cast_vote(community, voter="viewer:ann", option=1)

    race(
        monkeypatch,
        "vote_payload",
        lambda: voting.publish_vote_snapshot(community.pk),
        lambda: voting.close_vote(community),
    )

    rows = stream_of(community)
    types = [row.type for row in rows]
    resolved_at = types.index(events.VOTE_RESOLVED)
    late = [
        row.event_id
        for row in rows[resolved_at:]
        if row.type == events.VOTE_CAST and row.data["session_id"] == first.pk
    ]
    assert late == [], f"vote.cast of resolved vote {first.pk} after its resolution: {types}"
    following = VoteSession.objects.get(community=community, status="open")
    last_vote = [r for r in rows if r.type.startswith("progression.vote.")][-1]
    assert last_vote.data["session_id"] == following.pk
