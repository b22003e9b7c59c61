"""Reads of jobs for the edges. The public state of one job comes from the progress cache
(every process shares it in real mode) with the row as the fallback and the truth."""

from __future__ import annotations

import uuid
from typing import Any

from django.db.models import QuerySet

from communities.models import Community
from jobs.errors import JobNotFound
from jobs.events import job_payload
from jobs.kinds import KINDS, describe_params
from jobs.models import Job
from jobs.progress_cache import progress_cache


def _uuid(job_id: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(job_id))
    except ValueError:
        raise JobNotFound() from None


def get_job(community: Community, job_id: str) -> Job:
    """The job, if it belongs to `community`: another community's job id is a 404."""
    job = Job.objects.select_related("community").filter(pk=_uuid(job_id), community=community)
    found = job.first()
    if found is None:
        raise JobNotFound()
    return found


def job_state(community: Community, job_id: str) -> dict[str, Any]:
    """The job's public state: cached if the cache has it, else read from the row (and cached,
    unless something newer got there first)."""
    key = str(_uuid(job_id))
    cached = progress_cache.load(key)
    if cached is not None and cached.get("community") == community.slug:
        return cached
    payload = job_payload(get_job(community, key))
    progress_cache.store(payload)
    return payload


def list_jobs(community: Community, *, status: str | None, kind: str | None) -> QuerySet[Job]:
    jobs = Job.objects.filter(community=community).select_related("community")
    if status:
        jobs = jobs.filter(status=status)
    if kind:
        jobs = jobs.filter(kind=kind)
    return jobs.order_by("-created_at", "-pk")


def job_kinds() -> list[dict[str, Any]]:
    """Every kind a moderator may start, with its stages and its parameters' form (read off
    the kind's declaration: the console keeps no list of its own)."""
    return [
        {
            "kind": kind.name,
            "label": kind.label or kind.name,
            "description": kind.description,
            "stages": [{"name": s.name, "weight": s.weight} for s in kind.stages],
            "params": describe_params(kind.params),
        }
        for kind in sorted(KINDS.values(), key=lambda k: k.name)
    ]
