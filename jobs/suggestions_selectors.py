"""Reads of suggestions and proposals the edges and the pipeline need."""

from __future__ import annotations

from django.db.models import QuerySet

from communities.models import Community
from jobs.suggestions_models import OPEN_COLUMNS, Proposal, Suggestion


def list_suggestions(
    community: Community, *, status: str | None = None, limit: int = 50, before: int | None = None
) -> QuerySet[Suggestion]:
    """Newest first; `before` (an id) pages back."""
    found = Suggestion.objects.filter(community=community).select_related("duplicate_of_node")
    if status is not None:
        found = found.filter(status=status)
    if before is not None:
        found = found.filter(pk__lt=before)
    return found.order_by("-pk")[:limit]


def open_proposals(community_id: int) -> QuerySet[Proposal]:
    """Cards on the board still being decided on (new or shortlisted): what new evidence
    joins instead of making another card."""
    return Proposal.objects.filter(
        community_id=community_id,
        column__in=OPEN_COLUMNS,
        merged_into__isnull=True,
        position__isnull=False,
    ).order_by("pk")
