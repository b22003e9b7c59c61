"""record_engagement: chat engagement in, points credited once, threshold crossing detected.

A batch is written in one transaction with a fixed number of statements whatever its size:
upsert the viewers, insert the ledger rows (a repeated message id inserts nothing), add the
points to one random shard of the season's counter, read the season's total. Concurrent batches
touch different shards, so there is no single row every message must queue on.
"""

from __future__ import annotations

import json
import logging
import math
import random
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from communities.models import Community
from progression import ratelimit, tasks_on_commit
from progression.models import SHARDS, PointsShard
from progression.services.state import (
    active_state,
    active_state_with_total,
    settings_for,
)
from progression.tree_state import contribution_multiplier
from progression.weights import weights_for

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class EngagementEvent:
    index: int  # position in the request, so outcomes line up with what the bot sent
    platform_user_id: str
    metric: str
    value: int = 1
    display_name: str = ""
    message_id: str | None = None
    occurred_at: datetime | None = None


@dataclass
class Outcome:
    index: int
    status: str  # accepted | duplicate | rate_limited | invalid
    points: int = 0
    reason: str = ""


@dataclass
class EngagementResult:
    outcomes: list[Outcome]
    credited: int
    progress_id: int
    accumulated: int
    cost: int | None
    counts: dict[str, int] = field(default_factory=dict)


def record_engagement(community: Community, events: list[EngagementEvent]) -> EngagementResult:
    weights = weights_for(community.pk)
    outcomes: dict[int, Outcome] = {}
    known = []
    for event in events:
        if event.metric not in weights:
            outcomes[event.index] = Outcome(
                event.index, "invalid", reason=f"unknown metric {event.metric!r}"
            )
        else:
            known.append(event)
    fresh = _drop_repeats_in_batch(known, outcomes)
    allowed = _apply_rate_limits(community.pk, fresh, outcomes)
    state = active_state(community)
    multiplier = contribution_multiplier(community.pk, state.season_id)
    credited = 0
    if allowed:
        with transaction.atomic():
            credited = _credit(
                community,
                state.season_id,
                state.progress_id,
                allowed,
                weights,
                multiplier,
                outcomes,
            )
            if credited:
                tasks_on_commit.progress_changed(community.pk)
    # Read after commit: batches committing together each see the others' points here, so
    # whichever commits last notices the crossing (and an unlock meanwhile moved the target).
    state, total = active_state_with_total(community)
    if state.cost is not None and total - state.offset >= state.cost:
        tasks_on_commit.unlock_due(state.progress_id)
    ordered = [outcomes[event.index] for event in events]
    counts: dict[str, int] = defaultdict(int)
    for outcome in ordered:
        counts[outcome.status] += 1
    return EngagementResult(
        outcomes=ordered,
        credited=credited,
        progress_id=state.progress_id,
        accumulated=total - state.offset,
        cost=state.cost,
        counts=dict(counts),
    )


def record_engagement_together(
    community: Community, requests: list[list[EngagementEvent]]
) -> list[EngagementResult]:
    """Several requests' events credited as one batch (one transaction, one shard update),
    each request answered with its own outcomes. Requests are taken in order, so when two
    carry the same message id the earlier one is credited."""
    if len(requests) == 1:
        return [record_engagement(community, requests[0])]
    merged: list[EngagementEvent] = []
    owners: list[tuple[int, int]] = []  # merged position -> (request, index in the request)
    for number, events in enumerate(requests):
        for e in events:
            owners.append((number, e.index))
            merged.append(
                EngagementEvent(
                    len(merged),
                    e.platform_user_id,
                    e.metric,
                    e.value,
                    e.display_name,
                    e.message_id,
                    e.occurred_at,
                )
            )
    result = record_engagement(community, merged)
    per_request: list[list[Outcome]] = [[] for _ in requests]
    for o in result.outcomes:
        number, index = owners[o.index]
        per_request[number].append(Outcome(index, o.status, o.points, o.reason))
    answers = []
    for outcomes in per_request:
        counts: dict[str, int] = defaultdict(int)
        for outcome in outcomes:
            counts[outcome.status] += 1
        answers.append(
            EngagementResult(
                outcomes=outcomes,
                credited=sum(o.points for o in outcomes if o.status == "accepted"),
                progress_id=result.progress_id,
                accumulated=result.accumulated,
                cost=result.cost,
                counts=dict(counts),
            )
        )
    return answers


