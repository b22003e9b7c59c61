"""What admins do to a tree by hand: force an unlock, relock a level, start a new season."""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone

import realtime
from communities.errors import Conflict, InvalidInput, NotFound
from communities.models import Community
from progression import events, rules
from progression.accounting import discarded_whole
from progression.models import (
    Node,
    Prerequisite,
    ProgressionSettings,
    Season,
    Unlock,
    UnlockProgress,
)
from progression.services.state import lock_active_progress, season_total, start_season
from progression.services.unlocks import (
    auto_unlock_ready,
    choose_target,
    close_progress,
    close_without_spending,
    open_next_progress,
)
from progression.services.voting import (
    cancel_vote,
    open_session,
    open_vote_for_following,
    remove_impossible_options,
)
from progression.tree_state import TreeSnapshot, invalidate_rules, rule_nodes, snapshot

logger = logging.getLogger(__name__)


def _lock_active(community: Community) -> UnlockProgress:
    progress = lock_active_progress(community.pk)
    if progress is None:
        raise Conflict("The community has no active progress yet.")
    return progress


def _node(community: Community, key: str) -> Node:
    node = Node.objects.filter(community=community, key=key).first()
    if node is None:
        raise NotFound(f"No node {key!r}.")
    return node


def force_unlock(
    community: Community, key: str, *, by: str, ignore_prerequisites: bool = False
) -> Unlock:
    """Unlocks the node's next level without spending points. If it was the target, the
    target's points all carry over to whatever comes next; if it was an option of the open
    vote, only that option leaves the vote. Unmet prerequisites (or count rules) make it a 409
    listing them, unless the admin says to ignore them: skipping the tree's order is a choice,
    never an accident."""
    with transaction.atomic(durable=True):
        progress = _lock_active(community)
        node = _node(community, key)
        tree = snapshot(community.pk, progress.season_id)
        level = tree.levels.get(key, 0) + 1
        if level > node.max_level:
            raise Conflict(f"{key} is already at its max level {node.max_level}.")
        if not ignore_prerequisites:
            _refuse_unmet_requirements(tree, key, level)
        unlock = Unlock.objects.create(
            community=community,
            season_id=progress.season_id,
            node=node,
            level=level,
            reason=Unlock.Reason.FORCED,
        )
        invalidate_rules(community.pk)
        realtime.publish(
            community,
            events.TOPIC,
            events.NODE_UNLOCKED,
            {
                "node": events.node_ref(node, level),
                "unlock_id": unlock.pk,
                "reason": Unlock.Reason.FORCED,
                "spent": 0,
                "by": by,
            },
        )
        if progress.node_id == node.pk and progress.level == level:
            close_without_spending(progress)
            auto_unlock_ready(community, progress.season_id)
            successor = open_next_progress(community, progress, offset=progress.offset)
            choose_target(community, successor, carried=progress, after_unlock=True)
        else:
            _drop_stale_plans(community, progress)
    logger.info("forced unlock community=%s node=%s level=%s by=%s", community.pk, key, level, by)
    return unlock


def _refuse_unmet_requirements(tree: TreeSnapshot, key: str, level: int) -> None:
    nodes = rule_nodes(tree)
    tiers = {rule.key: rule.tier for rule in nodes}
    (rule,) = [rule for rule in nodes if rule.key == key]
    unmet = rules.unmet_requirements(rule, tiers, tree.levels)
    if unmet:
        raise Conflict(
            f"{key} L{level} has unmet prerequisites; force it with ignore_prerequisites.",
            fields={"prerequisites": unmet},
        )


