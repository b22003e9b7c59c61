"""The statements that write engagement: viewers, the ledger. Raw SQL because they are the
hottest writes in the product: on PostgreSQL every batch's rows travel as one JSON parameter,
so each statement's text is the same for 1 or 5,000 events (nothing for the driver to rewrite
or the server to re-plan); SQLite (the embedded default) gets plain VALUES lists.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING

from django.db import connection

if TYPE_CHECKING:
    from progression.services.engagement import EngagementEvent

_VIEWER_UPSERT_TAIL = (
    "ON CONFLICT (community_id, platform_user_id) DO UPDATE SET "
    "display_name = CASE WHEN excluded.display_name <> '' THEN excluded.display_name "
    "ELSE progression_viewer.display_name END, "
    "points_total = progression_viewer.points_total + excluded.points_total, "
    "events_total = progression_viewer.events_total + excluded.events_total, "
    "last_seen_at = excluded.last_seen_at"
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
    "FROM json_array_elements(%s::json) WITH ORDINALITY AS r(v, ord) ORDER BY r.ord " + _LEDGER_TAIL
)


# One round trip: create the viewers seen for the first time (totals 0) and read every id. The
# read half sees the statement's snapshot, so a viewer that another batch created and committed
# while this statement waited on it is read again by `viewer_ids` (rare).
_VIEWER_IDS_JSON = (
    "WITH input AS (SELECT r.v->>0 AS pid, r.v->>1 AS name, r.ord "
    "FROM json_array_elements(%s::json) WITH ORDINALITY AS r(v, ord)), "
    "created AS (" + _VIEWER_COLUMNS + "SELECT %s, i.pid, i.name, 0, 0, %s, %s FROM input i "
    "ORDER BY i.ord ON CONFLICT (community_id, platform_user_id) DO NOTHING "
    "RETURNING id, platform_user_id) "
    "SELECT id, platform_user_id FROM created UNION ALL "
    # = ANY(ARRAY(...)): an index scan on (community, platform_user_id). A join with `input`
    # was planned as a hash join over every viewer of the community (4.7 ms for one event).
    "SELECT v.id, v.platform_user_id FROM progression_viewer v WHERE v.community_id = %s "
    "AND v.platform_user_id = ANY(ARRAY(SELECT i.pid FROM input i))"
)
SMALL_WRITE_VIEWERS = 20
_VIEWER_IDS_KNOWN_JSON = (
    "SELECT id, platform_user_id FROM progression_viewer WHERE community_id = %s "
    "AND platform_user_id = ANY(ARRAY(SELECT json_array_elements_text(%s::json)))"
)


def viewer_ids(community_id: int, events: list[EngagementEvent], now: datetime) -> dict[str, int]:
    """Creates the viewers seen for the first time (totals 0) and returns every viewer's id.

    Known viewers are read first with a plain SELECT: an INSERT … ON CONFLICT for them would
    wait on the unique index for every concurrent batch that is updating their totals (measured:
    0.9 PostgreSQL backends on average waiting so in the batch benchmark). Only the missing ones
    are inserted; a viewer another batch is creating right now is waited for, then read. A small
    write (a few single events) skips the first read: one round trip, and it rarely meets a
    concurrent batch's viewers."""
    names: dict[str, str] = {}
    for event in events:
        if event.display_name or event.platform_user_id not in names:
            names[event.platform_user_id] = event.display_name[:100]
    rows = sorted(names.items())
    pids = [pid for pid, _ in rows]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            ids: dict[str, int] = {}
            if len(pids) > SMALL_WRITE_VIEWERS:
                cursor.execute(_VIEWER_IDS_KNOWN_JSON, [community_id, json.dumps(pids)])
                ids = {pid: vid for vid, pid in cursor.fetchall()}
                if len(ids) == len(pids):
                    return ids
            new = [[pid, name] for pid, name in rows if pid not in ids]
            body = json.dumps(new, separators=(",", ":"))
            cursor.execute(_VIEWER_IDS_JSON, [body, community_id, now, now, community_id])
            ids.update({pid: vid for vid, pid in cursor.fetchall()})
            if len(ids) < len(pids):  # created meanwhile by a batch that committed first
                missing = [pid for pid in pids if pid not in ids]
                cursor.execute(_VIEWER_IDS_KNOWN_JSON, [community_id, json.dumps(missing)])
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


def add_to_viewers(
    community_id: int, events: list[EngagementEvent], points: dict[int, int], now: datetime
) -> None:
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


def _message_order(event: EngagementEvent) -> tuple[bool, str]:
    return (event.message_id is None, event.message_id or "")


def insert_ledger(
    community_id: int,
    season_id: int,
    progress_id: int,
    events: list[EngagementEvent],
    points: dict[int, int],
    viewer_ids: dict[str, int],
    now: datetime,
) -> set[str]:
    """Inserts the ledger rows; returns the message ids that were new (credited now).

    Rows go in message-id order: each insert waits on the unique (community, message_id) entry
    of a concurrent batch carrying the same id, so two batches with the same ids in opposite
    orders would otherwise deadlock (two bots, or two merged groups, retrying the same chat)."""
    events = sorted(events, key=_message_order)
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
