"""Unlocks: exactly once per (node, level), rollover and its cap, zero-cost targets, a complete
tree, availability rules, multi-level nodes and the events each of these emits."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from django.db import transaction

from progression import events, tasks_on_commit
from progression.integrity import check_integrity
from progression.models import Node, Unlock, UnlockProgress, default_cost
from progression.services.admin_actions import force_unlock
from progression.services.engagement import EngagementEvent, record_engagement
from progression.services.reconcile import crossed_progress_ids, enqueue_crossed
from progression.services.state import active_state, season_total
from progression.services.unlocks import ensure_target, on_tree_changed, unlock_target
from progression.tree_state import available_options, cost_for_level
from realtime.models import OutboxEvent
from tests.factories import NodeFactory, PrerequisiteFactory, ProgressionSettingsFactory

# Real commits: after-commit work (the unlock task, run eagerly) happens as in production, and
# check_integrity can open its own repeatable-read transaction.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("_eager_tasks")]

UNLOCKED_KEYS = {
    "node",
    "unlock_id",
    "reason",
    "spent",
    "progress_id",
    "rolled_over",
    "discarded",
    "effects",
}
PROGRESS_KEYS = {"progress_id", "state", "target", "accumulated", "cost", "percent", "up_next"}
TARGET_SET_KEYS = PROGRESS_KEYS | {"auto_selected", "source", "rollover"}


@pytest.fixture
def unlock_tasks_lost(monkeypatch):
    """The unlock tasks the crossings enqueue never arrive (a lost message, a dead worker) until
    `.end()` lets later ones through again."""
    real = tasks_on_commit.unlock_due
    monkeypatch.setattr(tasks_on_commit, "unlock_due", lambda progress_id: None)
    return SimpleNamespace(end=lambda: monkeypatch.setattr(tasks_on_commit, "unlock_due", real))


def credit(community, value: int) -> None:
    record_engagement(
        community, [EngagementEvent(index=0, platform_user_id="ann", metric="message", value=value)]
    )


def chain(community, *costs: int) -> list[Node]:
    """Nodes n0 -> n1 -> ... each requiring the previous: one candidate at a time."""
    nodes: list[Node] = []
    for i, cost in enumerate(costs):
        node = NodeFactory(community=community, key=f"n{i}", tier=i, cost_override=cost)
        if nodes:
            PrerequisiteFactory(node=node, required=nodes[-1])
        nodes.append(node)
    return nodes


def active(community) -> UnlockProgress:
    return UnlockProgress.objects.select_related("node").get(
        community=community, status=UnlockProgress.Status.ACTIVE
    )


def accumulated(community) -> int:
    state = active_state(community)
    return season_total(state.season_id) - state.offset


def published(community, type_: str) -> list[dict]:
    rows = OutboxEvent.objects.filter(community=community, type=type_).order_by("event_id")
    assert all(row.topic == events.TOPIC for row in rows)
    return [row.data for row in rows]


def assert_books_balance(community) -> None:
    assert check_integrity(community) == []


# --- exactly once, rollover, cap ---------------------------------------------------------------


def test_crossing_the_threshold_unlocks_exactly_once_and_rolls_the_excess_over(earn, community):
    first, second, _ = chain(community, 100, 1000, 1000)
    earn(community, 60)
    old = active(community)
    assert old.node == first

    earn(community, 70)

    unlock = Unlock.objects.get(community=community)
    assert (unlock.node, unlock.level, unlock.reason) == (first, 1, Unlock.Reason.POINTS)
    old.refresh_from_db()
    assert old.status == UnlockProgress.Status.CLOSED
    assert (old.accumulated_at_close, old.spent, old.rolled_over, old.discarded) == (
        130,
        100,
        30,
        0,
    )
    assert unlock.progress == old
    now = active(community)
    assert now.node == second
    assert accumulated(community) == 30
    assert_books_balance(community)


def test_a_redelivered_or_concurrent_unlock_task_does_nothing(earn, community):
    first, _ = chain(community, 100, 1000)
    earn(community, 150)
    closed = UnlockProgress.objects.get(community=community, node=first)

    assert unlock_target(closed.pk) is False
    assert unlock_target(active(community).pk) is False  # not full yet

    assert Unlock.objects.filter(community=community).count() == 1
    assert accumulated(community) == 50
    assert_books_balance(community)


def test_many_small_crossings_before_the_task_runs_still_unlock_once(community, unlock_tasks_lost):
    first, _ = chain(community, 100, 1000)
    active_state(community)
    progress = active(community)
    for _ in range(12):  # every batch from the tenth on sees the crossing; no task ran yet
        credit(community, 10)
    unlock_tasks_lost.end()

    results = [unlock_target(progress.pk) for _ in range(3)]

    assert results == [True, False, False]
    assert Unlock.objects.filter(community=community, node=first).count() == 1
    assert accumulated(community) == 20
    assert_books_balance(community)


def test_points_credited_before_the_unlock_runs_are_carried_to_the_next_target(
    community, unlock_tasks_lost
):
    chain(community, 100, 1000)
    active_state(community)
    progress = active(community)
    for value in (90, 15, 40):  # crosses at 105; 40 more arrive before the task runs
        credit(community, value)
    unlock_tasks_lost.end()

    unlock_target(progress.pk)

    progress.refresh_from_db()
    assert (progress.spent, progress.rolled_over) == (100, 45)
    assert accumulated(community) == 45
    assert_books_balance(community)


def test_rollover_is_capped_at_200_and_the_cap_records_what_it_discards(earn, community):
    first, _ = chain(community, 100, 1000)

    earn(community, 450)

    closed = UnlockProgress.objects.get(community=community, node=first)
    assert (closed.spent, closed.rolled_over, closed.discarded) == (100, 200, 150)
    assert accumulated(community) == 200
    (payload,) = published(community, events.NODE_UNLOCKED)
    assert set(payload) == UNLOCKED_KEYS
    assert payload["reason"] == "points"
    assert (payload["spent"], payload["rolled_over"], payload["discarded"]) == (100, 200, 150)
    assert payload["node"] == {"key": "n0", "name": first.name, "level": 1, "tier": 0}
    assert payload["unlock_id"] == Unlock.objects.get(progress=closed).pk  # as GET …/unlocks
    assert_books_balance(community)


def test_rollover_cap_is_settable_per_community(earn, community):
    ProgressionSettingsFactory(community=community, rollover_cap=25)
    first, _ = chain(community, 100, 1000)

    earn(community, 180)

    closed = UnlockProgress.objects.get(community=community, node=first)
    assert (closed.rolled_over, closed.discarded) == (25, 55)
    assert accumulated(community) == 25
    assert_books_balance(community)


def test_excess_large_enough_for_the_next_target_unlocks_that_too(earn, community):
    n0, n1, n2 = chain(community, 100, 50, 1000)

    earn(community, 260)  # 100 for n0, 160 over: cap keeps 200 -> 160, n1 takes 50, 110 left

    assert set(Unlock.objects.filter(community=community).values_list("node__key", flat=True)) == {
        "n0",
        "n1",
    }
    assert active(community).node == n2
    assert accumulated(community) == 110
    assert_books_balance(community)


def test_unlock_emits_node_unlocked_cycle_completed_and_target_set(earn, community):
    first, second = chain(community, 100, 1000)
    first.effects = [{"type": "emote", "value": "PogChamp"}]
    first.save()
    earn(community, 70, viewer="ann")
    earn(community, 50, viewer="bob")

    (unlocked,) = published(community, events.NODE_UNLOCKED)
    assert unlocked["effects"] == [{"type": "emote", "value": "PogChamp"}]
    (cycle,) = published(community, events.CYCLE_COMPLETED)
    assert set(cycle) == {"progress_id", "target", "spent", "contributors", "top"}
    assert cycle["target"]["key"] == "n0"
    assert cycle["spent"] == 100
    assert cycle["contributors"] == 2
    assert [(row["platform_user_id"], row["points"]) for row in cycle["top"]] == [
        ("ann", 70),
        ("bob", 50),
    ]
    target_sets = published(community, events.TARGET_SET)
    assert [t["target"]["key"] for t in target_sets] == ["n0", "n1"]
    assert all(set(t) == TARGET_SET_KEYS for t in target_sets)
    assert target_sets[-1]["rollover"] == 20
    assert target_sets[-1]["accumulated"] == 20
    assert target_sets[-1]["cost"] == 1000


def test_progress_updates_are_published_when_points_arrive(earn, community):
    chain(community, 1000)

    earn(community, 42)

    updates = published(community, events.PROGRESS_UPDATED)
    assert updates, "a credit publishes a (coalesced) progress update"
    assert set(updates[-1]) == PROGRESS_KEYS
    assert updates[-1]["accumulated"] == 42
    assert updates[-1]["percent"] == 4.2
    row = OutboxEvent.objects.filter(community=community, type=events.PROGRESS_UPDATED).last()
    assert row.coalesce_key == "progress"


# --- zero cost, tree complete, new nodes -------------------------------------------------------


def test_zero_cost_target_unlocks_at_once(community):
    free, paid = chain(community, 0, 100)

    active_state(community)

    unlock = Unlock.objects.get(community=community, node=free)
    assert unlock.reason == Unlock.Reason.POINTS
    assert active(community).node == paid
    assert accumulated(community) == 0
    assert_books_balance(community)


def test_tree_is_complete_when_nothing_is_available_and_points_keep_accumulating(earn, community):
    (only,) = chain(community, 100)

    earn(community, 130)
    earn(community, 40)

    progress = active(community)
    assert progress.node is None and progress.cost is None
    assert accumulated(community) == 30 + 40
    (done,) = published(community, events.TREE_COMPLETED)
    assert done == {"season_id": progress.season_id}
    assert_books_balance(community)


def test_points_saved_on_a_complete_tree_are_spent_when_new_nodes_arrive(earn, community):
    (only,) = chain(community, 100)
    earn(community, 100)
    earn(community, 70)  # nothing to spend it on yet

    added = NodeFactory(community=community, key="added", cost_override=50)
    with transaction.atomic():  # as a tree load calls it: inside its transaction
        on_tree_changed(community)

    unlock = Unlock.objects.get(community=community, node=added)
    assert unlock.reason == Unlock.Reason.POINTS
    assert accumulated(community) == 20
    assert len(published(community, events.TREE_COMPLETED)) == 2  # complete again
    set_events = [
        t for t in published(community, events.TARGET_SET) if t["target"]["key"] == "added"
    ]
    assert set_events and set_events[0]["auto_selected"] is True
    assert_books_balance(community)


def test_ensure_target_gives_a_targetless_progress_its_target(earn, community):
    chain(community, 100)
    earn(community, 100)  # tree complete
    NodeFactory(community=community, key="later", cost_override=1000)

    ensure_target(community.pk)

    assert active(community).node.key == "later"


# --- availability: prerequisites, count rules, levels ------------------------------------------


def option_keys(community) -> list[tuple[str, int]]:
    state = active_state(community)
    return [
        (node.key, level)
        for node, level in available_options(community.pk, state.season_id, exclude=set())
    ]


def test_prerequisites_at_a_minimum_level_decide_availability(community):
    base = NodeFactory(community=community, key="base", max_level=2, cost_override=10_000)
    needs_one = NodeFactory(community=community, key="needs_one", tier=1)
    needs_two = NodeFactory(community=community, key="needs_two", tier=1)
    needs_both = NodeFactory(community=community, key="needs_both", tier=2)
    PrerequisiteFactory(node=needs_one, required=base, min_level=1)
    PrerequisiteFactory(node=needs_two, required=base, min_level=2)
    PrerequisiteFactory(node=needs_both, required=needs_one)
    PrerequisiteFactory(node=needs_both, required=needs_two)
    active_state(community)
    assert option_keys(community) == [("base", 1)]

    force_unlock(community, "base", by="test")
    assert option_keys(community) == [("base", 2), ("needs_one", 1)]

    force_unlock(community, "base", by="test")
    assert option_keys(community) == [("needs_one", 1), ("needs_two", 1)]

    force_unlock(community, "needs_one", by="test")
    assert option_keys(community) == [("needs_two", 1)]

    force_unlock(community, "needs_two", by="test")
    assert option_keys(community) == [("needs_both", 1)]


def test_count_rules_decide_availability(community):
    for key in ("a", "b"):
        NodeFactory(community=community, key=key, tier=0, cost_override=10_000)
    NodeFactory(community=community, key="c", tier=1, cost_override=10_000)
    NodeFactory(
        community=community, key="two_low", tier=2, count_rules=["nodes_unlocked_below_tier:1:2"]
    )
    NodeFactory(
        community=community, key="three_any", tier=2, count_rules=["total_nodes_unlocked:3"]
    )
    active_state(community)
    assert {k for k, _ in option_keys(community)} == {"a", "b", "c"}

    force_unlock(community, "c", by="test")  # tier 1 does not count below tier 1
    force_unlock(community, "a", by="test")
    assert {k for k, _ in option_keys(community)} == {"b"}

    force_unlock(community, "b", by="test")
    assert {k for k, _ in option_keys(community)} == {"two_low", "three_any"}


def test_default_cost_grows_half_again_per_tier_from_the_size_base():
    assert default_cost("small", 0) == 50
    assert default_cost("medium", 0) == 200
    assert default_cost("large", 0) == 800
    assert default_cost("small", 1) == 75
    assert default_cost("medium", 2) == 450
    assert Node(size="large", tier=3).cost == 2700
    assert Node(size="large", tier=3, cost_override=7).cost == 7


def test_each_further_level_costs_half_as_much_again():
    node = Node(size="small", tier=0, cost_override=100)

    assert [cost_for_level(node, level) for level in (1, 2, 3, 4)] == [100, 150, 225, 338]


def test_multi_level_node_is_targeted_level_by_level_until_maxed(earn, community):
    NodeFactory(community=community, key="hype", max_level=3, cost_override=100)

    earn(community, 100)
    assert (active(community).level, active(community).cost) == (2, 150)
    earn(community, 150)
    assert (active(community).level, active(community).cost) == (3, 225)
    earn(community, 225)

    levels = sorted(Unlock.objects.filter(community=community).values_list("level", flat=True))
    assert levels == [1, 2, 3]
    assert active(community).node is None  # maxed: the tree is complete
    assert published(community, events.TREE_COMPLETED)
    assert_books_balance(community)


def test_auto_unlock_node_unlocks_without_points_once_its_requirements_are_met(earn, community):
    first, second = chain(community, 100, 1000)
    bonus = NodeFactory(community=community, key="bonus", tier=1, auto_unlock=True)
    PrerequisiteFactory(node=bonus, required=first)

    earn(community, 100)

    unlock = Unlock.objects.get(community=community, node=bonus)
    assert unlock.reason == Unlock.Reason.AUTO
    assert unlock.progress is None
    auto = [e for e in published(community, events.NODE_UNLOCKED) if e["reason"] == "auto"]
    assert auto == [
        {
            "node": {"key": "bonus", "name": bonus.name, "level": 1, "tier": 1},
            "unlock_id": unlock.pk,
            "reason": "auto",
            "spent": 0,
        }
    ]
    assert active(community).node == second
    assert_books_balance(community)


# --- reconciliation after a lost task ----------------------------------------------------------


def test_a_crossed_threshold_without_an_unlock_is_found_and_unlocked_by_reconcile(
    community, unlock_tasks_lost
):
    first, _ = chain(community, 100, 1000)
    active_state(community)
    progress = active(community)
    credit(community, 120)
    assert progress.pk in crossed_progress_ids()
    unlock_tasks_lost.end()  # a restarted worker's tasks arrive again

    assert enqueue_crossed() >= 1

    assert Unlock.objects.filter(community=community, node=first).count() == 1
    assert progress.pk not in crossed_progress_ids()
    assert accumulated(community) == 20
    assert_books_balance(community)


# --- points after the crossing are not overflow (issue 7, A1) ------------------------------


def test_points_credited_after_the_crossing_go_to_the_next_target_in_full(
    community, unlock_tasks_lost
):
    ProgressionSettingsFactory(community=community, rollover_cap=25)
    chain(community, 100, 100_000)
    active_state(community)
    progress = active(community)
    credit(community, 90)
    credit(community, 30)  # fills it: 20 over, under the cap
    for _ in range(5):  # a raid while the worker is away: 5,000 more
        credit(community, 1_000)
    unlock_tasks_lost.end()

    assert unlock_target(progress.pk) is True

    progress.refresh_from_db()
    assert progress.crossed_at_total == 120
    assert (progress.spent, progress.discarded, progress.rolled_over) == (100, 0, 5_020)
    assert accumulated(community) == 5_020
    assert_books_balance(community)


def test_only_the_overshoot_of_the_write_that_filled_the_target_meets_the_cap(
    community, unlock_tasks_lost
):
    ProgressionSettingsFactory(community=community, rollover_cap=25)
    chain(community, 100, 100_000)
    active_state(community)
    progress = active(community)
    credit(community, 90)
    credit(community, 300)  # fills it 290 over: 25 kept, 265 discarded
    credit(community, 400)  # after the crossing: all of it carries
    unlock_tasks_lost.end()

    unlock_target(progress.pk)

    progress.refresh_from_db()
    assert progress.crossed_at_total == 390
    assert (progress.spent, progress.discarded, progress.rolled_over) == (100, 265, 425)
    assert accumulated(community) == 425
    (payload,) = published(community, events.NODE_UNLOCKED)
    assert (payload["rolled_over"], payload["discarded"]) == (425, 265)
    assert_books_balance(community)


def test_the_crossing_line_is_written_once_by_the_filling_write_and_never_again(
    community, unlock_tasks_lost
):
    chain(community, 100, 100_000)
    active_state(community)
    progress = active(community)
    credit(community, 60)
    progress.refresh_from_db()
    assert progress.crossed_at_total is None  # not full yet
    credit(community, 70)
    credit(community, 500)

    progress.refresh_from_db()
    assert progress.crossed_at_total == 130


def test_without_a_recorded_crossing_the_unlock_draws_the_line_where_it_reads(
    community, unlock_tasks_lost
):
    """No write saw the target full (two writes filling it together, each unseen by the other):
    the unlock's own reading is the line, as the cap always was."""
    ProgressionSettingsFactory(community=community, rollover_cap=25)
    chain(community, 100, 100_000)
    active_state(community)
    progress = active(community)
    credit(community, 180)
    UnlockProgress.objects.filter(pk=progress.pk).update(crossed_at_total=None)
    unlock_tasks_lost.end()

    unlock_target(progress.pk)

    progress.refresh_from_db()
    assert progress.crossed_at_total == 180
    assert (progress.discarded, progress.rolled_over) == (55, 25)
    assert_books_balance(community)


