"""Concurrent moves on PostgreSQL, each thread with its own connection: positions stay dense,
every accepted move is recorded once, and a move on a stale version is refused."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from communities.permissions import Actor
from jobs.board_models import ProposalMove
from jobs.board_services import move_card
from jobs.errors import StaleCard
from jobs.suggestions_models import Proposal
from tests.factories import CommunityFactory, MembershipFactory
from tests.jobs.conftest import positions
from tests.progression.concurrency_helpers import run_concurrently

COLUMNS = ["new", "shortlisted", "accepted", "rejected"]
THREADS = 16
MOVES_EACH = 6


def _mover(community, actor: Actor, seed: int, card_ids: list[int]):
    """A moderator's client: moves random cards to random places, reading the version first
    and trying again (at most a few times) when another client got there in between."""

    def run() -> Counter:
        rng = random.Random(seed)
        outcome: Counter = Counter()
        for _ in range(MOVES_EACH):
            card_id = rng.choice(card_ids)
            column, position = rng.choice(COLUMNS), rng.randrange(0, 12)
            for _attempt in range(5):
                version = Proposal.objects.values_list("version", flat=True).get(pk=card_id)
                try:
                    move_card(
                        community,
                        card_id,
                        column=column,
                        position=position,
                        version=version,
                        actor=actor,
                    )
                except StaleCard:
                    outcome["stale"] += 1
                    continue
                outcome["moved"] += 1
                break
        return outcome

    return run


@pytest.mark.real_services
@pytest.mark.django_db(transaction=True)
def test_concurrent_moves_keep_every_column_dense_and_record_each_move_once(make_cards) -> None:
    community = CommunityFactory()
    moderator = MembershipFactory(community=community, role="moderator").user
    actor = Actor(user_id=moderator.pk, roles={community.pk: "moderator"})
    cards = make_cards(community, "new", 8, "shortlisted", 6, "accepted", 4, "rejected", 2)
    ids = [card.pk for card in cards]

    ran = run_concurrently([_mover(community, actor, seed, ids) for seed in range(THREADS)])

    errors = [r.error for r in ran if r.error is not None]
    assert not errors, f"{len(errors)} clients failed, first: {errors[0]!r}"
    moved = sum(r.value["moved"] for r in ran)
    board = positions(community)  # asserts 0..n-1 in every column
    assert sorted(pk for column in board.values() for pk in column) == sorted(ids)
    assert ProposalMove.objects.filter(community=community).count() == moved
    versions = sum(Proposal.objects.filter(pk__in=ids).values_list("version", flat=True))
    assert versions == len(ids) + moved  # every move one version, none lost or doubled
    assert moved >= THREADS * MOVES_EACH // 2


@pytest.mark.real_services
@pytest.mark.django_db(transaction=True)
def test_of_concurrent_moves_on_one_version_exactly_one_wins(make_cards) -> None:
    community = CommunityFactory()
    actor = Actor(user_id=MembershipFactory(community=community, role="moderator").user.pk)
    card, *_ = make_cards(community, "new", 5)

    def attempt(position: int):
        return lambda: move_card(
            community, card.pk, column="shortlisted", position=position, version=1, actor=actor
        )

    ran = run_concurrently([attempt(i) for i in range(10)])

    assert sum(1 for r in ran if r.error is None) == 1
    assert all(isinstance(r.error, StaleCard) for r in ran if r.error is not None)
    assert ProposalMove.objects.filter(proposal=card).count() == 1
    positions(community)
