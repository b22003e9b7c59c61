"""Unlocks: exactly once per (node, level), rollover capped, next target chosen, all in one
transaction that locks only the active progress row.

`unlock_target` is what the Celery task runs. It is idempotent: a redelivered or concurrent
task finds the progress already closed (or not yet full) under the row lock and does nothing;
the database's unique (season, node, level) unlock is the last line behind that.
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.db.models import Count, Sum
from django.utils import timezone

import realtime
from communities.models import Community
from progression import events, tasks_on_commit
from progression.accounting import Split, is_full, kept_whole, next_offset, split_on_unlock
from progression.models import Contribution, Node, Unlock, UnlockProgress, VoteSession
from progression.services.state import (
    lock_active_progress,
    lock_progress,
    open_season,
    season_total,
    settings_for,
)
from progression.services.voting import (
    has_run_its_window,
    open_session,
    open_vote_for_following,
    remove_impossible_options,
    resolve_session,
    start_vote_for_next,
    wait_for_window,
)
from progression.tree_state import available_options, cost_for_level, invalidate_rules

logger = logging.getLogger(__name__)


def unlock_target(progress_id: int) -> bool:
    """Unlocks the progress's target if its points are there. Returns whether it did."""
    with transaction.atomic(durable=True):
        progress = lock_progress(progress_id)
        if (
            progress is None
            or progress.node is None
            or progress.level is None
            or progress.cost is None
        ):
            return False
        total = season_total(progress.season_id)
        if not is_full(total, progress.offset, progress.cost):
            return False
        community = Community.objects.get(pk=progress.community_id)
        if progress.crossed_at_total is None:  # nobody saw it full before: this reading is the line
            progress.crossed_at_total = total
            progress.save(update_fields=["crossed_at_total"])
        split = split_on_unlock(
            total=total,
            offset=progress.offset,
            cost=progress.cost,
            crossed_at_total=progress.crossed_at_total,
            cap=settings_for(community.pk).rollover_cap,
        )
        close_progress(progress, split)
        Unlock.objects.create(
            community=community,
            season_id=progress.season_id,
            node=progress.node,
            level=progress.level,
            reason=Unlock.Reason.POINTS,
            progress=progress,
        )
        invalidate_rules(community.pk)
        _publish_unlocked(community, progress, reason=Unlock.Reason.POINTS)
        _publish_cycle_completed(community, progress)
        auto_unlock_ready(community, progress.season_id)
        successor = open_next_progress(
            community, progress, offset=next_offset(progress.offset, split)
        )
        choose_target(community, successor, carried=progress, after_unlock=True)
    logger.info(
        "unlocked community=%s node=%s level=%s spent=%s rolled=%s discarded=%s",
        community.pk,
        progress.node.key,
        progress.level,
        progress.spent,
        progress.rolled_over,
        progress.discarded,
    )
    return True


def ensure_target(community_id: int) -> None:
    """Gives a target-less active progress a target when one can be chosen (new season, new
    nodes loaded, a vote resolved)."""
    community = Community.objects.get(pk=community_id)
    open_season(community)
    with transaction.atomic():
        progress = lock_active_progress(community_id)
        if progress is None or progress.node_id is not None:
            return
        auto_unlock_ready(community, progress.season_id)
        choose_target(community, progress, carried=None)


def on_tree_changed(community: Community) -> None:
    """A tree load changed nodes (inside its transaction, under the active progress's lock): an
    option of the open vote that was retired or can no longer be chosen leaves the vote now, so
    it can never win; the rest of the plan is made after commit."""
    invalidate_rules(community.pk)
    with transaction.atomic():  # the loader's, or its own when called alone
        progress = lock_active_progress(community.pk)
        if (
            progress is not None
            and remove_impossible_options(community, progress.season_id) is None
        ):
            open_vote_for_following(community, progress)
    transaction.on_commit(lambda: ensure_target(community.pk))


