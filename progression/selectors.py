"""Reads of the progression engine: status, tree, leaderboards, contributions, effects."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, QuerySet, Sum

from communities.models import Community
from progression import events
from progression.models import (
    Contribution,
    PointsShard,
    ProgressionSettings,
    Unlock,
    UnlockProgress,
    Viewer,
    Vote,
    VoteSession,
)
from progression.tree_state import available_options, cost_for_level, open_season_id, snapshot

OPEN_VOTE_STATES = (VoteSession.Status.OPEN, VoteSession.Status.FROZEN)


def season_total(season_id: int) -> int:
    """Points credited in the season: the sum of its shards (read committed)."""
    return PointsShard.objects.filter(season_id=season_id).aggregate(t=Sum("points"))["t"] or 0


def open_votes(community_id: int) -> QuerySet[VoteSession]:
    """The community's open (or frozen) vote, as a query: at most one row (a constraint)."""
    return VoteSession.objects.filter(community_id=community_id, status__in=OPEN_VOTE_STATES)


def _active(community: Community) -> UnlockProgress | None:
    return (
        UnlockProgress.objects.select_related("node", "up_next_node")
        .filter(community=community, status=UnlockProgress.Status.ACTIVE)
        .first()
    )


def progression_status(community: Community) -> dict[str, Any]:
    progress = _active(community)
    if progress is None:
        return {"season_id": None, "progress": None, "vote": None, "last_unlock": None}
    session = open_votes(community.pk).first()
    last = (
        Unlock.objects.filter(season_id=progress.season_id, relocked_at__isnull=True)
        .select_related("node")
        .order_by("-unlocked_at", "-pk")
        .first()
    )
    return {
        "season_id": progress.season_id,
        "progress": events.progress_payload(
            progress, season_total(progress.season_id), waiting_for_vote=session is not None
        ),
        "vote": events.vote_payload(session) if session else None,
        "last_unlock": {
            "node": events.node_ref(last.node, last.level),
            "reason": last.reason,
            "unlocked_at": last.unlocked_at,
        }
        if last
        else None,
    }


def tree_with_state(community: Community) -> list[dict[str, Any]]:
    season_id = open_season_id(community.pk)
    if season_id is None:
        return []
    tree = snapshot(community.pk, season_id)
    progress = _active(community)
    target = (progress.node.key, progress.level) if progress and progress.node else None
    available = {node.key for node, _ in available_options(community.pk, season_id, exclude=set())}
    nodes = []
    for node in sorted(tree.nodes.values(), key=lambda n: (n.tier, n.key)):
        level = tree.levels.get(node.key, 0)
        if target and target[0] == node.key:
            state = "target"
        elif level >= node.max_level:
            state = "maxed"
        elif node.key in available:
            state = "available"
        elif level > 0:
            state = "unlocked"
        else:
            state = "locked"
        nodes.append(
            {
                "key": node.key,
                "name": node.name,
                "description": node.description,
                "category": node.category,
                "tier": node.tier,
                "size": node.size,
                "max_level": node.max_level,
                "level": level,
                "state": state,
                "next_cost": cost_for_level(node, level + 1) if level < node.max_level else None,
                "prerequisites": [
                    {"key": p.required.key, "level": p.min_level} for p in node.prerequisites.all()
                ],
                "count_rules": node.count_rules,
                "effects": node.effects,
            }
        )
    return nodes


def leaderboard(community: Community, scope: str, limit: int = 20) -> list[dict[str, Any]]:
    if scope == "all_time":
        rows = Viewer.objects.filter(community=community, points_total__gt=0).order_by(
            "-points_total", "platform_user_id"
        )[:limit]
        return [
            {
                "platform_user_id": v.platform_user_id,
                "display_name": v.display_name,
                "points": v.points_total,
                "events": v.events_total,
            }
            for v in rows
        ]
    ledger = Contribution.objects.filter(community=community)
    if scope == "cycle":
        progress = _active(community)
        ledger = ledger.filter(progress=progress) if progress else ledger.none()
    else:  # season
        # No open season: None matches no row (the column is NOT NULL).
        ledger = ledger.filter(season_id=open_season_id(community.pk))  # type: ignore[misc]
    totals = (
        ledger.values("viewer__platform_user_id", "viewer__display_name")
        .annotate(points=Sum("points"), events=Count("pk"))
        .order_by("-points", "viewer__platform_user_id")[:limit]
    )
    return [
        {
            "platform_user_id": r["viewer__platform_user_id"],
            "display_name": r["viewer__display_name"],
            "points": r["points"],
            "events": r["events"],
        }
        for r in totals
    ]


