"""What follows every write of a job, in the writer's transaction: the event (if any) into the
outbox, and the new state into the progress cache once the transaction commits."""

from __future__ import annotations

from django.db import transaction

from jobs import events
from jobs.models import Job
from jobs.progress_cache import progress_cache
from realtime import lock_stream, publish


def lock_stream_of(job_id: str) -> None:
    """Every transaction that writes a job row and may publish takes the community's stream
    lock first. A pipeline stage publishes (board cards) and then records its checkpoint on the
    job row; a heartbeat, a cancel or the reaper wrote the job row and then published: two
    writers taking the two locks in opposite orders deadlocked. Stream first, job after, always.
    """
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
