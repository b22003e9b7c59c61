"""Reconciliation: every active progress whose points are already there gets its unlock."""

from __future__ import annotations

import logging

from django.db.models import OuterRef, Subquery, Sum

from progression.models import PointsShard, UnlockProgress

logger = logging.getLogger(__name__)


def crossed_progress_ids() -> list[int]:
    totals = (
        PointsShard.objects.filter(season_id=OuterRef("season_id"))
        .values("season_id")
        .annotate(t=Sum("points"))
        .values("t")
    )
    rows = (
        UnlockProgress.objects.filter(status=UnlockProgress.Status.ACTIVE, cost__isnull=False)
        .annotate(total=Subquery(totals))
        .values_list("pk", "offset", "cost", "total")
    )
    return [
        pk for pk, offset, cost, total in rows if cost is not None and (total or 0) - offset >= cost
    ]


def enqueue_crossed() -> int:
    from progression.tasks import unlock_target_task

    ids = crossed_progress_ids()
    for progress_id in ids:
        logger.warning("reconcile: progress %s is full without an unlock; enqueueing", progress_id)
        unlock_target_task.delay(progress_id)
    return len(ids)
