"""The tree's rules (pure): availability, relock dependents and the contribution multiplier."""

from __future__ import annotations

from decimal import Decimal

import pytest

from progression.rules import (
    CountRule,
    NodeRule,
    available_options,
    contribution_multiplier,
    dependents_of,
    parse_count_rule,
)


def node(key, tier=0, max_level=1, prerequisites=(), count_rules=()):
    return NodeRule(
        key=key,
        tier=tier,
        max_level=max_level,
        prerequisites=tuple(prerequisites),
        count_rules=tuple(count_rules),
    )


def keys(options):
    return [key for key, _ in options]


# available_options ---------------------------------------------------------------------------


def test_node_without_prerequisites_is_offered_at_level_one():
    assert available_options([node("a")], {}) == [("a", 1)]


def test_node_is_offered_only_once_its_prerequisite_reaches_the_minimum_level():
    nodes = [node("base", max_level=3), node("top", prerequisites=[("base", 2)])]

    assert "top" not in keys(available_options(nodes, {"base": 1}))
    assert ("top", 1) in available_options(nodes, {"base": 2})
    assert ("top", 1) in available_options(nodes, {"base": 3})


def test_every_prerequisite_is_required():
    nodes = [node("a"), node("b"), node("both", prerequisites=[("a", 1), ("b", 1)])]

    assert "both" not in keys(available_options(nodes, {"a": 1}))
    assert "both" in keys(available_options(nodes, {"a": 1, "b": 1}))


def test_unlocked_node_offers_its_next_level_until_its_max_level():
    nodes = [node("multi", max_level=3)]

    assert available_options(nodes, {"multi": 1}) == [("multi", 2)]
    assert available_options(nodes, {"multi": 2}) == [("multi", 3)]
    assert available_options(nodes, {"multi": 3}) == []


def test_single_level_node_is_not_offered_once_unlocked():
    assert available_options([node("a")], {"a": 1}) == []


def test_excluded_node_is_not_offered():
    nodes = [node("a"), node("b")]

    assert available_options(nodes, {}, {"a"}) == [("b", 1)]
    assert available_options(nodes, {}, exclude_keys={"b"}) == [("a", 1)]


def test_options_are_ordered_by_tier_then_key_whatever_the_input_order():
    nodes = [node("c", tier=1), node("b"), node("a", tier=1)]

    assert keys(available_options(nodes, {})) == ["b", "a", "c"]


def test_below_tier_rule_counts_distinct_unlocked_nodes_of_lower_tiers_only():
    nodes = [
        node("t0_a", tier=0, max_level=5),
        node("t0_b", tier=0),
        node("t1_a", tier=1),
        node("gated", tier=2, count_rules=["nodes_unlocked_below_tier:1:2"]),
    ]

    # Five levels of one node and a tier-1 node: still one distinct node below tier 1.
    assert "gated" not in keys(available_options(nodes, {"t0_a": 5, "t1_a": 1}))
    assert "gated" in keys(available_options(nodes, {"t0_a": 1, "t0_b": 1}))


def test_total_nodes_unlocked_rule_counts_distinct_unlocked_nodes_of_any_tier():
    nodes = [
        node("a", max_level=3),
        node("b", tier=3),
        node("gated", tier=1, count_rules=["total_nodes_unlocked:2"]),
    ]

    assert "gated" not in keys(available_options(nodes, {"a": 3}))
    assert "gated" in keys(available_options(nodes, {"a": 1, "b": 1}))


def test_count_rules_and_prerequisites_must_all_hold():
    nodes = [
        node("a"),
        node("b"),
        node("gated", prerequisites=[("a", 1)], count_rules=["total_nodes_unlocked:2"]),
    ]

    assert "gated" not in keys(available_options(nodes, {"b": 1}))
    assert "gated" not in keys(available_options(nodes, {"a": 1}))
    assert "gated" in keys(available_options(nodes, {"a": 1, "b": 1}))


