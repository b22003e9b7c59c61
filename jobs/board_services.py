"""Every write of the proposals board by a moderator: moving a card, editing it. (The pipelines
write cards too: `jobs.proposals_services` makes them, `jobs.pipelines.build_tree` builds
them; all of them take the same board lock and publish on topic `board`.)

The rules (docs/jobs.md, "The proposals board"):

- Columns: new → shortlisted → accepted | rejected, and `built`. A moderator may move a card
  between any two of new, shortlisted, accepted and rejected (`MOVES`); `built` is terminal and
  only the build_tree job puts a card there. A card merged into another is off the board.
- Positions are dense, 0..n-1 in each column. A move locks the community's board (its row,
  `board_lock`), so concurrent moves queue one behind the other; the cards between the old and
  the new place shift in bulk UPDATEs, in two steps (out past every position, then back one
  place over) so the immediate unique (community, column, position) never sees two cards on
  one place midway.
- Each card has a version that grows with every change; a move or edit naming another version
  is refused (409, with the card as it is now) and writes nothing.
- Every move is recorded (`ProposalMove`: who, from, to, when) and every change published on
  topic `board` in the same transaction.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import F, Max
from django.utils import timezone

from communities.models import Community
from communities.permissions import Actor
from jobs import board_events as events
from jobs.board_models import ProposalMove
from jobs.errors import CardNotFound, MoveRefused, StaleCard
from jobs.proposals_services import board_lock
from jobs.suggestions_models import Column, Proposal

logger = logging.getLogger(__name__)

BOARD_COLUMNS = (Column.NEW, Column.SHORTLISTED, Column.ACCEPTED, Column.REJECTED)
# Where a moderator may move a card from each column (within the column: always, to reorder).
MOVES: dict[str, frozenset[str]] = {column: frozenset(BOARD_COLUMNS) for column in BOARD_COLUMNS}
MOVES[Column.BUILT] = frozenset()  # terminal: the build_tree job is the only way in, none out
EDITABLE = ("title", "summary", "tier", "cost", "prerequisites")


@dataclass(frozen=True)
class Who:
    """Who moved a card: a moderator, a token, or a job."""

    user_id: int | None = None
    token_id: int | None = None
    job_id: str | None = None

    @classmethod
    def of(cls, actor: Actor) -> Who:
        if actor.token_id is not None:
            return cls(token_id=actor.token_id)
        return cls(user_id=actor.user_id)


def _locked_card(community: Community, card_id: int) -> Proposal:
    card = (
        Proposal.objects.select_for_update(of=("self",))
        .select_related("community", "built_node")
        .filter(pk=card_id, community=community)
        .first()
    )
    if card is None:
        raise CardNotFound()
    return card


def _check_version(card: Proposal, version: int) -> None:
    if card.version != version:
        raise StaleCard(version, events.card_payload(card))


@transaction.atomic(durable=True)
def move_card(
    community: Community, card_id: int, *, column: str, position: int, version: int, actor: Actor
) -> Proposal:
    """Moves the card to `position` of `column` (past the end: the end), shifting the cards it
    passes, records the move and publishes `board.card.moved`."""
    board_lock(community.pk)
    card = _locked_card(community, card_id)
    _check_version(card, version)
    if card.position is None or card.merged_into_id is not None:
        raise MoveRefused("This card was merged into another and is no longer on the board.")
    if column not in MOVES[card.column]:
        raise MoveRefused(_refusal(card.column, column), fields={"column": [_refusal_hint(card)]})
    return place_card(card, column, position, Who.of(actor))


def _refusal(source: str, target: str) -> str:
    if source == Column.BUILT:
        return "A built card stays built: its node exists."
    return f"Only the build_tree job moves a card to {target!r}."


def _refusal_hint(card: Proposal) -> str:
    allowed = sorted(MOVES[card.column])
    return f"from {card.column!r}: one of {', '.join(allowed)}" if allowed else "none allowed"


def place_card(card: Proposal, column: str, position: int, who: Who) -> Proposal:
    """Moves a locked card (the caller holds the board lock and checked the rules), records the
    move and publishes it. Also build_tree's way to put a card in `built`."""
    source, old = card.column, card.position
    assert old is not None
    if column == source:
        last = _count(card.community_id, column) - 1
        new = min(position, last)
        if new < old:
            _shift(card, column, new, old - 1, +1)
        elif new > old:
            _shift(card, column, old + 1, new, -1)
    else:
        new = min(position, _count(card.community_id, column))
        _shift(card, source, old + 1, None, -1)
        _shift(card, column, new, None, +1)
    Proposal.objects.filter(pk=card.pk).update(
        column=column, position=new, version=F("version") + 1, updated_at=timezone.now()
    )
    card.refresh_from_db()
    ProposalMove.objects.create(
        community_id=card.community_id,
        proposal=card,
        from_column=source,
        from_position=old,
        to_column=column,
        to_position=new,
        user_id=who.user_id,
        token_id=who.token_id,
        job_id=who.job_id,
        version=card.version,
    )
    moved = {"from": {"column": source, "position": old}, "to": {"column": column, "position": new}}
    event = events.CARD_BUILT if column == Column.BUILT else events.CARD_MOVED
    events.publish_card(event, card, **moved)
    logger.info(
        "card %s moved %s[%s] -> %s[%s] community=%s by=%s",
        card.pk,
        source,
        old,
        column,
        new,
        card.community_id,
        who,
    )
    return card


def _count(community_id: int, column: str) -> int:
    return Proposal.objects.filter(
        community_id=community_id, column=column, position__isnull=False
    ).count()


def _shift(card: Proposal, column: str, low: int, high: int | None, delta: int) -> None:
    """Positions low..high (None: to the end) of `column` move by `delta`, the moving card
    taken off the board first; two UPDATEs (see the module's docstring)."""
    Proposal.objects.filter(pk=card.pk).update(position=None)
    if high is not None and high < low:
        return
    board = Proposal.objects.filter(community_id=card.community_id, column=column)
    rows = board.filter(position__gte=low)
    if high is not None:
        rows = rows.filter(position__lte=high)
    ids = list(rows.values_list("pk", flat=True))
    if not ids:
        return
    offset = (board.aggregate(top=Max("position"))["top"] or 0) + 2
    Proposal.objects.filter(pk__in=ids).update(position=F("position") + offset)
    Proposal.objects.filter(pk__in=ids).update(position=F("position") - offset + delta)


@transaction.atomic(durable=True)
def edit_card(
    community: Community, card_id: int, *, version: int, changes: dict[str, Any], actor: Actor
) -> Proposal:
    """Changes some of title, summary, tier, cost and prerequisites; a built card is final."""
    board_lock(community.pk)
    card = _locked_card(community, card_id)
    _check_version(card, version)
    if card.column == Column.BUILT:
        raise MoveRefused("A built card is final: edit its node in the tree instead.")
    unknown = set(changes) - set(EDITABLE)
    assert not unknown, unknown
    if not changes or all(getattr(card, name) == value for name, value in changes.items()):
        return card
    Proposal.objects.filter(pk=card.pk).update(
        version=F("version") + 1, updated_at=timezone.now(), **changes
    )
    card.refresh_from_db()
    events.publish_card(events.CARD_UPDATED, card, changed=sorted(changes))
    logger.info(
        "card %s edited (%s) community=%s by=%s",
        card.pk,
        ", ".join(sorted(changes)),
        community.pk,
        Who.of(actor),
    )
    return card
