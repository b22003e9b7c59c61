"""The writes of the `generate_proposals` pipeline: claiming suggestions, placing new cards on
the board, merging duplicates. Each is called inside the pipeline stage's own transaction,
with the stage's `finish_stage`, so a crash leaves both or neither.

The board lock: every write of a community's card positions first locks the community's row
(`board_lock`), so positions stay dense from 0 in each column (issue 10's moves take the same
lock). Positions change in two steps (out past every current position, then to their place)
so the immediate unique constraint on (community, column, position) never sees two cards on
one place midway.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Count, F, Max, Q
from django.utils import timezone

from communities.models import Community
from jobs import board_events
from jobs.models import ACTIVE, Job
from jobs.proposals_synthesis import Draft
from jobs.suggestions_models import Column, Proposal, Suggestion, SuggestionStatus

logger = logging.getLogger(__name__)


def board_lock(community_id: int) -> None:
    Community.objects.select_for_update(no_key=True).filter(pk=community_id).first()


@transaction.atomic
def claim_pending(community_id: int, job_id: str, limit: int) -> list[int]:
    """The oldest pending suggestions (up to `limit`) not held by another job still queued or
    running: this job holds them now. A job that ended (or vanished) holds nothing."""
    rows = list(
        Suggestion.objects.select_for_update(of=("self",))
        .filter(community_id=community_id, status=SuggestionStatus.PENDING)
        .order_by("pk")
        .values_list("pk", "job_id")[:limit]
    )
    holders = {holder for _, holder in rows if holder is not None and str(holder) != job_id}
    busy = {
        str(pk)
        for pk in Job.objects.filter(pk__in=holders, status__in=ACTIVE).values_list("pk", flat=True)
    }
    ids = [pk for pk, holder in rows if holder is None or str(holder) not in busy]
    Suggestion.objects.filter(pk__in=ids).update(job_id=job_id)
    return ids


@dataclass(frozen=True)
class NewCard:
    group_key: str
    draft: Draft
    suggestion_ids: list[int]


@transaction.atomic
def create_proposals(community_id: int, job_id: str, cards: Sequence[NewCard]) -> list[int]:
    """One card per group at the end of the `new` column; its suggestions are used. A group this
    job already made a card of (a stage run again) is not made twice."""
    board_lock(community_id)
    made = dict(
        Proposal.objects.filter(source_job_id=uuid.UUID(job_id)).values_list("group_key", "pk")
    )
    position = _next_position(community_id, Column.NEW)
    now = timezone.now()
    fresh: list[int] = []
    for card in cards:
        if card.group_key in made:
            continue
        proposal = Proposal.objects.create(
            community_id=community_id,
            source_job_id=uuid.UUID(job_id),
            group_key=card.group_key,
            column=Column.NEW,
            position=position,
            title=card.draft.title,
            summary=card.draft.summary,
            supporters=card.draft.supporters,
            suggestion_count=card.draft.suggestion_count,
            sample_quotes=card.draft.sample_quotes,
            confidence=card.draft.confidence,
        )
        position += 1
        made[card.group_key] = proposal.pk
        fresh.append(proposal.pk)
        Suggestion.objects.filter(pk__in=card.suggestion_ids).update(
            status=SuggestionStatus.GROUPED, proposal=proposal, used_at=now, job_id=job_id
        )
    board_events.publish_cards(board_events.CARD_CREATED, community_id, fresh)
    logger.info("proposals made community=%s job=%s cards=%s", community_id, job_id, len(made))
    return [made[card.group_key] for card in cards]


def _next_position(community_id: int, column: str) -> int:
    last = Proposal.objects.filter(community_id=community_id, column=column).aggregate(
        last=Max("position")
    )["last"]
    return 0 if last is None else last + 1


@dataclass(frozen=True)
class Merges:
    """What deduplicating decided: card id -> node id / open card id; lonely suggestion id ->
    node id / card id; lonely suggestions that matched nothing."""

    cards_to_nodes: dict[int, int]
    cards_to_cards: dict[int, int]
    lonely_to_nodes: dict[int, int]
    lonely_to_cards: dict[int, int]
    unmatched: list[int]


@transaction.atomic
def apply_merges(
    community_id: int, job_id: str, merges: Merges, lonely_runs: int
) -> dict[str, int]:
    """Duplicates join what they duplicate instead of standing beside it; suggestions nobody
    echoed wait for the next run, up to `lonely_runs` runs."""
    board_lock(community_id)
    now = timezone.now()
    open_targets = _still_open(community_id, merges.cards_to_cards.values())
    touched: set[int] = set()
    community = Community.objects.get(pk=community_id)
    for card, node in merges.cards_to_nodes.items():
        Suggestion.objects.filter(proposal_id=card).update(
            status=SuggestionStatus.DUPLICATE, duplicate_of_node_id=node, proposal=None
        )
        if Proposal.objects.filter(pk=card, source_job_id=uuid.UUID(job_id)).delete()[0]:
            board_events.publish_removed(community, card, "duplicate_of_node", None)
    merged = 0
    for card, target in merges.cards_to_cards.items():
        if target not in open_targets:
            continue
        Suggestion.objects.filter(proposal_id=card).update(proposal_id=target)
        Proposal.objects.filter(pk=card).update(merged_into_id=target, position=None)
        board_events.publish_removed(community, card, "merged", target)
        touched.add(target)
        merged += 1
    for suggestion, node in merges.lonely_to_nodes.items():
        _use(suggestion, now, job_id, status=SuggestionStatus.DUPLICATE, duplicate_of_node_id=node)
    joined = 0
    open_targets = _still_open(community_id, merges.lonely_to_cards.values())
    for suggestion, target in merges.lonely_to_cards.items():
        if target in open_targets:
            _use(suggestion, now, job_id, status=SuggestionStatus.GROUPED, proposal_id=target)
            touched.add(target)
            joined += 1
    dismissed = _wait_or_dismiss(merges.unmatched, job_id, now, lonely_runs)
    _recount(touched)
    compact(community_id, Column.NEW)
    # The cards that gained supporters, and those a merge moved up a place, as they are now.
    board_events.publish_cards(board_events.CARD_UPDATED, community_id, sorted(touched))
    return {
        "merged_into_nodes": len(merges.cards_to_nodes),
        "merged_into_proposals": merged,
        "lonely_duplicates_of_nodes": len(merges.lonely_to_nodes),
        "lonely_joined_proposals": joined,
        "dismissed": dismissed,
        "left_pending": len(merges.unmatched) - dismissed,
    }


def _still_open(community_id: int, wanted: Iterable[int]) -> set[int]:
    """Targets still open now that the board is locked (a moderator may have moved one, an
    earlier merge of this run may have taken one off the board)."""
    return set(
        Proposal.objects.filter(
            pk__in=set(wanted),
            community_id=community_id,
            column__in=[Column.NEW, Column.SHORTLISTED],
            merged_into__isnull=True,
            position__isnull=False,
        ).values_list("pk", flat=True)
    )


def _use(suggestion_id: int, now: object, job_id: str, **fields: object) -> None:
    Suggestion.objects.filter(pk=suggestion_id, status=SuggestionStatus.PENDING).update(
        used_at=now, job_id=job_id, **fields
    )


def _wait_or_dismiss(ids: list[int], job_id: str, now: object, lonely_runs: int) -> int:
    pending = Suggestion.objects.filter(pk__in=ids, status=SuggestionStatus.PENDING)
    pending.update(lonely_runs=F("lonely_runs") + 1, job_id=job_id)
    return pending.filter(lonely_runs__gte=lonely_runs).update(
        status=SuggestionStatus.DISMISSED, used_at=now
    )


def _recount(cards: Iterable[int]) -> None:
    """Supporters are distinct viewers: counted again from the suggestions, never added up."""
    for pk, supporters, count in (
        Proposal.objects.filter(pk__in=list(cards))
        .annotate(
            viewers=Count("suggestions__viewer_key", distinct=True),
            many=Count("suggestions", filter=Q(suggestions__isnull=False)),
        )
        .values_list("pk", "viewers", "many")
    ):
        Proposal.objects.filter(pk=pk).update(
            supporters=supporters, suggestion_count=count, version=F("version") + 1
        )


def compact(community_id: int, column: str) -> None:
    """Positions 0..n-1 in the column's order, in two steps (see the module's docstring)."""
    rows = list(
        Proposal.objects.filter(community_id=community_id, column=column, position__isnull=False)
        .order_by("position")
        .values_list("pk", "position")
    )
    moved = [(pk, place) for place, (pk, position) in enumerate(rows) if position != place]
    if not moved:
        return
    offset = (rows[-1][1] or 0) + 1
    for pk, place in moved:
        Proposal.objects.filter(pk=pk).update(position=offset + place)
    for pk, place in moved:
        Proposal.objects.filter(pk=pk).update(position=place)
