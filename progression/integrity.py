"""check_integrity: every credited point is spent on an unlock, discarded by the cap (or a
season reset), or sitting in the active progress; the cap discarded nothing credited after a
target's crossing; one unlock per level; one active progress and at most one open vote per
community."""

from __future__ import annotations

from django.db import transaction
from django.db.models import Count, Sum

from communities.models import Community
from progression.models import (
    Contribution,
    PointsShard,
    Season,
    Unlock,
    UnlockProgress,
    Viewer,
    VoteSession,
)


def check_integrity(community: Community) -> list[str]:
    """Returns every breach found (empty when the books balance). Reads one snapshot."""
    breaches: list[str] = []
    from django.db import connection

    snapshot = connection.vendor == "postgresql" and not connection.in_atomic_block
    with transaction.atomic():
        if snapshot:  # one consistent view of every table (only possible as the first statement)
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        for season in Season.objects.filter(community=community).order_by("number"):
            breaches += _check_season(season)
        active = UnlockProgress.objects.filter(
            community=community, status=UnlockProgress.Status.ACTIVE
        ).count()
        if active != 1 and Season.objects.filter(community=community).exists():
            breaches.append(f"{active} active progresses (expected exactly 1)")
        open_votes = VoteSession.objects.filter(
            community=community, status__in=["open", "frozen"]
        ).count()
        if open_votes > 1:
            breaches.append(f"{open_votes} open votes (expected at most 1)")
        ledger_total = (
            Contribution.objects.filter(community=community).aggregate(p=Sum("points"))["p"] or 0
        )
        viewer_total = (
            Viewer.objects.filter(community=community).aggregate(p=Sum("points_total"))["p"] or 0
        )
        if ledger_total != viewer_total:
            breaches.append(f"viewer totals {viewer_total} != ledger {ledger_total}")
        breaches += _check_references(community)
    return breaches


def _check_references(community: Community) -> list[str]:
    """The ledger's community, season and progress columns carry no foreign-key constraint
    (thousands of checks per batch at commit, for rows that are never deleted on their own);
    the service writes them from the row it just read, and this proves it."""
    ledger = Contribution.objects.filter(community=community)
    out = []
    owned = {
        "season": Season.objects.filter(community=community).values("pk"),
        "progress": UnlockProgress.objects.filter(community=community).values("pk"),
    }
    for name, ids in owned.items():
        stray = ledger.exclude(**{f"{name}_id__in": ids}).count()
        if stray:
            out.append(f"{stray} ledger rows whose {name} is missing or another community's")
    return out


def _check_season(season: Season) -> list[str]:
    out: list[str] = []
    name = f"season {season.number}"
    ledger = Contribution.objects.filter(season=season).aggregate(p=Sum("points"), n=Count("pk"))
    shards = PointsShard.objects.filter(season=season).aggregate(p=Sum("points"), n=Sum("events"))
    credited = ledger["p"] or 0
    if credited != (shards["p"] or 0) or (ledger["n"] or 0) != (shards["n"] or 0):
        out.append(
            f"{name}: ledger {credited} points/{ledger['n']} events != counter {shards['p']}/{shards['n']}"
        )
    progresses = list(UnlockProgress.objects.filter(season=season).order_by("opened_at", "pk"))
    expected_offset = 0
    spent = discarded = 0
    for progress in progresses:
        if progress.offset != expected_offset:
            out.append(
                f"{name}: progress {progress.pk} starts at {progress.offset}, expected {expected_offset}"
            )
        if progress.status == UnlockProgress.Status.CLOSED:
            total = progress.spent + progress.discarded + progress.rolled_over
            if total != progress.accumulated_at_close:
                out.append(
                    f"{name}: progress {progress.pk} used {total} of {progress.accumulated_at_close} points"
                )
            unlock = Unlock.objects.filter(progress=progress).first()
            if progress.spent and (unlock is None or progress.spent != progress.cost):
                out.append(
                    f"{name}: progress {progress.pk} spent {progress.spent} without a matching unlock"
                )
            out += _check_crossing(name, progress)
            spent += progress.spent
            discarded += progress.discarded
            expected_offset = progress.offset + progress.spent + progress.discarded
    active = [p for p in progresses if p.status == UnlockProgress.Status.ACTIVE]
    in_progress = credited - active[0].offset if active else 0
    if in_progress < 0:
        out.append(f"{name}: active progress holds {in_progress} points")
    if credited != spent + discarded + in_progress:
        out.append(
            f"{name}: credited {credited} != spent {spent} + discarded {discarded} + in progress {in_progress}"
        )
    duplicates = (
        Unlock.objects.filter(season=season, relocked_at__isnull=True)
        .values("node__key", "level")
        .annotate(n=Count("pk"))
        .filter(n__gt=1)
    )
    for row in duplicates:
        out.append(f"{name}: {row['node__key']} L{row['level']} unlocked {row['n']} times")
    return out


def _check_crossing(name: str, progress: UnlockProgress) -> list[str]:
    """The rollover cap cuts only the crossing write's overshoot: a closed progress never
    discarded more than what lay between its cost and its crossing line."""
    if not progress.spent or progress.crossed_at_total is None:
        return []
    overshoot = progress.crossed_at_total - progress.offset - progress.spent
    if overshoot < 0 or progress.discarded > overshoot:
        return [
            f"{name}: progress {progress.pk} discarded {progress.discarded} with a crossing "
            f"overshoot of {overshoot}"
        ]
    return []
