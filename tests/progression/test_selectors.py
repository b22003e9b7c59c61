"""Reads: status, the tree with each node's state, leaderboards, a viewer's contributions and the
unlocked effects."""

from __future__ import annotations

import pytest

from progression import selectors
from progression.services import admin_actions, voting
from progression.services.state import active_state
from tests.factories import NodeFactory, PrerequisiteFactory

# Real commits: after-commit work (the unlock task, run eagerly) happens as in production, and
# check_integrity can open its own repeatable-read transaction.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("_eager_tasks")]


# --- status ----------------------------------------------------------------------------------------


def test_status_of_a_community_with_no_activity_yet_is_empty(community):
    assert selectors.progression_status(community) == {
        "season_id": None,
        "progress": None,
        "vote": None,
        "last_unlock": None,
    }


def test_status_shows_target_accumulated_cost_and_percent(earn, community, chain):
    earn(community, 42)

    status = selectors.progression_status(community)

    progress = status["progress"]
    assert progress["target"] == {"key": "first", "name": chain[0].name, "level": 1, "tier": 0}
    assert (progress["accumulated"], progress["cost"], progress["percent"]) == (42, 100, 42.0)
    assert progress["up_next"] is None
    assert status["vote"] is None
    assert status["last_unlock"] is None


def test_status_shows_the_last_unlock(earn, community, chain):
    earn(community, 130)

    status = selectors.progression_status(community)

    assert status["last_unlock"]["node"]["key"] == "first"
    assert status["last_unlock"]["reason"] == "points"
    assert status["progress"]["target"]["key"] == "second"
    assert status["progress"]["accumulated"] == 30


def test_status_shows_the_open_vote_with_counts_deadline_and_up_next(community):
    for key in ("a", "b", "c"):
        NodeFactory(community=community, key=key, cost_override=100)
    active_state(community)
    voting.cast_vote(community, voter="viewer:ann", option="a")
    voting.close_vote(community)  # a is the target; a vote on b or c opens
    voting.cast_vote(community, voter="viewer:ann", option="c")
    voting.cast_vote(community, voter="viewer:bob", option="c")

    status = selectors.progression_status(community)
    vote = status["vote"]
    assert [(o["key"], o["votes"]) for o in vote["options"]] == [("b", 0), ("c", 2)]
    assert vote["total_votes"] == 2
    assert vote["status"] == "open"
    assert vote["deadline"] is None  # a vote while the target fills has no default deadline

    voting.close_vote(community)
    status = selectors.progression_status(community)
    assert status["vote"] is None
    assert status["progress"]["up_next"]["key"] == "c"


# --- the tree --------------------------------------------------------------------------------------


def test_tree_shows_every_node_as_target_available_locked_unlocked_or_maxed(earn, community):
    root = NodeFactory(community=community, key="root", cost_override=100)
    multi = NodeFactory(community=community, key="multi", tier=1, max_level=3, cost_override=40)
    mid = NodeFactory(community=community, key="mid", tier=1, cost_override=500)
    orphan = NodeFactory(community=community, key="orphan", tier=2, max_level=2)
    top = NodeFactory(community=community, key="top", tier=2)
    for node, required in ((multi, root), (mid, root), (orphan, mid), (top, mid)):
        PrerequisiteFactory(node=node, required=required)
    earn(community, 100)  # root unlocked: a vote between multi and mid
    voting.cast_vote(community, voter="viewer:ann", option="mid")
    voting.close_vote(community)
    admin_actions.force_unlock(community, "multi", by="test")
    admin_actions.force_unlock(  # mid not yet there
        community, "orphan", by="test", ignore_prerequisites=True
    )

    nodes = {n["key"]: n for n in selectors.tree_with_state(community)}

    assert {k: (n["state"], n["level"]) for k, n in nodes.items()} == {
        "root": ("maxed", 1),
        "multi": ("available", 1),
        "mid": ("target", 0),
        "orphan": ("unlocked", 1),
        "top": ("locked", 0),
    }
    assert nodes["multi"]["next_cost"] == 60
    assert nodes["root"]["next_cost"] is None
    assert nodes["top"]["prerequisites"] == [{"key": "mid", "level": 1}]
    assert list(nodes) == ["root", "mid", "multi", "orphan", "top"]  # tier, then key


def test_tree_of_a_community_with_no_season_yet_is_empty(community, chain):
    assert selectors.tree_with_state(community) == []


# --- leaderboards ----------------------------------------------------------------------------------


def board(community, scope: str) -> list[tuple[str, int]]:
    return [(e["platform_user_id"], e["points"]) for e in selectors.leaderboard(community, scope)]


def test_leaderboards_for_this_cycle_the_season_and_all_time(earn, community, chain):
    earn(community, 70, viewer="ann", name="Ann")
    earn(community, 20, viewer="bob")
    assert board(community, "cycle") == [("ann", 70), ("bob", 20)]

    earn(community, 40, viewer="bob")  # crosses: a new cycle starts
    earn(community, 5, viewer="cid")

    assert board(community, "cycle") == [("cid", 5)]
    assert board(community, "season") == [("ann", 70), ("bob", 60), ("cid", 5)]
    assert board(community, "all_time") == [("ann", 70), ("bob", 60), ("cid", 5)]
    top = selectors.leaderboard(community, "season")[0]
    assert (top["display_name"], top["events"]) == ("Ann", 1)

    admin_actions.reset_season(community, by="test")

    assert board(community, "cycle") == []
    assert board(community, "season") == []
    assert board(community, "all_time") == [("ann", 70), ("bob", 60), ("cid", 5)]


def test_leaderboard_limit_keeps_the_top(earn, community, chain):
    for i, points in enumerate((5, 9, 7)):
        earn(community, points, viewer=f"v{i}")

    assert [e["points"] for e in selectors.leaderboard(community, "season", limit=2)] == [9, 7]


# --- a viewer's contributions ---------------------------------------------------------------------


def test_viewer_sees_their_own_totals_and_recent_contributions(earn, community, chain):
    earn(community, 30, viewer="ann", name="Ann")
    earn(community, 12, viewer="ann")
    earn(community, 99, viewer="bob")

    mine = selectors.viewer_contributions(community, "ann")

    assert (mine["display_name"], mine["points_total"], mine["events_total"]) == ("Ann", 42, 2)
    assert mine["season_points"] == 42
    assert [c["points"] for c in mine["recent"]] == [12, 30]  # newest first
    assert {c["metric"] for c in mine["recent"]} == {"message"}

    admin_actions.reset_season(community, by="test")
    after = selectors.viewer_contributions(community, "ann")
    assert (after["points_total"], after["season_points"]) == (42, 0)


def test_unknown_viewer_has_no_contributions(community):
    assert selectors.viewer_contributions(community, "ghost") is None


# --- effects ---------------------------------------------------------------------------------------


def test_effects_list_only_unlocked_nodes_that_have_effects(earn, community):
    emote = [{"type": "emote", "value": "Kappa"}]
    first = NodeFactory(community=community, key="first", cost_override=100, effects=emote)
    plain = NodeFactory(community=community, key="plain", tier=1, cost_override=10)
    locked = NodeFactory(
        community=community, key="locked", tier=2, effects=[{"type": "sound", "value": "airhorn"}]
    )
    PrerequisiteFactory(node=plain, required=first)
    PrerequisiteFactory(node=locked, required=plain, min_level=2)  # plain has one level: never
    earn(community, 110)  # first, then plain

    assert selectors.unlocked_effects(community) == [
        {"node": "first", "level": 1, "effects": emote}
    ]