def _drop_repeats_in_batch(
    events: list[EngagementEvent], outcomes: dict[int, Outcome]
) -> list[EngagementEvent]:
    seen: set[str] = set()
    kept = []
    for event in events:
        if event.message_id is not None and event.message_id in seen:
            outcomes[event.index] = Outcome(
                event.index, "duplicate", reason="repeated in this batch"
            )
            continue
        if event.message_id is not None:
            seen.add(event.message_id)
        kept.append(event)
    return kept


def _apply_rate_limits(
    community_id: int, events: list[EngagementEvent], outcomes: dict[int, Outcome]
) -> list[EngagementEvent]:
    if not events:
        return []
    limits = settings_for(community_id)
    per_viewer: dict[str, list[EngagementEvent]] = defaultdict(list)
    for event in events:
        per_viewer[event.platform_user_id].append(event)
    viewers = list(per_viewer)
    granted, community_granted = ratelimit.take_for_viewers(
        f"c:{community_id}",
        [f"v:{community_id}:{pid}" for pid in viewers],
        [len(per_viewer[pid]) for pid in viewers],
        viewer_rate=limits.viewer_rate,
        viewer_burst=limits.viewer_burst,
        community_rate=limits.community_rate,
        community_burst=limits.community_burst,
    )
    passed: set[int] = set()
    for pid, count in zip(viewers, granted, strict=True):
        passed.update(event.index for event in per_viewer[pid][:count])
    candidates = [event for event in events if event.index in passed]
    allowed = candidates[:community_granted]
    allowed_ids = {event.index for event in allowed}
    for event in events:
        if event.index not in allowed_ids:
            scope = "viewer" if event.index not in passed else "community"
            outcomes[event.index] = Outcome(
                event.index, "rate_limited", reason=f"{scope} rate limit"
            )
    if len(allowed) < len(events):
        logger.warning(
            "engagement rate limited community=%s refused=%d of %d",
            community_id,
            len(events) - len(allowed),
            len(events),
        )
    return allowed


def _points(event: EngagementEvent, weights: dict[str, Decimal], multiplier: Decimal) -> int:
    return math.floor(Decimal(event.value) * weights[event.metric] * multiplier)


def _credit(
    community: Community,
    season_id: int,
    progress_id: int,
    events: list[EngagementEvent],
    weights: dict[str, Decimal],
    multiplier: Decimal,
    outcomes: dict[int, Outcome],
) -> int:
    now = timezone.now()
    memo: dict[tuple[str, int], int] = {}  # most events are (message, 1): one Decimal sum each
    points = {}
    for event in events:
        key = (event.metric, event.value)
        if key not in memo:
            memo[key] = _points(event, weights, multiplier)
        points[event.index] = memo[key]
    # Order matters for concurrent writers: nothing below locks an existing viewer row until the
    # totals are added, last, just before commit; so batches sharing viewers overlap their
    # ledger inserts and queue only for that short final statement (sorted: no deadlocks).
    viewer_ids = _viewer_ids(community.pk, events, now)
    inserted = _insert_ledger(community.pk, season_id, progress_id, events, points, viewer_ids, now)
    credited = 0
    accepted: list[EngagementEvent] = []
    for event in events:
        if event.message_id is None or event.message_id in inserted:
            outcomes[event.index] = Outcome(event.index, "accepted", points=points[event.index])
            credited += points[event.index]
            accepted.append(event)
        else:
            outcomes[event.index] = Outcome(
                event.index, "duplicate", reason="message already credited"
            )
    if accepted:
        PointsShard.objects.filter(season_id=season_id, shard=random.randrange(SHARDS)).update(  # noqa: S311
            points=F("points") + credited, events=F("events") + len(accepted)
        )
        _upsert_viewers(community.pk, accepted, points, now)
    return credited