def close_progress(progress: UnlockProgress, split: Split) -> None:
    """Closes a progress, recording how its points were used (the one home for closing: unlocks,
    forced unlocks and relocks, season resets)."""
    progress.status = UnlockProgress.Status.CLOSED
    progress.closed_at = timezone.now()
    progress.accumulated_at_close = split.accumulated
    progress.spent = split.spent
    progress.discarded = split.discarded
    progress.rolled_over = split.rolled_over
    progress.save(
        update_fields=[
            "status",
            "closed_at",
            "accumulated_at_close",
            "spent",
            "discarded",
            "rolled_over",
        ]
    )


def close_without_spending(progress: UnlockProgress) -> None:
    """Ends a progress whose target went away (forced unlock, relock): its points all carry on."""
    close_progress(progress, kept_whole(season_total(progress.season_id) - progress.offset))


def open_next_progress(
    community: Community, closed: UnlockProgress, *, offset: int
) -> UnlockProgress:
    return UnlockProgress.objects.create(
        community=community, season_id=closed.season_id, offset=offset
    )


def choose_target(
    community: Community,
    progress: UnlockProgress,
    *,
    carried: UnlockProgress | None,
    after_unlock: bool = False,
) -> None:
    """Picks the next target: the running vote's winner, else what is up next, else the lone
    candidate (auto-selected), else a vote among several; with none, the tree is complete.

    Only the end of the previous target (an unlock) cuts a running vote short, and only once it
    has run for the community's window; until then the progress waits for the vote (points are
    banked for the winner). Otherwise a running vote is left to choose when it resolves."""
    session = open_session(community.pk, lock=True)
    choice, source = None, ""
    if session is not None and not after_unlock:
        return
    if session is not None and not has_run_its_window(session):
        wait_for_window(community, session)
        _publish_waiting(community, progress, session)
        return
    if session is not None:
        winner = resolve_session(community, session, resolved_by="unlock")
        if winner is not None:
            choice, source = (winner.node, winner.level), "vote"
    if (
        choice is None
        and carried is not None
        and carried.up_next_node is not None
        and carried.up_next_level is not None
    ):
        choice, source = (carried.up_next_node, carried.up_next_level), "up_next"
    if choice is not None and not _still_available(community, progress.season_id, *choice):
        choice = None
    if choice is None:
        options = available_options(community.pk, progress.season_id, exclude=set())
        if len(options) == 1:
            choice, source = options[0], "auto"
        elif len(options) > 1:
            session = start_vote_for_next(community, progress.season_id, options, targetless=True)
            _publish_waiting(community, progress, session)
            return
        else:
            _publish_progress(community, progress)
            realtime.publish(
                community, events.TOPIC, events.TREE_COMPLETED, {"season_id": progress.season_id}
            )
            return
    set_target(community, progress, *choice, auto_selected=source == "auto", source=source)


def set_target(
    community: Community,
    progress: UnlockProgress,
    node: Node,
    level: int,
    *,
    auto_selected: bool,
    source: str,
) -> None:
    progress.node = node
    progress.level = level
    progress.cost = cost_for_level(node, level)
    progress.auto_selected = auto_selected
    progress.up_next_node = None
    progress.up_next_level = None
    progress.save(
        update_fields=["node", "level", "cost", "auto_selected", "up_next_node", "up_next_level"]
    )
    total = season_total(progress.season_id)
    if is_full(total, progress.offset, progress.cost):
        # Banked points fill it: no write crossed it, so nothing of them is overshoot (the
        # line is the cost itself) and all beyond the cost carries on in full.
        progress.crossed_at_total = progress.offset + progress.cost
        progress.save(update_fields=["crossed_at_total"])
        tasks_on_commit.unlock_due(progress.pk)
    payload = events.progress_payload(progress, total, waiting_for_vote=False)
    # What it starts with: the previous target's rollover and anything banked without a target.
    payload.update(auto_selected=auto_selected, source=source, rollover=total - progress.offset)
    realtime.publish(community, events.TOPIC, events.TARGET_SET, payload)
    open_vote_for_following(community, progress)


def _still_available(community: Community, season_id: int, node: Node, level: int) -> bool:
    return (node, level) in available_options(community.pk, season_id, exclude=set())


