"""Board event types and their payload (catalogued in docs/events.md, topic `board`).

Every write of a card publishes one of these in its own transaction (`realtime.publish`, the
outbox): the event commits with the change or not at all, and the fan-out after commit opens
its own connection (nothing of the request's is used once it has answered).
"""

from __future__ import annotations

from typing import Any

from jobs.suggestions_models import Proposal
from realtime import publish

TOPIC = "board"
CARD_CREATED = "board.card.created"
CARD_MOVED = "board.card.moved"
CARD_UPDATED = "board.card.updated"
CARD_BUILT = "board.card.built"
CARD_REMOVED = "board.card.removed"


def card_payload(card: Proposal) -> dict[str, Any]:
    """A card as the board shows it: the API's card and every event's `card`."""
    node = card.built_node
    return {
        "id": card.pk,
        "title": card.title,
        "summary": card.summary,
        "column": card.column,
        "position": card.position,
        "version": card.version,
        "tier": card.tier,
        "cost": card.cost,
        "prerequisites": list(card.prerequisites),
        "supporters": card.supporters,
        "suggestion_count": card.suggestion_count,
        "sample_quotes": list(card.sample_quotes),
        "confidence": card.confidence,
        "built_node": node.key if node is not None else None,
        "created_at": card.created_at.isoformat(),
        "updated_at": card.updated_at.isoformat(),
    }


def publish_card(event_type: str, card: Proposal, **extra: Any) -> None:
    """Call inside the writer's transaction, after the card's row is written."""
    publish(card.community, TOPIC, event_type, {"card": card_payload(card), **extra})


def publish_cards(event_type: str, community_id: int, card_ids: list[int], **extra: Any) -> None:
    """The same for cards written in bulk (the pipelines), read back in board order."""
    cards = Proposal.objects.filter(pk__in=card_ids).select_related("community", "built_node")
    for card in sorted(cards, key=lambda c: (c.column, c.position or 0, c.pk)):
        publish_card(event_type, card, **extra)


def publish_removed(community: Any, card_id: int, reason: str, into: int | None) -> None:
    """A card that left the board (merged into another card, or into an existing node)."""
    publish(
        community, TOPIC, CARD_REMOVED, {"card": {"id": card_id}, "reason": reason, "into": into}
    )
