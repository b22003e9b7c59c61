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


def settings_key(community_id: int) -> str:
    return f"progression-settings:{community_id}"


def settings_for(community_id: int) -> ProgressionSettings:
    def load() -> ProgressionSettings:
        found = ProgressionSettings.objects.filter(community_id=community_id).first()
        return found or ProgressionSettings(community_id=community_id)

    return cache.cached(settings_key(community_id), load)


def open_season(community: Community) -> Season:
    """The open season, created (with its shards and first progress) on first use."""
    season = Season.objects.filter(community=community, ended_at__isnull=True).first()
    if season is not None:
        return season
    try:
        with transaction.atomic():
            number = (Season.objects.filter(community=community).count()) + 1
            season = Season.objects.create(community=community, number=number)
            PointsShard.objects.bulk_create(
                [PointsShard(season=season, shard=i) for i in range(SHARDS)]
            )
            UnlockProgress.objects.create(community=community, season=season, offset=0)
    except IntegrityError:  # another request opened it first
        season = Season.objects.get(community=community, ended_at__isnull=True)
    return season


def active_state(community: Community) -> ActiveState:
    row = (
        UnlockProgress.objects.filter(community=community, status=UnlockProgress.Status.ACTIVE)
        .values_list("season_id", "pk", "offset", "cost", "node_id", "level")
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
            'SELECT p.season_id, p.id, p."offset", p.cost, p.node_id, p.level, '
            "(SELECT COALESCE(SUM(s.points), 0) FROM progression_pointsshard s WHERE s.season_id = p.season_id) "
            "FROM progression_unlockprogress p WHERE p.community_id = %s AND p.status = 'active'",
            [community.pk],
        )
        row = cursor.fetchone()
    if row is None:
        state = active_state(community)
        return state, season_total(state.season_id)
    return ActiveState(*row[:6]), int(row[6])


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