def test_banked_points_that_fill_a_new_target_carry_on_in_full(earn, community):
    """A target set with more than its cost already there was filled by no write: nothing of
    the banked points is overshoot, so the cap cuts none of them."""
    ProgressionSettingsFactory(community=community, rollover_cap=10)
    chain(community, 100)
    earn(community, 100)
    earn(community, 500)  # the tree is complete: banked

    added = NodeFactory(community=community, key="added", cost_override=50)
    with transaction.atomic():  # as a tree load calls it: inside its transaction
        on_tree_changed(community)

    closed = UnlockProgress.objects.get(community=community, node=added)
    assert closed.crossed_at_total == closed.offset + 50
    assert (closed.spent, closed.discarded, closed.rolled_over) == (50, 0, 450)
    assert accumulated(community) == 450
    (target_set,) = [
        t for t in published(community, events.TARGET_SET) if t["target"]["key"] == "added"
    ]
    assert target_set["rollover"] == 500  # it started with everything banked
    assert_books_balance(community)


def test_integrity_flags_a_cap_that_cut_points_credited_after_the_crossing(earn, community):
    ProgressionSettingsFactory(community=community, rollover_cap=10)
    chain(community, 100, 100_000)
    earn(community, 150)
    closed = UnlockProgress.objects.get(community=community, status=UnlockProgress.Status.CLOSED)
    assert closed.discarded == 40
    UnlockProgress.objects.filter(pk=closed.pk).update(crossed_at_total=closed.offset + 120)

    assert check_integrity(community) == [
        f"season 1: progress {closed.pk} discarded 40 with a crossing overshoot of 20"
    ]