def test_malformed_stored_count_rule_keeps_the_node_locked(caplog):
    nodes = [node("gated", count_rules=["total_nodes_unlocked:lots"])]

    assert available_options(nodes, {}) == []
    assert "malformed count rule" in caplog.text


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("nodes_unlocked_below_tier:2:5", CountRule(below_tier=2, count=5)),
        ("total_nodes_unlocked:7", CountRule(count=7)),
    ],
)
def test_count_rule_syntax_round_trips(text, rule):
    assert parse_count_rule(text) == rule
    assert str(rule) == text


@pytest.mark.parametrize(
    "text",
    ["", "total_nodes_unlocked", "total_nodes_unlocked:x", "nodes_unlocked_below_tier:2", "x:1"],
)
def test_count_rule_with_bad_syntax_is_refused(text):
    with pytest.raises(ValueError, match="is not"):
        parse_count_rule(text)


# dependents_of -------------------------------------------------------------------------------


def test_unlocked_node_requiring_the_dropped_level_is_a_dependent():
    nodes = [node("base"), node("child", prerequisites=[("base", 1)])]

    assert dependents_of(nodes, {"base": 1, "child": 1}, "base", 1) == ["child"]


def test_dependents_are_found_transitively():
    nodes = [
        node("base"),
        node("z_child", prerequisites=[("base", 1)]),
        node("grandchild", prerequisites=[("z_child", 1)]),
        node("unrelated"),
    ]
    levels = {"base": 1, "z_child": 1, "grandchild": 1, "unrelated": 1}

    # Listed by key; the grandchild is found although it comes before its parent.
    assert dependents_of(nodes, levels, "base", 1) == ["grandchild", "z_child"]


def test_dependent_of_a_dependent_loses_it_whatever_level_it_needed():
    nodes = [
        node("base"),
        node("child", max_level=3, prerequisites=[("base", 1)]),
        node("grandchild", prerequisites=[("child", 1)]),
    ]
    levels = {"base": 1, "child": 3, "grandchild": 1}

    assert dependents_of(nodes, levels, "base", 1) == ["child", "grandchild"]


def test_node_needing_a_lower_level_than_the_one_dropped_is_not_a_dependent():
    nodes = [
        node("base", max_level=3),
        node("needs_two", prerequisites=[("base", 2)]),
        node("needs_three", prerequisites=[("base", 3)]),
    ]
    levels = {"base": 3, "needs_two": 1, "needs_three": 1}

    assert dependents_of(nodes, levels, "base", 3) == ["needs_three"]


def test_locked_nodes_are_never_dependents():
    nodes = [node("base"), node("child", prerequisites=[("base", 1)])]

    assert dependents_of(nodes, {"base": 1}, "base", 1) == []


def test_node_whose_prerequisite_was_already_unmet_is_not_blamed_on_the_drop():
    nodes = [node("base"), node("other"), node("child", prerequisites=[("other", 1)])]

    assert dependents_of(nodes, {"base": 1, "child": 1}, "base", 1) == []


# contribution_multiplier ---------------------------------------------------------------------


def test_multiplier_is_one_with_nothing_unlocked():
    effects = {"boost": [{"type": "contribution_multiplier", "value": 0.1}]}

    assert contribution_multiplier(effects, {}) == Decimal("1")


def test_multiplier_adds_value_times_unlocked_level_of_every_node():
    effects = {
        "boost": [{"type": "contribution_multiplier", "value": 0.1}],
        "turbo": [{"type": "contribution_multiplier", "value": 0.05}],
        "locked": [{"type": "contribution_multiplier", "value": 5}],
    }

    assert contribution_multiplier(effects, {"boost": 3, "turbo": 2}) == Decimal("1.4")


def test_multiplier_ignores_bot_facing_effects():
    effects = {"neon": [{"type": "overlay_theme", "value": "neon"}], "hype": []}

    assert contribution_multiplier(effects, {"neon": 1, "hype": 1}) == Decimal("1")