_VIEWER_UPSERT_TAIL = (
    "ON CONFLICT (community_id, platform_user_id) DO UPDATE SET "
    "display_name = CASE WHEN excluded.display_name <> '' THEN excluded.display_name "
    "ELSE progression_viewer.display_name END, "
    "points_total = progression_viewer.points_total + excluded.points_total, "
    "events_total = progression_viewer.events_total + excluded.events_total, "
    "last_seen_at = excluded.last_seen_at "
    "RETURNING id, platform_user_id"
)
_VIEWER_COLUMNS = (
    "INSERT INTO progression_viewer (community_id, platform_user_id, display_name, "
    "points_total, events_total, first_seen_at, last_seen_at) "
)
# PostgreSQL: the rows travel as one JSON parameter, so the statement text is the same for 1 or
# 1,000 events (no 10,000-placeholder statement for the driver to rewrite and the server to
# plan) and the driver quotes one string instead of formatting thousands of values.
_VIEWER_UPSERT_JSON = (
    _VIEWER_COLUMNS + "SELECT %s, r.v->>0, r.v->>1, (r.v->>2)::bigint, (r.v->>3)::bigint, %s, %s "
    "FROM json_array_elements(%s::json) WITH ORDINALITY AS r(v, ord) ORDER BY r.ord "
    + _VIEWER_UPSERT_TAIL
)
_LEDGER_COLUMNS = (
    "INSERT INTO progression_contribution (community_id, season_id, viewer_id, progress_id, "
    "metric, value, points, message_id, occurred_at, created_at) "
)
_LEDGER_TAIL = (
    "ON CONFLICT (community_id, message_id) WHERE message_id IS NOT NULL DO NOTHING "
    "RETURNING message_id"
)
_LEDGER_INSERT_JSON = (
    _LEDGER_COLUMNS + "SELECT %s, %s, (r.v->>0)::bigint, %s, r.v->>1, (r.v->>2)::bigint, "
    "(r.v->>3)::bigint, r.v->>4, COALESCE((r.v->>5)::timestamptz, %s), %s "
    "FROM json_array_elements(%s::json) AS r(v) " + _LEDGER_TAIL
)


# One round trip: create the viewers seen for the first time (totals 0) and read every id. The
# read half sees the statement's snapshot, so a viewer that another batch created and committed
# while this statement waited on it is read again by `_viewer_ids` (rare).
_VIEWER_IDS_JSON = (
    "WITH input AS (SELECT r.v->>0 AS pid, r.v->>1 AS name, r.ord "
    "FROM json_array_elements(%s::json) WITH ORDINALITY AS r(v, ord)), "
    "created AS (" + _VIEWER_COLUMNS + "SELECT %s, i.pid, i.name, 0, 0, %s, %s FROM input i "
    "ORDER BY i.ord ON CONFLICT (community_id, platform_user_id) DO NOTHING "
    "RETURNING id, platform_user_id) "
    "SELECT id, platform_user_id FROM created UNION ALL "
    "SELECT v.id, v.platform_user_id FROM progression_viewer v JOIN input i "
    "ON v.platform_user_id = i.pid WHERE v.community_id = %s"
)
_VIEWER_IDS_AGAIN_JSON = (
    "SELECT id, platform_user_id FROM progression_viewer WHERE community_id = %s "
    "AND platform_user_id IN (SELECT json_array_elements_text(%s::json))"
)


