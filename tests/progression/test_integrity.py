"""check_integrity keeps the books: it passes after every scenario and reports tampering. And one
story through a whole season proves every event type in progression/events.py is emitted."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command
from django.db import transaction
from django.db.models import F

from progression import events
from progression.integrity import check_integrity
from progression.models import Contribution, PointsShard, UnlockProgress, Viewer
from progression.services import admin_actions, tree, voting
from progression.services.state import active_state
from realtime.models import OutboxEvent
from tests.factories import CommunityFactory, NodeFactory, PrerequisiteFactory

# Real commits: after-commit work (the unlock task, run eagerly) happens as in production, and
# check_integrity can open its own repeatable-read transaction.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("_eager_tasks")]

NODE = {"key", "name", "level", "tier"}
PROGRESS = {"progress_id", "state", "target", "accumulated", "cost", "percent", "up_next"}
VOTE = {"session_id", "status", "deadline", "frozen_remaining_seconds", "options", "total_votes"}
PAYLOAD_KEYS = {  # the keys docs/events.md promises for each type (at least these)
    events.PROGRESS_UPDATED: PROGRESS,
    events.TARGET_SET: PROGRESS | {"auto_selected", "source", "rollover"},
    events.TARGET_WAITING: PROGRESS | {"vote"},
    events.NODE_UNLOCKED: {"node", "reason", "spent"},
    events.NODE_RELOCKED: {"node", "cascade", "by"},
    events.CYCLE_COMPLETED: {"progress_id", "target", "spent", "contributors", "top"},
    events.TREE_COMPLETED: {"season_id"},
    events.TREE_CHANGED: {"source", "created"},
    events.VOTE_STARTED: VOTE,
    events.VOTE_CAST: VOTE,
    events.VOTE_RESOLVED: VOTE | {"winner", "resolution", "resolved_by"},
    events.VOTE_FROZEN: VOTE,
    events.VOTE_UNFROZEN: VOTE,
    events.VOTE_CANCELLED: VOTE,
    events.VOTE_UPDATED: VOTE | {"removed"},
    events.SEASON_RESET: {"season", "previous_season", "discarded", "by"},
}
ALL_TYPES = {
    value
    for name, value in vars(events).items()
    if name.isupper() and isinstance(value, str) and value.startswith("progression.")
}


@pytest.fixture
def played(earn, community):
    """A season with an unlock, a rollover, a capped discard and points in the active progress."""
    first = NodeFactory(community=community, key="first", cost_override=100)
    second = NodeFactory(community=community, key="second", tier=1, cost_override=1000)
    PrerequisiteFactory(node=second, required=first)
    earn(community, 80, viewer="ann")
    earn(community, 350, viewer="bob")  # 100 spent, 200 roll over, 130 discarded
    earn(community, 25, viewer="cid")
    return community


def breaches(community) -> list[str]:
    return check_integrity(community)


# --- the books balance, and tampering shows ---------------------------------------------------


def test_books_balance_after_unlocks_rollover_and_the_cap(played):
    assert breaches(played) == []
    closed = UnlockProgress.objects.get(community=played, status="closed")
    assert (closed.spent, closed.rolled_over, closed.discarded) == (100, 200, 130)


def test_a_community_with_no_activity_balances(community):
    assert breaches(community) == []


def test_points_added_to_a_shard_behind_the_ledgers_back_are_a_breach(played):
    shard = PointsShard.objects.filter(season__community=played).order_by("shard").first()
    PointsShard.objects.filter(pk=shard.pk).update(points=F("points") + 7)

    found = breaches(played)

    assert any("ledger 455" in b and "counter 462" in b for b in found), found


def test_a_viewer_total_that_disagrees_with_the_ledger_is_a_breach(played):
    Viewer.objects.filter(community=played, platform_user_id="ann").update(points_total=1)

    assert any("viewer totals" in b for b in breaches(played))


def test_ledger_rows_pointing_at_another_communitys_progress_are_a_breach(played):
    elsewhere = CommunityFactory()
    NodeFactory(community=elsewhere, key="x", cost_override=100)
    other_progress = active_state(elsewhere)
    Contribution.objects.filter(community=played, viewer__platform_user_id="cid").update(
        progress_id=other_progress.progress_id
    )

    found = breaches(played)

    assert found == ["1 ledger rows whose progress is missing or another community's"], found


def test_ledger_rows_pointing_at_a_missing_season_are_a_breach(played):
    Contribution.objects.filter(community=played, viewer__platform_user_id="ann").update(
        season_id=10_000_000
    )

    assert any("whose season is missing" in b for b in breaches(played))


def test_a_progress_that_starts_at_the_wrong_offset_is_a_breach(played):
    UnlockProgress.objects.filter(community=played, status="active").update(offset=F("offset") - 3)

    found = breaches(played)

    assert any("starts at" in b for b in found), found


def test_a_closed_progress_whose_points_do_not_add_up_is_a_breach(played):
    UnlockProgress.objects.filter(community=played, status="closed").update(discarded=0)

    assert breaches(played)


def test_check_integrity_command_fails_with_every_breach_listed(played, capsys):
    call_command("check_integrity", played.slug)
    assert "integrity OK" in capsys.readouterr().out

    PointsShard.objects.filter(season__community=played, shard=3).update(points=F("points") + 1)
    with pytest.raises(CommandError):
        call_command("check_integrity", played.slug)
    assert "BREACH" in capsys.readouterr().err


def test_check_integrity_command_refuses_an_unknown_community(db):
    with pytest.raises(CommandError):
        call_command("check_integrity", "no-such-community")


# --- one season's story emits every event type ------------------------------------------------------


def _add_node(community, key: str) -> None:
    """As the build_tree job adds a node to a tree (in its own transaction)."""
    with transaction.atomic():
        specs = tree.validate_additions(
            community, [{"key": key, "name": key.upper(), "tier": 0, "size": "small"}]
        )
        tree.add_nodes(community, specs, source="build_tree")


def test_a_season_story_emits_every_progression_event_with_its_payload(earn, community):
    """root -> {a, b, c, d}: unlock root, vote, freeze, resolve, drop options, relock, complete,
    reset."""
    root = NodeFactory(community=community, key="root", cost_override=100)
    for key in ("a", "b", "c", "d"):
        PrerequisiteFactory(
            node=NodeFactory(community=community, key=key, tier=1, cost_override=100), required=root
        )
    steps = [
        lambda: earn(community, 40),  # root auto-selected; progress updates
        lambda: earn(community, 70),  # root unlocks; a vote on a, b, c, d opens
        lambda: voting.cast_vote(community, voter="viewer:ann", option="a"),
        lambda: voting.freeze_vote(community),
        lambda: voting.unfreeze_vote(community),
        lambda: voting.close_vote(community),  # a is the target; vote on b, c, d
        lambda: admin_actions.force_unlock(community, "b", by="test"),  # b leaves the vote
        lambda: admin_actions.force_unlock(community, "c", by="test"),  # d alone: cancelled
        lambda: earn(community, 100),  # a unlocks; d is the lone candidate
        lambda: admin_actions.relock(community, "b", cascade=False, by="test"),
        lambda: admin_actions.force_unlock(community, "b", by="test"),
        lambda: earn(community, 100),  # d unlocks: nothing left
        lambda: _add_node(community, "e"),  # the tree changed: e is the target
        lambda: admin_actions.reset_season(community, by="test"),
    ]
    for number, step in enumerate(steps):
        step()
        assert breaches(community) == [], f"after step {number}"

    rows = list(OutboxEvent.objects.filter(community=community).order_by("event_id"))
    emitted = {row.type for row in rows}
    assert ALL_TYPES - emitted == set()
    assert {row.topic for row in rows} == {events.TOPIC}
    for row in rows:
        assert PAYLOAD_KEYS[row.type] <= set(row.data), (row.type, row.data)
    for row in rows:
        for key in ("node", "target", "winner"):
            if isinstance(row.data.get(key), dict):
                assert set(row.data[key]) == NODE
    assert [row.event_id for row in rows] == list(range(1, len(rows) + 1))


def test_the_catalogue_covers_every_event_type():
    assert set(PAYLOAD_KEYS) == ALL_TYPES