def relock(community: Community, key: str, *, cascade: bool, by: str) -> list[dict]:
    """Takes back the node's highest unlocked level. Nodes that depend on it make this a 409
    listing them, unless `cascade` relocks them too."""
    with transaction.atomic(durable=True):
        progress = _lock_active(community)
        node = _node(community, key)
        tree = snapshot(community.pk, progress.season_id)
        level = tree.levels.get(key, 0)
        if level == 0:
            raise Conflict(f"{key} is not unlocked.")
        dependents = rules.dependents_of(rule_nodes(tree), tree.levels, key, level)
        if dependents and not cascade:
            raise Conflict(
                f"{key} L{level} is required by unlocked nodes; relock with cascade to take them too.",
                fields={"dependents": sorted(dependents)},
            )
        relocked = [(key, level)] + [(k, tree.levels[k]) for k in dependents]
        now = timezone.now()
        for relock_key in [key, *dependents]:
            min_level = level if relock_key == key else 1
            Unlock.objects.filter(
                season_id=progress.season_id,
                node__key=relock_key,
                level__gte=min_level,
                relocked_at__isnull=True,
            ).update(relocked_at=now)
        invalidate_rules(community.pk)
        payload = [{"key": k, "level": lvl} for k, lvl in relocked]
        realtime.publish(
            community,
            events.TOPIC,
            events.NODE_RELOCKED,
            {"node": events.node_ref(node, level), "cascade": payload[1:], "by": by},
        )
        _drop_stale_plans(community, progress)
    logger.info("relocked community=%s %s by=%s", community.pk, payload, by)
    return payload


def _drop_stale_plans(community: Community, progress: UnlockProgress) -> None:
    """After the tree's state changed by hand, a target or up-next that is no longer possible
    is dropped and a new plan made; a vote loses only its impossible options (and is cancelled
    only when fewer than two are left). The points stay where they are."""
    from progression.tree_state import available_options

    remove_impossible_options(community, progress.season_id)
    options = set(available_options(community.pk, progress.season_id, exclude=set()))
    if (
        progress.up_next_node_id is not None
        and (progress.up_next_node, progress.up_next_level) not in options
    ):
        progress.up_next_node, progress.up_next_level = None, None
        progress.save(update_fields=["up_next_node", "up_next_level"])
    if progress.node is not None and (progress.node, progress.level) not in options:
        close_without_spending(progress)
        successor = open_next_progress(community, progress, offset=progress.offset)
        choose_target(community, successor, carried=None, after_unlock=True)
    elif progress.node is None:
        choose_target(community, progress, carried=None)
    else:
        open_vote_for_following(community, progress)


def reset_season(community: Community, *, by: str) -> Season:
    """Ends the season (its history stays) and starts the next with an empty tree state. The
    points left in the last progress are recorded as discarded by the reset."""
    with transaction.atomic(durable=True):
        progress = _lock_active(community)
        old = Season.objects.select_for_update(no_key=True).get(pk=progress.season_id)
        leftover = season_total(old.pk) - progress.offset
        close_progress(progress, discarded_whole(leftover))
        session = open_session(community.pk, lock=True)
        if session is not None:
            cancel_vote(community, session)
        old.ended_at = timezone.now()
        old.save(update_fields=["ended_at"])
        season, fresh = start_season(community, old.number + 1)
        invalidate_rules(community.pk)
        realtime.publish(
            community,
            events.TOPIC,
            events.SEASON_RESET,
            {
                "season": season.number,
                "previous_season": old.number,
                "discarded": leftover,
                "by": by,
            },
        )
        auto_unlock_ready(community, season.pk)
        choose_target(community, fresh, carried=None)
    logger.info("season reset community=%s season=%s by=%s", community.pk, season.number, by)
    return season


def set_weight(community: Community, metric: str, weight: str) -> None:
    from decimal import Decimal, InvalidOperation

    from progression.models import EngagementWeight
    from progression.weights import weights_key

    try:
        value = Decimal(weight)
    except InvalidOperation:
        raise InvalidInput(
            "Weight must be a number.", fields={"weight": ["not a number"]}
        ) from None
    if value < 0:
        raise InvalidInput("Weight must not be negative.", fields={"weight": ["negative"]})
    from progression import cache

    with transaction.atomic():
        EngagementWeight.objects.update_or_create(
            community=community, metric=metric, defaults={"weight": value}
        )
        cache.invalidate_on_commit(weights_key(community.pk))


