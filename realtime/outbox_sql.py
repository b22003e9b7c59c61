"""The hot statements of publishing, written once as SQL: the stream lock, the next id, the
outbox row, the dispatched mark.

Why SQL of its own: every published event ran them through the ORM, whose query building cost
about 1.5 ms of Python per event, several times what the statements cost PostgreSQL (a job
advancing 10 times a second publishes up to 5 events a second; docs/benchmarks.md, "Jobs
progress"). The statements are the ones the ORM sent, so the rules stay where they were:
`realtime.services.publish` (locks, ids in commit order with no holes, heads). They are plain
SQL that PostgreSQL and SQLite both run; SQLite has no row locks (its transactions take the
database's write lock at BEGIN, `transaction_mode = IMMEDIATE`), so `FOR UPDATE` is left out
there, as the ORM leaves it out.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import connection, transaction

from communities.models import Community
from realtime.models import OutboxEvent, Stream
from realtime.topics import ALL_TOPICS

_HEADS = [f"head_{topic}" for topic in ALL_TOPICS]
_cache: dict[tuple[str, str], str] = {}


def _sql(name: str) -> str:
    key = (connection.vendor, name)
    if key not in _cache:
        _cache[key] = _build(name)  # the same text whichever thread builds it first
    return _cache[key]


def _build(name: str) -> str:
    q = connection.ops.quote_name
    stream, outbox = q(Stream._meta.db_table), q(OutboxEvent._meta.db_table)
    for_update = " FOR UPDATE" if connection.features.has_select_for_update else ""
    skip_locked = (
        " FOR UPDATE SKIP LOCKED" if connection.features.has_select_for_update_skip_locked else ""
    )
    pk = q("community_id")
    # Only identifiers from the models' meta (quoted) go into the text; values are parameters.
    if name == "lock":
        selected = ", ".join(q(c) for c in ["last_id", *_HEADS])
        return f"SELECT {selected} FROM {stream} WHERE {pk} = %s{for_update}"  # noqa: S608
    if name == "try_lock":
        return f"SELECT {pk} FROM {stream} WHERE {pk} = %s{skip_locked}"  # noqa: S608
    if name == "exists":
        return f"SELECT 1 FROM {stream} WHERE {pk} = %s"  # noqa: S608
    if name.startswith("advance:"):
        head = q(f"head_{name.split(':', 1)[1]}")
        return f"UPDATE {stream} SET {q('last_id')} = %s, {head} = %s WHERE {pk} = %s"  # noqa: S608
    if name == "insert":
        columns = [
            "community_id", "event_id", "topic", "type", "data", "prev", "coalesce_key",
            "created_at",
        ]  # fmt: skip
        names = ", ".join(q(c) for c in columns)
        marks = ", ".join(["%s"] * len(columns))
        return f"INSERT INTO {outbox} ({names}) VALUES ({marks}) RETURNING {q('id')}"  # noqa: S608
    if name == "dispatched":
        return (
            f"UPDATE {outbox} SET {q('dispatched_at')} = %s "  # noqa: S608
            f"WHERE {q('id')} = %s AND {q('dispatched_at')} IS NULL"
        )
    raise KeyError(name)


def lock_heads(community_id: int) -> tuple[int, dict[str, int]] | None:
    """Locks the community's stream row until the transaction ends; its last id and the heads
    of every topic, or None if the community has no stream row yet."""
    with connection.cursor() as cursor:
        cursor.execute(_sql("lock"), [community_id])
        row = cursor.fetchone()
    if row is None:
        return None
    last_id, *heads = row
    return last_id, dict(zip(ALL_TOPICS, heads, strict=True))


def try_lock(community_id: int) -> bool | None:
    """True if the stream row is now locked by this transaction, False if another holds it,
    None if the community has no stream row yet."""
    with connection.cursor() as cursor:
        cursor.execute(_sql("try_lock"), [community_id])
        if cursor.fetchone() is not None:
            return True
        cursor.execute(_sql("exists"), [community_id])
        return False if cursor.fetchone() is not None else None


def append(
    *,
    community: Community,
    event_id: int,
    topic: str,
    type: str,
    data: Any,
    prev: dict[str, int],
    coalesce_key: str,
    created_at: datetime,
) -> OutboxEvent:
    """Moves the stream to `event_id` (the caller holds its lock) and writes the outbox row.

    As the ORM's writes do, a failure here marks the writer's transaction for rollback: a caller
    that caught it could otherwise commit the stream moved on without the event (a hole in the
    ids). The values are made ready first, so data that cannot be stored fails before anything
    is written."""
    fields = OutboxEvent._meta
    insert = [
        community.pk,
        event_id,
        topic,
        type,
        fields.get_field("data").get_db_prep_save(data, connection),
        fields.get_field("prev").get_db_prep_save(prev, connection),
        coalesce_key,
        fields.get_field("created_at").get_db_prep_save(created_at, connection),
    ]
    with transaction.mark_for_rollback_on_error(), connection.cursor() as cursor:
        cursor.execute(_sql(f"advance:{topic}"), [event_id, event_id, community.pk])
        cursor.execute(_sql("insert"), insert)
        (pk,) = cursor.fetchone()
    row = OutboxEvent(
        id=pk,
        community=community,
        event_id=event_id,
        topic=topic,
        type=type,
        data=data,
        prev=prev,
        coalesce_key=coalesce_key,
        created_at=created_at,
    )
    row._state.adding = False
    row._state.db = connection.alias
    return row


def mark_dispatched(pk: int, at: datetime) -> None:
    field = OutboxEvent._meta.get_field("dispatched_at")
    with connection.cursor() as cursor:
        cursor.execute(_sql("dispatched"), [field.get_db_prep_save(at, connection), pk])
