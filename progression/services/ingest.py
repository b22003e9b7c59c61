"""Engagement requests from bots, credited together: who sent them is checked per request,
then each community's requests are written as one batch (group commit).

Both HTTP edges come here: the Ninja route with one request at a time, the lean ASGI route
with whatever arrived while the previous write ran.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from communities.errors import UNAVAILABLE_CAUSES, ApplicationError
from communities.models import Community
from communities.permissions import Action, Actor, require
from communities.selectors import actor_for_token, get_community
from communities.services import authenticate_token
from progression.engagement_io import Submission
from progression.services.engagement import EngagementResult, record_engagement_together

logger = logging.getLogger(__name__)


@dataclass
class IngestRequest:
    slug: str
    submission: Submission
    actor: Actor | None = None  # already known (the Ninja edge), or
    raw_token: str | None = None  # checked here (the ASGI edge)


Reply = EngagementResult | Exception


def record_ingest_requests(requests: list[IngestRequest]) -> list[Reply]:
    """One reply per request, in order: its result, the ApplicationError that refused it, or
    the exception its community's write raised (nothing of that community's batch is kept)."""
    replies: list[Reply | None] = [None] * len(requests)
    tokens: dict[str, tuple[Actor, Community] | ApplicationError] = {}
    communities: dict[str, Community] = {}
    groups: dict[int, tuple[Community, list[int]]] = {}
    for position, request in enumerate(requests):
        try:
            actor, community = _resolve(request, tokens, communities)
            require(actor, Action.INGEST, community)
        except ApplicationError as exc:
            replies[position] = exc
            continue
        groups.setdefault(community.pk, (community, []))[1].append(position)
    for community, positions in groups.values():
        for position, result in zip(positions, _write(community, requests, positions), strict=True):
            replies[position] = result
    return replies  # type: ignore[return-value]  # every position was filled above


def _write(
    community: Community, requests: list[IngestRequest], positions: list[int]
) -> list[Reply]:
    """One transaction for the group; if it fails for a reason one request could carry (not
    an unavailable database), each request is written alone, so only the culprit fails."""
    try:
        return list(
            record_engagement_together(
                community, [requests[p].submission.events for p in positions]
            )
        )
    except Exception as exc:  # answered per request by the edge; logged there with context
        if len(positions) == 1 or isinstance(exc, UNAVAILABLE_CAUSES):
            return [exc] * len(positions)
        logger.warning(
            "group write of %d requests for community=%s failed (%r); writing them one by one",
            len(positions),
            community.pk,
            exc,
        )
    alone: list[Reply] = []
    for position in positions:
        try:
            alone += record_engagement_together(community, [requests[position].submission.events])
        except Exception as exc:  # noqa: BLE001 - this request's own answer
            alone.append(exc)
    return alone


def check_ingest_access(
    slug: str, *, actor: Actor | None = None, raw_token: str | None = None, access: bool = True
) -> None:
    """Raises what `record_ingest_requests` would answer these credentials (401, then 404 or
    403; only 401 when `access` is false), so an edge can refuse bad input in the same order as
    every other route: who you are, whether you may, then what you sent."""
    if actor is None and not access:
        authenticate_token(raw_token or "")
        return
    actor, community = _resolve(
        IngestRequest(slug, Submission(events=[]), actor=actor, raw_token=raw_token), {}, {}
    )
    require(actor, Action.INGEST, community)


def _resolve(
    request: IngestRequest,
    tokens: dict[str, tuple[Actor, Community] | ApplicationError],
    communities: dict[str, Community],
) -> tuple[Actor, Community]:
    if request.actor is not None:
        return request.actor, _community(request.slug, communities)
    raw = request.raw_token or ""
    if raw not in tokens:
        try:
            token = authenticate_token(raw)
            tokens[raw] = (actor_for_token(token), token.community)
        except ApplicationError as exc:
            tokens[raw] = exc
    known = tokens[raw]
    if isinstance(known, ApplicationError):
        raise known
    actor, token_community = known
    if token_community.slug == request.slug:
        return actor, token_community
    return actor, _community(request.slug, communities)


def _community(slug: str, communities: dict[str, Community]) -> Community:
    if slug not in communities:
        communities[slug] = get_community(slug)
    return communities[slug]