def save_node(node: Node, *, prerequisites: list[tuple[Node, int]] | None = None) -> Node:
    """A node edited (or added) by hand, with its prerequisites if given. Checked like a tree
    file (same community, no cycle), then the engine re-plans: a target or vote the edit made
    impossible is dropped (points kept) and every process drops its cached tree. A plain
    `atomic` (not durable): the admin's change form already runs in a transaction."""
    with transaction.atomic():
        progress = lock_active_progress(node.community_id)
        if prerequisites is not None:
            check_prerequisites(node, prerequisites)
        node.full_clean()
        node.save()
        if prerequisites is not None:
            Prerequisite.objects.filter(node=node).delete()
            Prerequisite.objects.bulk_create(
                [Prerequisite(node=node, required=r, min_level=m) for r, m in prerequisites]
            )
        _replan_after_edit(node.community, progress)
    logger.info("node saved by hand community=%s node=%s", node.community_id, node.key)
    return node


def delete_node(node: Node) -> bool:
    """Deletes a node nothing points at; one that history or the engine still uses (unlocks,
    targets, vote options) is retired instead, as a tree load would do. True if deleted."""
    from progression.services.tree import _keys_in_use, _keys_with_unlocks

    with transaction.atomic():
        community = node.community
        progress = lock_active_progress(community.pk)
        used = _keys_with_unlocks(community, [node]) | _keys_in_use(community, [node])
        if node.key in used:
            Node.objects.filter(pk=node.pk).update(retired_at=timezone.now())
        else:
            node.delete()
        _replan_after_edit(community, progress)
    logger.info(
        "node %s by hand community=%s node=%s",
        "retired" if used else "deleted",
        community.pk,
        node.key,
    )
    return not used


def check_prerequisites(node: Node, prerequisites: list[tuple[Node, int]]) -> None:
    """Refuses (InvalidInput) prerequisites from another community, on itself, or closing a
    cycle; also called by the admin's form so the streamer sees the problem on the page."""
    problems = [
        f"{required.key} is not in this community"
        for required, _ in prerequisites
        if required.community_id != node.community_id
    ]
    problems += [f"{node.key} cannot require itself" for r, _ in prerequisites if r.pk == node.pk]
    if not problems and node.pk is not None:
        cycle = _cycle_through(node, [required.pk for required, _ in prerequisites])
        if cycle:
            problems.append(f"prerequisite cycle: {' -> '.join(cycle)}")
    if problems:
        raise InvalidInput("Invalid prerequisites.", fields={"prerequisites": problems})


def _cycle_through(node: Node, required_ids: list[int]) -> list[str]:
    """The path back to `node` if it would require (through others) itself, else []."""
    edges: dict[int, list[int]] = {}
    for source, target in (
        Prerequisite.objects.filter(node__community_id=node.community_id)
        .exclude(node=node)
        .values_list("node_id", "required_id")
    ):
        edges.setdefault(source, []).append(target)
    edges[node.pk] = required_ids
    keys = dict(Node.objects.filter(community_id=node.community_id).values_list("pk", "key"))
    stack: list[tuple[int, list[int]]] = [(r, [node.pk, r]) for r in required_ids]
    seen: set[int] = set()
    while stack:
        current, path = stack.pop()
        if current == node.pk:
            return [keys[pk] for pk in path]
        if current in seen:
            continue
        seen.add(current)
        stack.extend((nxt, [*path, nxt]) for nxt in edges.get(current, []))
    return []


def _replan_after_edit(community: Community, progress: UnlockProgress | None) -> None:
    invalidate_rules(community.pk)
    if progress is not None:
        _drop_stale_plans(community, progress)
    from progression.services.unlocks import on_tree_changed

    on_tree_changed(community)


def save_settings(settings_row: ProgressionSettings) -> ProgressionSettings:
    """A community's knobs edited by hand; every process drops its cached copy after commit."""
    from progression import cache
    from progression.services.state import settings_key

    with transaction.atomic():
        settings_row.full_clean(validate_unique=False)
        settings_row.save()
        cache.invalidate_on_commit(settings_key(settings_row.community_id))
    logger.info("settings saved community=%s", settings_row.community_id)
    return settings_row


def reset_weight(community: Community, metric: str) -> None:
    """Drops a community's override: the metric goes back to its default weight everywhere."""
    from progression import cache
    from progression.models import EngagementWeight
    from progression.weights import weights_key

    with transaction.atomic():
        EngagementWeight.objects.filter(community=community, metric=metric).delete()
        cache.invalidate_on_commit(weights_key(community.pk))
