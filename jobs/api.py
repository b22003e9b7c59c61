"""HTTP edge of jobs. Jobs are for the community's members and moderators (and tokens with
`read`): never public, whatever the community's visibility; creating, cancelling and retrying
are for moderators (and tokens with `admin`)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Query, Router, Status

from communities.errors import InvalidInput
from communities.models import Community
from communities.permissions import Action, require
from communities.selectors import get_community
from config.schemas import READ_ERRORS, WRITE_ERRORS, errors
from jobs import selectors, services
from jobs.events import job_payload
from jobs.schemas import KIND_PATTERN, JobIn, JobKindList, JobOut, JobPage, StatusName

router = Router(tags=["jobs"])
_WRITE = errors(WRITE_ERRORS)
_READ = errors(READ_ERRORS)
_LIMIT = Query(20, ge=1, le=100)
_OFFSET = Query(0, ge=0, le=1_000_000)
_STATUS = Query(None)
_KIND = Query(None, max_length=50, pattern=KIND_PATTERN)


def _community(request: HttpRequest, slug: str, action: Action) -> Community:
    community = get_community(slug)
    require(request.actor, action, community)  # type: ignore[attr-defined]
    return community


@router.post(
    "/{slug}/jobs",
    response={201: JobOut, **_WRITE},
    summary="Moderators: start a job (kind and parameters validated)",
)
def post_job(request: HttpRequest, slug: str, payload: JobIn | None = None) -> Any:
    community = _community(request, slug, Action.MODERATE)  # 404/403 before the body
    if payload is None:
        raise InvalidInput("A job needs a kind.", fields={"kind": ["required"]})
    job = services.create_job(
        community,
        payload.kind,
        payload.params,
        actor=request.actor,  # type: ignore[attr-defined]
    )
    return Status(201, job_payload(job))


@router.get(
    "/{slug}/jobs",
    response={200: JobPage, **_READ},
    summary="Members: the community's jobs, newest first (filter by status and kind)",
)
def get_jobs(
    request: HttpRequest,
    slug: str,
    status: StatusName | None = _STATUS,
    kind: str | None = _KIND,
    limit: int = _LIMIT,
    offset: int = _OFFSET,
) -> Any:
    jobs = selectors.list_jobs(
        _community(request, slug, Action.READ_MEMBERS), status=status, kind=kind
    )
    page = jobs[offset : offset + limit]
    return {
        "items": [job_payload(job) for job in page],
        "count": jobs.count(),
        "limit": limit,
        "offset": offset,
    }


@router.get(
    "/{slug}/job-kinds",
    response={200: JobKindList, **_READ},
    summary="Members: the kinds of job, their stages and their parameters (for a start form)",
)
def get_job_kinds(request: HttpRequest, slug: str) -> Any:
    _community(request, slug, Action.READ_MEMBERS)
    return {"kinds": selectors.job_kinds()}


@router.get(
    "/{slug}/jobs/{job_id}",
    response={200: JobOut, **_READ},
    summary="Members: a job's status and progress (reload-safe: the latest state at once)",
)
def get_job(request: HttpRequest, slug: str, job_id: str) -> Any:
    return selectors.job_state(_community(request, slug, Action.READ_MEMBERS), job_id)


@router.post(
    "/{slug}/jobs/{job_id}/cancel",
    response={200: JobOut, **_WRITE},
    summary="Moderators: cancel a job (queued: at once; running: at its next unit of work)",
)
def post_cancel(request: HttpRequest, slug: str, job_id: str) -> Any:
    community = _community(request, slug, Action.MODERATE)
    return job_payload(services.request_cancel(selectors.get_job(community, job_id)))


@router.post(
    "/{slug}/jobs/{job_id}/retry",
    response={200: JobOut, **_WRITE},
    summary="Moderators: run a failed or cancelled job again (attempt + 1, resumes)",
)
def post_retry(request: HttpRequest, slug: str, job_id: str) -> Any:
    community = _community(request, slug, Action.MODERATE)
    return job_payload(services.retry_job(selectors.get_job(community, job_id)))