def auto_unlock_ready(community: Community, season_id: int) -> None:
    """Unlocks, without points, every auto-unlock node whose requirements are now met."""
    for _ in range(100):  # each pass may enable more; a tree has far fewer levels than this
        ready = [
            (n, lvl)
            for n, lvl in available_options(community.pk, season_id, exclude=set())
            if n.auto_unlock
        ]
        if not ready:
            return
        for node, level in ready:
            unlock = Unlock.objects.create(
                community=community,
                season_id=season_id,
                node=node,
                level=level,
                reason=Unlock.Reason.AUTO,
            )
            invalidate_rules(community.pk)
            realtime.publish(
                community,
                events.TOPIC,
                events.NODE_UNLOCKED,
                {
                    "node": events.node_ref(node, level),
                    "unlock_id": unlock.pk,
                    "reason": Unlock.Reason.AUTO,
                    "spent": 0,
                },
            )


def _publish_unlocked(community: Community, progress: UnlockProgress, *, reason: str) -> None:
    assert progress.node is not None  # only a progress with a target unlocks
    realtime.publish(
        community,
        events.TOPIC,
        events.NODE_UNLOCKED,
        {
            "node": events.node_ref(progress.node, progress.level),
            "unlock_id": progress.unlock.pk,  # created just before, cached on the progress
            "reason": reason,
            "progress_id": progress.pk,
            "spent": progress.spent,
            "rolled_over": progress.rolled_over,
            "discarded": progress.discarded,
            "effects": progress.node.effects,
        },
    )


def _publish_cycle_completed(community: Community, progress: UnlockProgress) -> None:
    top = list(
        Contribution.objects.filter(progress=progress)
        .values("viewer__platform_user_id", "viewer__display_name")
        .annotate(points=Sum("points"), events=Count("pk"))
        .order_by("-points")[:5]
    )
    contributors = (
        Contribution.objects.filter(progress=progress).values("viewer").distinct().count()
    )
    realtime.publish(
        community,
        events.TOPIC,
        events.CYCLE_COMPLETED,
        {
            "progress_id": progress.pk,
            "target": events.node_ref(progress.node, progress.level),
            "spent": progress.spent,
            "contributors": contributors,
            "top": [
                {
                    "platform_user_id": row["viewer__platform_user_id"],
                    "display_name": row["viewer__display_name"],
                    "points": row["points"],
                }
                for row in top
            ],
        },
    )


def _publish_waiting(community: Community, progress: UnlockProgress, session: VoteSession) -> None:
    """The progress has no target until `session` resolves: said once as its own event (with
    the vote and when it resolves), and in the progress snapshot's state."""
    payload = events.progress_payload(
        progress, season_total(progress.season_id), waiting_for_vote=True
    )
    payload["vote"] = events.vote_payload(session)
    realtime.publish(community, events.TOPIC, events.TARGET_WAITING, payload)
    _publish_progress(community, progress)


def _publish_progress(community: Community, progress: UnlockProgress) -> None:
    waiting = progress.node_id is None and open_session(community.pk) is not None
    payload = events.progress_payload(
        progress, season_total(progress.season_id), waiting_for_vote=waiting
    )
    realtime.publish(
        community, events.TOPIC, events.PROGRESS_UPDATED, payload, coalesce_key="progress"
    )


def publish_progress_snapshot(community_id: int) -> None:
    """The coalesced progress event: the state as it is now, read under the stream lock so it
    is in commit order with the unlocks and targets around it (docs/realtime.md)."""

    def read() -> tuple[dict, str] | None:
        progress = (
            UnlockProgress.objects.select_related("node", "up_next_node")
            .filter(community_id=community_id, status=UnlockProgress.Status.ACTIVE)
            .first()
        )
        if progress is None:
            return None
        return events.progress_payload(progress, season_total(progress.season_id)), "progress"

    community = Community.objects.get(pk=community_id)
    realtime.publish_snapshot(community, events.TOPIC, events.PROGRESS_UPDATED, read)
