"""Reads for the home page: public communities with their current target, in three queries
whatever their number (communities, their active progresses, the season totals)."""

from __future__ import annotations

from typing import Any

from django.db.models import Sum

from communities.models import Community, Visibility
from progression import events
from progression.models import PointsShard, UnlockProgress


def public_communities(limit: int = 100) -> list[dict[str, Any]]:
    communities = list(
        Community.objects.filter(visibility=Visibility.PUBLIC).order_by("name")[:limit]
    )
    ids = [c.pk for c in communities]
    active = {
        p.community_id: p
        for p in UnlockProgress.objects.select_related("node").filter(
            community_id__in=ids, status=UnlockProgress.Status.ACTIVE
        )
    }
    totals = dict(
        PointsShard.objects.filter(season_id__in=[p.season_id for p in active.values()])
        .values("season_id")
        .annotate(total=Sum("points"))
        .values_list("season_id", "total")
    )
    rows = []
    for community in communities:
        progress = active.get(community.pk)
        rows.append(
            {
                "slug": community.slug,
                "name": community.name,
                "progress": events.progress_payload(progress, totals.get(progress.season_id) or 0)
                if progress
                else None,
            }
        )
    return rows
