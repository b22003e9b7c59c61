"""Reads of the proposals board for the edges."""

from __future__ import annotations

from typing import Any

from communities.models import Community
from jobs.board_events import card_payload
from jobs.board_models import ProposalMove
from jobs.errors import CardNotFound
from jobs.suggestions_models import Column, Proposal


def board(community: Community) -> dict[str, list[dict[str, Any]]]:
    """Every card on the board, by column (each in position order); every column present."""
    columns: dict[str, list[dict[str, Any]]] = {column: [] for column in Column.values}
    cards = (
        Proposal.objects.filter(community=community, position__isnull=False)
        .select_related("built_node")
        .order_by("column", "position")
    )
    for card in cards:
        columns[card.column].append(card_payload(card))
    return columns


def get_card(community: Community, card_id: int) -> Proposal:
    card = (
        Proposal.objects.select_related("community", "built_node")
        .filter(pk=card_id, community=community)
        .first()
    )
    if card is None:
        raise CardNotFound()
    return card


def card_moves(card: Proposal) -> list[dict[str, Any]]:
    """The card's moves, oldest first: who, from, to, when."""
    return [
        {
            "from_column": move.from_column,
            "from_position": move.from_position,
            "to_column": move.to_column,
            "to_position": move.to_position,
            "by": _who(move),
            "version": move.version,
            "moved_at": move.moved_at.isoformat(),
        }
        for move in ProposalMove.objects.filter(proposal=card).order_by("moved_at", "pk")
    ]


def _who(move: ProposalMove) -> dict[str, Any]:
    if move.job_id is not None:
        return {"job": str(move.job_id)}
    if move.token_id is not None:
        return {"token": move.token_id}
    return {"user": move.user_id}
