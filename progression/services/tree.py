"""Loading a tree file into a community: a sync, never a blind replace.

New nodes are inserted, changed ones updated (their prerequisites replaced), and nodes no
longer in the file deleted, except those the history or the engine still points at: nodes with
unlocks (in any season) and nodes that are a progress's target, up next, or an option of a
running vote. Those are kept and reported. Loading the same file twice changes nothing.
"""

from __future__ import annotations

import importlib
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone

from communities.errors import InvalidInput
from communities.models import Community
from progression import events
from progression.models import Node, Prerequisite, Unlock, UnlockProgress, VoteOption
from progression.tree_schema import NodeSpec, TreeSpec, validate_tree
from realtime import publish

logger = logging.getLogger(__name__)

FIELDS = (
    "name",
    "description",
    "category",
    "tier",
    "size",
    "max_level",
    "cost_override",
    "count_rules",
    "auto_unlock",
    "effects",
)


@dataclass(frozen=True)
class SyncReport:
    created: tuple[str, ...] = ()
    updated: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    kept_with_unlocks: tuple[str, ...] = ()  # absent from the file, kept: unlocked before
    kept_in_use: tuple[str, ...] = ()  # absent from the file, kept: target, up next, vote option

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated or self.removed)


def sync_tree(community: Community, spec: TreeSpec | Mapping[str, Any]) -> SyncReport:
    """Makes the community's nodes match `spec` (validated first if given as parsed data).
    Raises InvalidInput, listing every problem, before anything is written."""
    tree = spec if isinstance(spec, TreeSpec) else validate_tree(spec)
    with transaction.atomic(durable=True):
        _lock_engine(community)
        existing = _existing_nodes(community, lock=True)
        report = _plan(community, tree, existing)
        retirements = _apply(community, tree, existing, report)
        if report.changed or retirements:  # a node retired now must leave the open vote
            _notify_tree_changed(community)
        if report.changed:
            _publish_tree_changed(
                community,
                "load",
                created=report.created,
                updated=report.updated,
                removed=report.removed,
            )
    logger.info(
        "tree synced community=%s created=%s updated=%s unchanged=%s removed=%s kept=%s",
        community.pk,
        len(report.created),
        len(report.updated),
        len(report.unchanged),
        len(report.removed),
        len(report.kept_with_unlocks) + len(report.kept_in_use),
    )
    return report


def plan_tree(community: Community, spec: TreeSpec | Mapping[str, Any]) -> SyncReport:
    """What `sync_tree` would do, without writing (the `--dry-run`)."""
    tree = spec if isinstance(spec, TreeSpec) else validate_tree(spec)
    return _plan(community, tree, _existing_nodes(community, lock=False))


def _lock_engine(community: Community) -> None:
    """Serialises with other loads (the community row) and with unlocks, which run under the
    lock of the active progress row, so no unlock lands on a node while it is being removed."""
    Community.objects.select_for_update(no_key=True).filter(pk=community.pk).first()
    UnlockProgress.objects.select_for_update(no_key=True).filter(
        community=community, status=UnlockProgress.Status.ACTIVE
    ).first()


def _existing_nodes(community: Community, *, lock: bool) -> dict[str, Node]:
    nodes = Node.objects.filter(community=community)
    if lock:
        nodes = nodes.select_for_update()
    return {node.key: node for node in nodes.prefetch_related("prerequisites__required")}


def _wanted(spec: NodeSpec) -> dict[str, Any]:
    return {
        "name": spec.name,
        "description": spec.description,
        "category": spec.category,
        "tier": spec.tier,
        "size": spec.size,
        "max_level": spec.max_level,
        "cost_override": spec.cost,
        "count_rules": list(spec.count_rules),
        "auto_unlock": spec.auto_unlock,
        "effects": [dict(effect) for effect in spec.effects],
    }


def _wanted_prerequisites(spec: NodeSpec) -> set[tuple[str, int]]:
    return {(p.key, p.level) for p in spec.prerequisites}


def _current_prerequisites(node: Node) -> set[tuple[str, int]]:
    return {(p.required.key, p.min_level) for p in node.prerequisites.all()}