def _viewer_ids(community_id: int, events: list[EngagementEvent], now: datetime) -> dict[str, int]:
    """Creates the viewers seen for the first time (totals 0) and returns every viewer's id.
    Existing rows are only read, never locked; a viewer another batch is creating right now
    is waited for (the unique index) and then read."""
    names: dict[str, str] = {}
    for event in events:
        if event.display_name or event.platform_user_id not in names:
            names[event.platform_user_id] = event.display_name[:100]
    rows = sorted(names.items())
    pids = [pid for pid, _ in rows]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            body = json.dumps(rows, separators=(",", ":"))
            cursor.execute(_VIEWER_IDS_JSON, [body, community_id, now, now, community_id])
            ids = {pid: vid for vid, pid in cursor.fetchall()}
            if len(ids) < len(pids):  # created meanwhile by a batch that committed first
                missing = [pid for pid in pids if pid not in ids]
                cursor.execute(_VIEWER_IDS_AGAIN_JSON, [community_id, json.dumps(missing)])
                ids.update({pid: vid for vid, pid in cursor.fetchall()})
            return ids
        else:
            placeholders = ",".join(["(%s,%s,%s,0,0,%s,%s)"] * len(rows))
            params: list = []
            for pid, name in rows:
                params += [community_id, pid, name, now, now]
            cursor.execute(
                f"{_VIEWER_COLUMNS}VALUES {placeholders} "
                "ON CONFLICT (community_id, platform_user_id) DO NOTHING",
                params,
            )
            marks = ",".join(["%s"] * len(pids))
            cursor.execute(
                "SELECT id, platform_user_id FROM progression_viewer "
                f"WHERE community_id = %s AND platform_user_id IN ({marks})",
                [community_id, *pids],
            )
        return {pid: vid for vid, pid in cursor.fetchall()}


def _upsert_viewers(
    community_id: int, events: list[EngagementEvent], points: dict[int, int], now: datetime
) -> dict[str, int]:
    """Adds the credited events to the viewers' totals (and names), in a fixed order (no
    deadlocks). An upsert, so it is also correct for a viewer nobody created yet."""
    totals: dict[str, list] = {}
    for event in events:
        entry = totals.setdefault(event.platform_user_id, [event.display_name, 0, 0])
        if event.display_name:
            entry[0] = event.display_name
        entry[1] += points[event.index]
        entry[2] += 1
    rows = sorted(totals.items())
    if connection.vendor == "postgresql":
        sql = _VIEWER_UPSERT_JSON
        body = [[pid, name[:100], pts, count] for pid, (name, pts, count) in rows]
        params: list = [community_id, now, now, json.dumps(body, separators=(",", ":"))]
    else:
        placeholders = ",".join(["(%s,%s,%s,%s,%s,%s,%s)"] * len(rows))
        params = []
        for pid, (name, pts, count) in rows:
            params += [community_id, pid, name[:100], pts, count, now, now]
        sql = f"{_VIEWER_COLUMNS}VALUES {placeholders} {_VIEWER_UPSERT_TAIL}"
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {pid: vid for vid, pid in cursor.fetchall()}


def _insert_ledger(
    community_id: int,
    season_id: int,
    progress_id: int,
    events: list[EngagementEvent],
    points: dict[int, int],
    viewer_ids: dict[str, int],
    now: datetime,
) -> set[str]:
    """Inserts the ledger rows; returns the message ids that were new (credited now)."""
    if connection.vendor == "postgresql":
        sql = _LEDGER_INSERT_JSON
        body = [
            [
                viewer_ids[e.platform_user_id],
                e.metric,
                e.value,
                points[e.index],
                e.message_id,
                e.occurred_at.isoformat() if e.occurred_at else None,
            ]
            for e in events
        ]
        params: list = [
            community_id,
            season_id,
            progress_id,
            now,
            now,
            json.dumps(body, separators=(",", ":")),
        ]
    else:
        placeholders = ",".join(["(%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)"] * len(events))
        params = []
        for event in events:
            params += [
                community_id,
                season_id,
                viewer_ids[event.platform_user_id],
                progress_id,
                event.metric,
                event.value,
                points[event.index],
                event.message_id,
                event.occurred_at or now,
                now,
            ]
        sql = f"{_LEDGER_COLUMNS}VALUES {placeholders} {_LEDGER_TAIL}"
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {mid for (mid,) in cursor.fetchall() if mid is not None}
