"""What follows every write of a job, in the writer's transaction: the event (if any) into the
outbox, and the new state into the progress cache once the transaction commits.

One lock order for every job write that publishes: the community's stream row first
(`realtime.lock_stream`), the job row after. A pipeline stage publishes (board cards) and then
records its checkpoint on the job row in one transaction; a heartbeat, a cancel or the reaper
used to write the job row first and publish after: two writers taking the two locks in
opposite orders deadlocked. So a write that publishes (or may: a count whose event is due)
takes the stream lock before it touches the job row, with the community id the run or the job
it was given carries (no query for it). A write that publishes nothing and is its own
transaction (a count inside the coalescing interval, the heartbeat itself) is one statement on
the job row alone: it may wait for that row, but holds nothing anyone else waits for while it
does, so it cannot close a cycle and takes no stream lock. `tests/jobs/test_lock_order.py`
races both kinds of writer against a stage's checkpoint on PostgreSQL.
"""

from __future__ import annotations

from django.db import transaction

from jobs import events
from jobs.models import Job
from jobs.progress_cache import progress_cache
from realtime import lock_stream, publish


def lock_stream_of(job_id: str) -> None:
    """The stream lock for a writer that has only the job's id (a claim: once per run)."""
    community_id = Job.objects.filter(pk=job_id).values_list("community_id", flat=True).first()
    if community_id is not None:
        lock_stream(community_id)


def written(job_id: str, event_type: str | None) -> Job:
    """Reads the row just written (the writer's transaction sees it) and publishes it."""
    return announce(Job.objects.select_related("community").get(pk=job_id), event_type)


def announce(job: Job, event_type: str | None) -> Job:
    """Publishes `job` as read inside the writer's transaction (if `event_type`), and caches
    it after commit. Progress events carry a per-job coalesce key (a slow client keeps only
    the newest); created and terminal events have none, so they are always delivered."""
    payload = events.job_payload(job)
    if event_type is not None:
        coalesce = f"job:{job.pk}" if event_type == events.JOB_PROGRESSED else ""
        publish(job.community, events.TOPIC, event_type, payload, coalesce_key=coalesce)
    transaction.on_commit(lambda: progress_cache.store(payload))
    return job