def viewer_contributions(
    community: Community, platform_user_id: str, limit: int = 50
) -> dict[str, Any] | None:
    viewer = Viewer.objects.filter(community=community, platform_user_id=platform_user_id).first()
    if viewer is None:
        return None
    recent = Contribution.objects.filter(viewer=viewer).order_by("-created_at", "-pk")[:limit]
    season_id = open_season_id(community.pk)
    season_points = (
        # No open season: None matches no row (the column is NOT NULL), so 0.
        Contribution.objects.filter(viewer=viewer, season_id=season_id).aggregate(  # type: ignore[misc]
            p=Sum("points")
        )["p"]
        or 0
    )
    return {
        "platform_user_id": viewer.platform_user_id,
        "display_name": viewer.display_name,
        "points_total": viewer.points_total,
        "events_total": viewer.events_total,
        "season_points": season_points,
        "recent": [
            {
                "metric": c.metric,
                "value": c.value,
                "points": c.points,
                "message_id": c.message_id,
                "progress_id": c.progress_id,
                "occurred_at": c.occurred_at,
            }
            for c in recent
        ],
    }


def unlocked_effects(community: Community) -> list[dict[str, Any]]:
    season_id = open_season_id(community.pk)
    if season_id is None:
        return []
    tree = snapshot(community.pk, season_id)
    return [
        {"node": key, "level": level, "effects": tree.nodes[key].effects}
        for key, level in sorted(tree.levels.items())
        if key in tree.nodes and tree.nodes[key].effects
    ]


def community_settings(community: Community) -> dict[str, Any]:
    """What the console's settings form shows: the vote knobs and every metric's weight."""
    from progression.weights import weights_for

    row = ProgressionSettings.objects.filter(community=community).first()
    row = row or ProgressionSettings(community=community)
    return {
        "vote_options": row.vote_options,
        "vote_duration_seconds": row.vote_duration_seconds,
        "vote_window_seconds": row.vote_window_seconds,
        "rollover_cap": row.rollover_cap,
        "weights": {metric: str(w) for metric, w in sorted(weights_for(community.pk).items())},
    }


def recent_unlocks(community: Community, limit: int = 20) -> list[dict[str, Any]]:
    """Newest first, relocked ones included (marked): the history a page shows after a reload.
    `unlock_id` is the one `progression.node.unlocked` carries, so a page shows each once."""
    unlocks = (
        Unlock.objects.filter(community=community)
        .select_related("node")
        .order_by("-unlocked_at", "-pk")[:limit]
    )
    return [
        {
            "unlock_id": u.pk,
            "season_id": u.season_id,
            "node": events.node_ref(u.node, u.level),
            "reason": u.reason,
            "unlocked_at": u.unlocked_at,
            "relocked_at": u.relocked_at,
        }
        for u in unlocks
    ]


def my_ballot(community: Community, voter: str | None) -> dict[str, Any]:
    """The open vote and the option `voter` chose in it (None: not voted, or anonymous), so a
    page marks a web viewer's choice on any device."""
    session = open_votes(community.pk).first()
    if session is None:
        return {"session_id": None, "option": None}
    ballot = (
        Vote.objects.filter(session=session, voter=voter).select_related("option").first()
        if voter
        else None
    )
    return {"session_id": session.pk, "option": ballot.option.position if ballot else None}


def dashboard_snapshot(community: Community) -> dict[str, Any]:
    """What the dashboard draws first, rendered into the page so it shows live data without
    waiting for its API calls (the same payloads as GET …/progression and …/tree)."""
    return {"progression": progression_status(community), "tree": tree_with_state(community)}