def _differs(node: Node, spec: NodeSpec) -> bool:
    wanted = _wanted(spec)
    return any(getattr(node, name) != wanted[name] for name in FIELDS) or (
        _current_prerequisites(node) != _wanted_prerequisites(spec)
    )


def _plan(community: Community, tree: TreeSpec, existing: Mapping[str, Node]) -> SyncReport:
    keys = {spec.key for spec in tree.nodes}
    in_file = [spec for spec in tree.nodes if spec.key in existing]
    changed = {spec.key for spec in in_file if _differs(existing[spec.key], spec)}
    absent = [node for key, node in existing.items() if key not in keys]
    with_unlocks = _keys_with_unlocks(community, absent)
    in_use = _keys_in_use(community, absent) - with_unlocks
    return SyncReport(
        created=tuple(spec.key for spec in tree.nodes if spec.key not in existing),
        updated=tuple(spec.key for spec in in_file if spec.key in changed),
        unchanged=tuple(spec.key for spec in in_file if spec.key not in changed),
        removed=tuple(n.key for n in absent if n.key not in with_unlocks | in_use),
        kept_with_unlocks=tuple(n.key for n in absent if n.key in with_unlocks),
        kept_in_use=tuple(n.key for n in absent if n.key in in_use),
    )


def _keys_with_unlocks(community: Community, nodes: Iterable[Node]) -> set[str]:
    unlocked = Unlock.objects.filter(community=community, node__in=list(nodes))
    return set(unlocked.values_list("node__key", flat=True))


def _keys_in_use(community: Community, nodes: Iterable[Node]) -> set[str]:
    nodes = list(nodes)
    targets = UnlockProgress.objects.filter(community=community, node__in=nodes)
    up_next = UnlockProgress.objects.filter(
        community=community, status=UnlockProgress.Status.ACTIVE, up_next_node__in=nodes
    )
    options = VoteOption.objects.filter(session__community=community, node__in=nodes)
    return (
        set(targets.values_list("node__key", flat=True))
        | set(up_next.values_list("up_next_node__key", flat=True))
        | set(options.values_list("node__key", flat=True))
    )


def _apply(
    community: Community, tree: TreeSpec, existing: dict[str, Node], report: SyncReport
) -> int:
    """Writes the plan; returns how many nodes were retired or brought back by this load."""
    specs = {spec.key: spec for spec in tree.nodes}
    created = Node.objects.bulk_create(
        [Node(community=community, key=key, **_wanted(specs[key])) for key in report.created]
    )
    for key in report.updated:
        node = existing[key]
        for name, value in _wanted(specs[key]).items():
            setattr(node, name, value)
        node.save(update_fields=[*FIELDS, "updated_at"])
    nodes = {**existing, **{node.key: node for node in created}}
    _replace_prerequisites(nodes, [specs[key] for key in (*report.created, *report.updated)])
    Node.objects.filter(community=community, key__in=report.removed).delete()
    kept = (*report.kept_with_unlocks, *report.kept_in_use)
    retired = Node.objects.filter(
        community=community, key__in=kept, retired_at__isnull=True
    ).update(retired_at=timezone.now())
    revived = Node.objects.filter(
        community=community, key__in=specs, retired_at__isnull=False
    ).update(retired_at=None)
    return retired + revived


def _replace_prerequisites(nodes: Mapping[str, Node], specs: Iterable[NodeSpec]) -> None:
    specs = list(specs)
    Prerequisite.objects.filter(node__in=[nodes[spec.key] for spec in specs]).delete()
    Prerequisite.objects.bulk_create(
        [
            Prerequisite(node=nodes[spec.key], required=nodes[p.key], min_level=p.level)
            for spec in specs
            for p in spec.prerequisites
        ]
    )


def _notify_tree_changed(community: Community) -> None:
    """Lets the engine react (e.g. set a target now that new nodes exist). Looked up lazily: the
    engine imports the tree, not the other way round."""
    try:
        unlocks = importlib.import_module("progression.services.unlocks")
    except ModuleNotFoundError as error:
        if error.name != "progression.services.unlocks":
            raise
        return
    hook = getattr(unlocks, "on_tree_changed", None)
    if hook is not None:
        hook(community)


