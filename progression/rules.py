"""The tree's rules as pure functions: which node levels are available, which unlocked nodes
depend on a level, and the contribution multiplier that unlocked nodes grant.

No database here: callers pass the nodes and a mapping key -> highest unlocked level (absent or
0 means locked).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from typing import Any

logger = logging.getLogger(__name__)

BELOW_TIER = "nodes_unlocked_below_tier"
TOTAL = "total_nodes_unlocked"
CONTRIBUTION_MULTIPLIER = "contribution_multiplier"

_BELOW_TIER_RE = re.compile(rf"^{BELOW_TIER}:(\d+):(\d+)$")
_TOTAL_RE = re.compile(rf"^{TOTAL}:(\d+)$")


@dataclass(frozen=True)
class NodeRule:
    key: str
    tier: int
    max_level: int
    prerequisites: tuple[tuple[str, int], ...] = ()  # (required key, minimum level)
    count_rules: tuple[str, ...] = ()


@dataclass(frozen=True)
class CountRule:
    """`nodes_unlocked_below_tier:T:N` (tier set) or `total_nodes_unlocked:N` (tier None)."""

    count: int
    below_tier: int | None = None

    def __str__(self) -> str:
        if self.below_tier is None:
            return f"{TOTAL}:{self.count}"
        return f"{BELOW_TIER}:{self.below_tier}:{self.count}"


def parse_count_rule(text: str) -> CountRule:
    """Raises ValueError naming the accepted forms when `text` is not one of them."""
    if match := _BELOW_TIER_RE.match(text):
        return CountRule(below_tier=int(match[1]), count=int(match[2]))
    if match := _TOTAL_RE.match(text):
        return CountRule(count=int(match[1]))
    raise ValueError(
        f"count rule {text!r} is not `{BELOW_TIER}:<tier>:<count>` or `{TOTAL}:<count>`"
    )


@lru_cache(maxsize=1024)
def _parsed(text: str) -> CountRule | None:
    try:
        return parse_count_rule(text)
    except ValueError:
        logger.error("malformed count rule %r treated as unmet", text)
        return None


def _count_rule_met(text: str, tiers: Mapping[str, int], levels: Mapping[str, int]) -> bool:
    rule = _parsed(text)
    if rule is None:
        return False
    unlocked = [key for key in tiers if levels.get(key, 0) >= 1]
    if rule.below_tier is not None:
        unlocked = [key for key in unlocked if tiers[key] < rule.below_tier]
    return len(unlocked) >= rule.count


def is_available(node: NodeRule, tiers: Mapping[str, int], levels: Mapping[str, int]) -> bool:
    """Below its max level, every prerequisite at its minimum level, every count rule met."""
    return levels.get(node.key, 0) < node.max_level and not unmet_requirements(node, tiers, levels)


def unmet_requirements(
    node: NodeRule, tiers: Mapping[str, int], levels: Mapping[str, int]
) -> list[str]:
    """What still stands between the node and its next level: each prerequisite below its
    minimum level (`key Ln`) and each count rule not met (its text). Empty when none."""
    missing = [
        f"{key} L{minimum}" for key, minimum in node.prerequisites if levels.get(key, 0) < minimum
    ]
    return missing + [rule for rule in node.count_rules if not _count_rule_met(rule, tiers, levels)]


def available_options(
    nodes: Iterable[NodeRule], levels: Mapping[str, int], exclude_keys: Collection[str] = ()
) -> list[tuple[str, int]]:
    """(key, next level) of every available node not excluded, ordered by tier then key."""
    nodes = sorted(nodes, key=lambda node: (node.tier, node.key))
    tiers = {node.key: node.tier for node in nodes}
    return [
        (node.key, levels.get(node.key, 0) + 1)
        for node in nodes
        if node.key not in exclude_keys and is_available(node, tiers, levels)
    ]


def dependents_of(
    nodes: Iterable[NodeRule], levels: Mapping[str, int], key: str, level: int
) -> list[str]:
    """The unlocked nodes that lose a prerequisite if `key` drops below `level`, and those that
    lose one through them in turn (a dependent that loses a prerequisite is relocked entirely),
    sorted by key."""
    nodes = [node for node in nodes if node.key != key]
    after = dict(levels)
    after[key] = min(after.get(key, 0), level - 1)
    found: list[str] = []
    changed = True
    while changed:
        changed = False
        for node in nodes:
            if after.get(node.key, 0) >= 1 and _loses_prerequisite(node, levels, after):
                after[node.key] = 0
                found.append(node.key)
                changed = True
    return sorted(found)


def _loses_prerequisite(
    node: NodeRule, before: Mapping[str, int], after: Mapping[str, int]
) -> bool:
    return any(
        before.get(required, 0) >= minimum > after.get(required, 0)
        for required, minimum in node.prerequisites
    )


def contribution_multiplier(
    nodes_effects: Mapping[str, Iterable[Mapping[str, Any]]], levels: Mapping[str, int]
) -> Decimal:
    """1 + the sum of value × unlocked level over the `contribution_multiplier` effects of
    unlocked nodes. Exact (Decimal), so rounding points down never loses one to float error."""
    total = Decimal(1)
    for key, effects in nodes_effects.items():
        level = levels.get(key, 0)
        if level < 1:
            continue
        for effect in effects or ():
            if effect.get("type") == CONTRIBUTION_MULTIPLIER:
                total += Decimal(str(effect.get("value", 0))) * level
    return total
