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
from progression.models import Node, Season, Unlock, UnlockProgress
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
