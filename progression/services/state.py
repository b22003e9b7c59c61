"""A community's progression state: its open season, active progress and settings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, connection, transaction

from communities.models import Community
from progression import cache
from progression.models import SHARDS, PointsShard, ProgressionSettings, Season, UnlockProgress
from progression.selectors import season_total  # one home for reads; writers import it here


@dataclass(frozen=True)
class ActiveState:
    season_id: int
    progress_id: int
    offset: int
    cost: int | None
    node_id: int | None
    level: int | None
    crossed_at_total: int | None = None


def settings_key(community_id: int) -> str:
    return f"progression-settings:{community_id}"


def settings_for(community_id: int) -> ProgressionSettings:
    def load() -> ProgressionSettings:
        found = ProgressionSettings.objects.filter(community_id=community_id).first()
        return found or ProgressionSettings(community_id=community_id)

    return cache.cached(settings_key(community_id), load)


def start_season(community: Community, number: int) -> tuple[Season, UnlockProgress]:
    """Writes a new season: the row, its shards and its first (target-less) progress. The one
    home for what a season starts with; the caller holds the transaction."""
    season = Season.objects.create(community=community, number=number)
    PointsShard.objects.bulk_create([PointsShard(season=season, shard=i) for i in range(SHARDS)])
    progress = UnlockProgress.objects.create(community=community, season=season, offset=0)
    return season, progress


def open_season(community: Community) -> Season:
    """The open season, created (with its shards and first progress) on first use."""
    season = Season.objects.filter(community=community, ended_at__isnull=True).first()
    if season is not None:
        return season
    try:
        with transaction.atomic():
            number = (Season.objects.filter(community=community).count()) + 1
            season, _ = start_season(community, number)
    except IntegrityError:  # another request opened it first
        season = Season.objects.get(community=community, ended_at__isnull=True)
    return season


def active_state(community: Community) -> ActiveState:
    row = (
        UnlockProgress.objects.filter(community=community, status=UnlockProgress.Status.ACTIVE)
        .values_list("season_id", "pk", "offset", "cost", "node_id", "level", "crossed_at_total")
        .first()
    )
    if row is None:
        from progression.services.unlocks import ensure_target

        ensure_target(community.pk)  # opens the first season and picks its first target
        return active_state(community)
    return ActiveState(*row)


def active_state_with_total(community: Community) -> tuple[ActiveState, int]:
    """The active progress and the season's credited total, in one round trip (hot path)."""
    with connection.cursor() as cursor:
        cursor.execute(
            'SELECT p.season_id, p.id, p."offset", p.cost, p.node_id, p.level, p.crossed_at_total, '
            "(SELECT COALESCE(SUM(s.points), 0) FROM progression_pointsshard s WHERE s.season_id = p.season_id) "
            "FROM progression_unlockprogress p WHERE p.community_id = %s AND p.status = 'active'",
            [community.pk],
        )
        row = cursor.fetchone()
    if row is None:
        state = active_state(community)
        return state, season_total(state.season_id)
    return ActiveState(*row[:7]), int(row[7])


def _locked() -> Any:
    """FOR NO KEY UPDATE: excludes other writers of the row but not the key-share locks that
    ledger inserts take through their foreign key, so ingestion never waits for an unlock."""
    return UnlockProgress.objects.select_for_update(of=("self",), no_key=True).select_related(
        "node", "season"
    )


def lock_progress(progress_id: int) -> UnlockProgress | None:
    return _locked().filter(pk=progress_id, status=UnlockProgress.Status.ACTIVE).first()


def lock_active_progress(community_id: int) -> UnlockProgress | None:
    """Every transaction that changes targets or votes takes this lock first: one lock order
    (progress, then stream, then vote session) so unlocks and moderators never deadlock."""
    return _locked().filter(community_id=community_id, status=UnlockProgress.Status.ACTIVE).first()


_NOTE_CROSSING_PG = (
    "UPDATE progression_unlockprogress SET crossed_at_total = %s WHERE id = ("
    "SELECT id FROM progression_unlockprogress WHERE id = %s AND status = 'active' "
    "AND crossed_at_total IS NULL FOR NO KEY UPDATE SKIP LOCKED)"
)


def note_crossing(progress_id: int, total: int) -> bool:
    """Records `total` as the progress's crossing line (the caller saw its target full at
    `total`: accounting.is_full) unless a line is recorded already. Returns whether this call
    recorded it.

    At most one write per progress ever changes the row (the condition `IS NULL`), so it never
    becomes a hot row. On PostgreSQL a row already locked (an unlock running, or another write
    recording its crossing right now) is skipped, not waited for: engagement never waits on an
    unlock; the unlock then draws the line itself (see accounting.split_on_unlock)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(_NOTE_CROSSING_PG, [total, progress_id])
            return cursor.rowcount == 1
    # SQLite: one writer at a time, nothing to skip.
    open_line = UnlockProgress.objects.filter(
        pk=progress_id, status=UnlockProgress.Status.ACTIVE, crossed_at_total__isnull=True
    )
    return open_line.update(crossed_at_total=total) == 1
