"""Progression event types and their payloads (catalogued in docs/events.md)."""

from __future__ import annotations

from typing import Any

from progression.accounting import is_full
from progression.models import Node, UnlockProgress, VoteSession

PROGRESS_UPDATED = "progression.progress.updated"
TARGET_SET = "progression.target.set"
TARGET_WAITING = "progression.target.waiting"
NODE_UNLOCKED = "progression.node.unlocked"
NODE_RELOCKED = "progression.node.relocked"
CYCLE_COMPLETED = "progression.cycle.completed"
TREE_COMPLETED = "progression.tree.completed"
TREE_CHANGED = "progression.tree.changed"  # nodes added, changed or removed (load, build_tree)
VOTE_STARTED = "progression.vote.started"
VOTE_CAST = "progression.vote.cast"
VOTE_RESOLVED = "progression.vote.resolved"
VOTE_FROZEN = "progression.vote.frozen"
VOTE_UNFROZEN = "progression.vote.unfrozen"
VOTE_CANCELLED = "progression.vote.cancelled"
VOTE_UPDATED = "progression.vote.updated"
SEASON_RESET = "progression.season.reset"

TOPIC = "progression"

# What the active progress is doing (the `state` of every progress payload).
FILLING = "filling"  # points go to the target
FULL = "full"  # the target holds its cost; its unlock is on the way
WAITING_FOR_VOTE = "waiting_for_vote"  # no target until the open vote resolves; points banked
NO_TARGET = "no_target"  # nothing to target (the tree is complete); points banked


def node_ref(node: Node | None, level: int | None) -> dict[str, Any] | None:
    if node is None:
        return None
    return {"key": node.key, "name": node.name, "level": level, "tier": node.tier}


def progress_state(progress: UnlockProgress, total: int, *, waiting_for_vote: bool) -> str:
    if progress.node_id is not None:
        return FULL if is_full(total, progress.offset, progress.cost) else FILLING
    return WAITING_FOR_VOTE if waiting_for_vote else NO_TARGET


def progress_payload(
    progress: UnlockProgress, total: int, *, waiting_for_vote: bool = False
) -> dict[str, Any]:
    """`waiting_for_vote`: whether a vote is open (it decides a missing target)."""
    accumulated = total - progress.offset
    cost = progress.cost
    percent = None if not cost else round(min(100.0, 100.0 * accumulated / cost), 2)
    return {
        "progress_id": progress.pk,
        "state": progress_state(progress, total, waiting_for_vote=waiting_for_vote),
        "target": node_ref(progress.node, progress.level),
        "accumulated": accumulated,
        "cost": cost,
        "percent": percent,
        "up_next": node_ref(progress.up_next_node, progress.up_next_level),
    }


def vote_payload(session: VoteSession) -> dict[str, Any]:
    options = list(session.options.select_related("node").order_by("position"))
    return {
        "session_id": session.pk,
        "status": session.status,
        "deadline": session.deadline.isoformat() if session.deadline else None,
        "frozen_remaining_seconds": session.frozen_remaining_seconds,
        "options": [
            {
                "position": o.position,
                "key": o.node.key,
                "name": o.node.name,
                "level": o.level,
                "votes": o.votes,
            }
            for o in options
        ],
        "total_votes": sum(o.votes for o in options),
    }