def _publish_tree_changed(community: Community, source: str, **keys: Iterable[str]) -> None:
    data: dict[str, Any] = {"source": source, **{name: list(k) for name, k in keys.items()}}
    publish(community, events.TOPIC, events.TREE_CHANGED, data)


# Adding nodes to a tree (the build_tree job) ------------------------------------------------


def validate_additions(
    community: Community, additions: Sequence[Mapping[str, Any]]
) -> list[NodeSpec]:
    """New nodes (raw, as in a tree file) checked together with the community's tree by
    `load_tree`'s rules (`validate_tree`: shape, known prerequisites, no cycles, count rules).
    Problems of a new node are located `added[i]...`; a prerequisite on a retired node is one
    too (it can never be unlocked again). Raises InvalidInput listing every problem."""
    nodes = list(
        Node.objects.filter(community=community).prefetch_related("prerequisites__required")
    )
    existing = [_as_raw(node) for node in nodes]
    retired = {node.key for node in nodes if node.retired_at is not None}
    data = {"nodes": [*existing, *additions]}
    problems: dict[str, list[str]] = {}
    spec: TreeSpec | None = None
    try:
        spec = validate_tree(data)
    except InvalidInput as error:
        problems = _relocate(error.fields or {}, len(existing))
    for index, raw in enumerate(additions):
        for position, item in enumerate(raw.get("prerequisites") or []):
            key = item.get("key") if isinstance(item, dict) else item
            if key in retired:
                location = f"added[{index}].prerequisites[{position}]"
                problems.setdefault(location, []).append(f"node '{key}' is retired")
    if problems:
        count = sum(len(messages) for messages in problems.values())
        raise InvalidInput(
            f"The new nodes have {count} problem(s); nothing was written.", fields=problems
        )
    assert spec is not None
    return list(spec.nodes[len(existing) :])


def _as_raw(node: Node) -> dict[str, Any]:
    return {
        "key": node.key,
        "name": node.name,
        "description": node.description,
        "category": node.category,
        "tier": node.tier,
        "size": node.size,
        "max_level": node.max_level,
        "cost": node.cost_override,
        "prerequisites": [
            {"key": p.required.key, "level": p.min_level} for p in node.prerequisites.all()
        ],
        "count_rules": list(node.count_rules),
        "auto_unlock": node.auto_unlock,
        "effects": list(node.effects),
    }


_NODE_LOCATION = re.compile(r"^nodes\[(\d+)\]")


def _relocate(fields: Mapping[str, list[str]], existing: int) -> dict[str, list[str]]:
    """`nodes[i]...` of the combined tree → `added[i - existing]...` for a new node; problems of
    the existing tree keep their location."""
    moved: dict[str, list[str]] = {}
    for location, messages in fields.items():
        match = _NODE_LOCATION.match(location)
        if match and int(match.group(1)) >= existing:
            location = f"added[{int(match.group(1)) - existing}]{location[match.end() :]}"
        moved.setdefault(location, []).extend(messages)
    return moved


def add_nodes(community: Community, specs: Sequence[NodeSpec], *, source: str) -> list[Node]:
    """Adds validated new nodes (`validate_additions`) in the caller's transaction, under the
    engine's locks: caches are dropped after commit, the engine re-plans (a complete tree spends
    its banked points on them, the open vote may offer them) and `progression.tree.changed` is
    published. Raises InvalidInput if a key was taken meanwhile."""
    if not specs:
        return []
    with transaction.atomic():
        _lock_engine(community)
        taken = set(
            Node.objects.filter(community=community, key__in=[s.key for s in specs]).values_list(
                "key", flat=True
            )
        )
        if taken:
            raise InvalidInput(
                "Some keys were taken meanwhile; nothing was written.",
                fields={"keys": [f"'{key}' exists" for key in sorted(taken)]},
            )
        created = Node.objects.bulk_create(
            [Node(community=community, key=spec.key, **_wanted(spec)) for spec in specs]
        )
        nodes = {node.key: node for node in Node.objects.filter(community=community)}
        _replace_prerequisites(nodes, specs)
        _notify_tree_changed(community)
        _publish_tree_changed(community, source, created=[node.key for node in created])
    logger.info("nodes added community=%s source=%s keys=%s", community.pk, source, len(created))
    return created
