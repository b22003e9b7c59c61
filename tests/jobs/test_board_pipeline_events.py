"""The generate_proposals job's changes to the board reach the `board` topic too: new cards,
cards merged away, cards that gained supporters."""

from __future__ import annotations

import pytest

from jobs.suggestions_models import Proposal
from tests.factories import NodeFactory
from tests.jobs import suggestion_fixtures

pytestmark = pytest.mark.django_db
suggest = suggestion_fixtures.suggest

DRAGON = ["pet dragon", "PET DRAGON PLS", "a pet dragon 🐉", "dragon pet", "pet dragn"]
HARDCORE = ["hardcore mode", "!suggest HARDCORE MODE", "hardcore mode pls", "harcore mode"]


def chat(suggest, community, texts: list[str], first_viewer: int = 0) -> None:
    for n, text in enumerate(texts):
        suggest(community, text, viewer=f"v{first_viewer + n}")


def test_each_new_card_is_published_as_created_in_board_order(
    community, suggest, start_job, run_job_now, board_events
):
    chat(suggest, community, DRAGON)
    chat(suggest, community, HARDCORE, first_viewer=10)

    assert run_job_now(start_job(community, "generate_proposals")) == "succeeded"

    published = board_events(community)
    assert [kind for kind, _ in published] == ["board.card.created"] * 2
    cards = {card.pk: card for card in Proposal.objects.filter(community=community)}
    for position, (_, data) in enumerate(published):
        assert data["card"]["position"] == position and data["card"]["column"] == "new"
        assert data["card"]["title"] == cards[data["card"]["id"]].title


def test_a_card_merged_into_an_open_card_leaves_the_board_and_the_target_is_updated(
    community, suggest, start_job, run_job_now, board_events, make_cards
):
    (older,) = make_cards(community, "shortlisted", 1)
    Proposal.objects.filter(pk=older.pk).update(title="Pet dragon")
    chat(suggest, community, DRAGON)

    assert run_job_now(start_job(community, "generate_proposals")) == "succeeded"

    kinds = [(kind, data) for kind, data in board_events(community)]
    created = [data["card"]["id"] for kind, data in kinds if kind == "board.card.created"]
    removed = [data for kind, data in kinds if kind == "board.card.removed"]
    updated = [data["card"] for kind, data in kinds if kind == "board.card.updated"]
    assert removed == [{"card": {"id": created[0]}, "reason": "merged", "into": older.pk}]
    assert [card["id"] for card in updated] == [older.pk]
    assert updated[0]["supporters"] == 5 and updated[0]["version"] == 2


def test_a_card_naming_an_existing_node_leaves_the_board_as_a_duplicate(
    community, suggest, start_job, run_job_now, board_events
):
    NodeFactory(community=community, key="pet_dragon", name="Pet dragon")
    chat(suggest, community, DRAGON)

    assert run_job_now(start_job(community, "generate_proposals")) == "succeeded"

    kinds = [kind for kind, _ in board_events(community)]
    assert kinds == ["board.card.created", "board.card.removed"]
    assert board_events(community)[1][1]["reason"] == "duplicate_of_node"
    assert not Proposal.objects.filter(community=community).exists()
