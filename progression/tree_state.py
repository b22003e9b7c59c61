"""The tree as the engine sees it: nodes with their rules and each node's unlocked level.

Node definitions change when a tree is loaded or a node is edited by hand, unlocked levels on
unlock/relock, so both are cached per process and invalidated everywhere after such a change
(progression.cache; progression.signals catches a row saved outside the services).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from progression import cache, rules
from progression.models import Node, Season, Unlock


@dataclass(frozen=True)
class TreeSnapshot:
    season_id: int
    nodes: dict[str, Node]
    levels: dict[str, int]  # key -> highest unlocked level in the open season


def rules_key(community_id: int) -> str:
    return f"tree:{community_id}"


def invalidate_rules(community_id: int) -> None:
    cache.invalidate_on_commit(rules_key(community_id))


def _load(community_id: int, season_id: int) -> TreeSnapshot:
    nodes = {
        node.key: node
        for node in Node.objects.filter(community_id=community_id).prefetch_related(
            "prerequisites__required"
        )
    }
    levels: dict[str, int] = {}
    for key, level in Unlock.objects.filter(
        season_id=season_id, relocked_at__isnull=True
    ).values_list("node__key", "level"):
        levels[key] = max(level, levels.get(key, 0))
    return TreeSnapshot(season_id=season_id, nodes=nodes, levels=levels)


def snapshot(community_id: int, season_id: int) -> TreeSnapshot:
    """Cached outside transactions; inside one (where this process may have just unlocked
    something), read fresh so decisions never rest on a stale level."""
    from django.db import connection

    if connection.in_atomic_block:
        return _load(community_id, season_id)
    tree = cache.cached(rules_key(community_id), lambda: _load(community_id, season_id))
    return tree if tree.season_id == season_id else _load(community_id, season_id)


def rule_nodes(tree: TreeSnapshot) -> list[rules.NodeRule]:
    return [
        rules.NodeRule(
            key=node.key,
            tier=node.tier,
            max_level=node.max_level,
            prerequisites=tuple((p.required.key, p.min_level) for p in node.prerequisites.all()),
            count_rules=tuple(node.count_rules or ()),
        )
        for node in tree.nodes.values()
    ]


def available_options(
    community_id: int, season_id: int, *, exclude: set[str]
) -> list[tuple[Node, int]]:
    tree = snapshot(community_id, season_id)
    return [
        (tree.nodes[key], level)
        for key, level in rules.available_options(rule_nodes(tree), tree.levels, exclude)
        if tree.nodes[key].retired_at is None
    ]


MAX_COST = 10**15


def cost_for_level(node: Node, level: int) -> int:
    """Level 1 costs the node's cost; each further level costs half as much again (capped so a
    100-level node stays countable)."""
    return min(MAX_COST, round(node.cost * Decimal("1.5") ** (level - 1)))


def contribution_multiplier(community_id: int, season_id: int) -> Decimal:
    tree = snapshot(community_id, season_id)
    effects = {key: node.effects for key, node in tree.nodes.items()}
    return Decimal(str(rules.contribution_multiplier(effects, tree.levels)))


def open_season_id(community_id: int) -> int | None:
    return (
        Season.objects.filter(community_id=community_id, ended_at__isnull=True)
        .values_list("pk", flat=True)
        .first()
    )
