"""The hot statement of jobs: recording a count (`progress.advance`), as one conditional UPDATE
that returns the row it wrote.

Why SQL of its own: a job advancing 10 times a second is written 10 times a second, and the ORM
cannot return the updated row. With `.update()` and a read-back, each count cost two
statements (plus BEGIN and COMMIT) and about 1.5 ms of Python building them; this statement is
written once at import, sent with `RETURNING`, and costs about 0.25 ms (docs/benchmarks.md,
"Jobs progress"). It is plain SQL that PostgreSQL and SQLite (≥ 3.35) both run; the rules it
keeps are the ones the ORM version kept, and `tests/jobs/test_transitions.py` holds them on both.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from django.db import connection

from communities.models import Community
from jobs.models import Job, Status

_FIELDS = [str(field.column) for field in Job._meta.concrete_fields]

# How a count treats its progress event:
# - "quiet": the count matches only while an event left within the coalescing interval; it
#   publishes nothing and leaves the coalescing marks alone;
# - "hold": the count is written whatever the interval, its event is left for a later count
#   or the heartbeat (the stream was busy);
# - "publish": the count also takes the event when it is due (the caller holds the stream lock
#   and publishes it).
Mode = Literal["quiet", "hold", "publish"]


def _statement(mode: Mode) -> str:
    q = connection.ops.quote_name
    table, community = q(Job._meta.db_table), q(Community._meta.db_table)
    due = f"({q('progress_published_at')} IS NULL OR {q('progress_published_at')} <= %(due)s)"
    marks = (
        ""
        if mode != "publish"
        else f""", {q("progress_published_at")} = CASE WHEN {due} THEN %(now)s
                  ELSE {q("progress_published_at")} END,
              {q("published_version")} = CASE WHEN {due} THEN {q("version")} + 1
                  ELSE {q("published_version")} END"""
    )
    only_quiet = f"AND {q('progress_published_at')} > %(due)s" if mode == "quiet" else ""
    returning = ", ".join(f"{table}.{q(column)}" for column in _FIELDS)
    # Only identifiers from the model's meta (quoted) go into the text; values are parameters.
    return f"""
        UPDATE {table}
        SET {q("current")} = %(current)s, {q("message")} = %(message)s,
            {q("heartbeat_at")} = %(now)s, {q("version")} = {q("version")} + 1 {marks}
        WHERE {q("id")} = %(id)s AND {q("runner")} = %(runner)s
          AND {q("status")} = %(running)s AND {q("cancel_requested_at")} IS NULL
          AND {q("stage")} = %(stage)s AND {q("current")} <= %(current)s
          AND {q("total")} >= %(current)s {only_quiet}
        RETURNING {returning},
          (SELECT {q("slug")} FROM {community} WHERE {community}.{q("id")} = {table}.{q("community_id")})
          AS community_slug
    """  # noqa: S608


_SQL: dict[tuple[str, Mode], str] = {}


def record_count(
    *,
    job_id: str,
    runner: str,
    stage: str,
    current: int,
    message: str,
    now: datetime,
    due: datetime,
    mode: Mode,
) -> Job | None:
    """Writes `current` units of `stage` if the run still owns the running, uncancelled job, the
    stage is the current one and `current` is neither backwards nor beyond the total; returns
    the row as written (its `community` holds the slug only), or None if nothing matched."""
    key = (connection.vendor, mode)
    if key not in _SQL:
        _SQL[key] = _statement(mode)
    adapt = connection.ops.adapt_datetimefield_value
    params = {
        "id": Job._meta.get_field("id").get_db_prep_value(job_id, connection),
        "runner": runner,
        "running": Status.RUNNING.value,
        "stage": stage,
        "current": current,
        "message": message[:300],
        "now": adapt(now),
        "due": adapt(due),
    }
    with connection.cursor() as cursor:
        cursor.execute(_SQL[key], params)
        row = cursor.fetchone()
    if row is None:
        return None
    *values, slug = row
    job = Job.from_db(connection.alias, _ATTNAMES, _from_db(values))
    job.community = Community.from_db(connection.alias, ["id", "slug"], [job.community_id, slug])
    return job


_ATTNAMES = [field.attname for field in Job._meta.concrete_fields]
_CONVERTERS: dict[str, list[tuple[Any, list[Any]]]] = {}


def _from_db(values: list[Any]) -> list[Any]:
    """The row's values as the ORM would give them (JSON decoded, SQLite's dates and UUIDs
    parsed): each field's database converters, worked out once per backend (what
    `QuerySet.raw` does on every call, at several times the cost of the statement)."""
    if connection.vendor not in _CONVERTERS:
        table = Job._meta.db_table
        _CONVERTERS[connection.vendor] = [
            (
                column := field.get_col(table),
                connection.ops.get_db_converters(column) + field.get_db_converters(connection),
            )
            for field in Job._meta.concrete_fields
        ]
    converted = []
    for value, (column, converters) in zip(values, _CONVERTERS[connection.vendor], strict=True):
        for convert in converters:
            value = convert(value, column, connection)
        converted.append(value)
    return converted
