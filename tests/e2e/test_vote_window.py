"""Every vote gets a real chance (issue 7, point A2), with real processes: the Procfile's Celery
worker and beat (resolve_due_votes every 2 s) on the test database and Redis.

A target fills while the vote for its successor has just opened: the unlock runs at once, the
successor waits for the vote, points are banked for it, and beat resolves the vote only once it
has run for the community's window; the winner starts with every banked point.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from progression.integrity import check_integrity
from progression.models import Node, ProgressionSettings, Unlock, UnlockProgress, VoteSession
from progression.services.engagement import EngagementEvent, record_engagement
from progression.services.state import active_state, season_total
from tests.e2e.processes import Launcher
from tests.e2e.worker_helpers import start_worker, wait_until
from tests.factories import CommunityFactory

WINDOW = 8  # seconds: the unlock (well under a second) comes long before its end


def active(community) -> UnlockProgress:  # noqa: ANN001
    return UnlockProgress.objects.get(community=community, status=UnlockProgress.Status.ACTIVE)


def open_vote(community) -> VoteSession | None:  # noqa: ANN001
    return VoteSession.objects.filter(community=community, status__in=["open", "frozen"]).first()


def earn(community, points: int, tag: str) -> None:  # noqa: ANN001
    event = EngagementEvent(0, "ann", "message", points, message_id=f"window-{tag}")
    record_engagement(community, [event])


@pytest.mark.real_services
@pytest.mark.django_db(transaction=True)
def test_beat_resolves_a_waiting_vote_only_after_its_window_and_the_winner_takes_the_bank(
    processes: Launcher, tmp_path: Path
) -> None:
    community = CommunityFactory()
    ProgressionSettings.objects.create(community=community, vote_window_seconds=WINDOW)
    for key in ("alpha", "bravo", "charlie", "delta"):
        Node.objects.create(community=community, key=key, name=key.title(), cost_override=100)
    start_worker(processes)
    processes.script(
        "celery", "-A", "config", "beat", "--loglevel=INFO", "--schedule", str(tmp_path / "beat")
    )
    active_state(community)  # the season opens: a vote decides the first target
    first_vote = open_vote(community)
    assert first_vote.deadline == first_vote.started_at + timedelta(seconds=WINDOW)

    wait_until(lambda: active(community).node_id is not None, 30, "beat to resolve the first vote")
    following = wait_until(lambda: open_vote(community), 10, "the vote for what comes next")
    target = active(community)

    earn(community, 150, "fill")  # fills the target while the vote is young
    wait_until(
        lambda: Unlock.objects.filter(community=community, node_id=target.node_id).exists(),
        30,
        "the worker to unlock the full target",
    )
    waiting = active(community)
    following.refresh_from_db()
    assert following.status == VoteSession.Status.OPEN
    assert waiting.node_id is None  # waiting for the vote
    assert following.deadline == following.started_at + timedelta(seconds=WINDOW)
    earn(community, 30, "banked")  # banked for the winner, in full

    wait_until(
        lambda: VoteSession.objects.get(pk=following.pk).status == VoteSession.Status.RESOLVED,
        30,
        "beat to resolve the waiting vote",
    )
    following.refresh_from_db()
    assert following.resolved_at - following.started_at >= timedelta(seconds=WINDOW)
    assert following.resolved_by == "deadline"
    first_vote.refresh_from_db()
    assert first_vote.resolved_at - first_vote.started_at >= timedelta(seconds=WINDOW)
    successor = wait_until(
        lambda: active(community).node_id is not None and active(community), 10, "the winner"
    )
    assert successor.node_id == following.winner.node_id
    assert season_total(successor.season_id) - successor.offset == 80  # 50 rolled + 30 banked
    closed = UnlockProgress.objects.get(pk=target.pk)
    assert (closed.spent, closed.discarded) == (100, 0)
    assert check_integrity(community) == []
