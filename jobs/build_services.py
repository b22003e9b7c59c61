"""The write of the `build_tree` job: accepted cards become tree nodes, in one transaction.

Under the board lock (and, inside `add_nodes`, the engine's), the plan is made again from the
cards as they are now and checked again: a card edited, moved or built by another job since
the planning stage is taken as it is now. Then the nodes are added, each card is marked with
its node (`built_node`, unique) and moved to `built`, and the job's stage is recorded — all in
the caller's transaction, so a crash leaves all of it or none, and a card already marked is
never built again (the same job run again, or the same cards in another job).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from django.db import transaction

from communities.models import Community
from jobs.board_services import Who, place_card
from jobs.build_plan import check_plan, plan_build
from jobs.proposals_services import board_lock
from jobs.suggestions_models import Column, Proposal
from progression.models import Node
from progression.services.tree import add_nodes

logger = logging.getLogger(__name__)


@transaction.atomic
def build_cards(
    community_id: int, job_id: str, card_ids: Sequence[int], finish: Callable[[Any], None]
) -> dict[str, Any]:
    """Builds the cards still accepted and unbuilt among `card_ids`; `finish(result)` records
    the stage in the same transaction. Raises BuildRefused (nothing written) on any problem."""
    community = Community.objects.get(pk=community_id)
    board_lock(community_id)
    cards = {
        card.pk: card
        for card in Proposal.objects.select_for_update(of=("self",))
        .select_related("community")
        .filter(
            pk__in=list(card_ids),
            community_id=community_id,
            column=Column.ACCEPTED,
            built_node__isnull=True,
            position__isnull=False,
        )
    }
    todo = [pk for pk in card_ids if pk in cards]
    plan = plan_build(community, todo)
    specs = check_plan(community, plan)
    add_nodes(community, specs, source="build_tree")
    nodes = dict(
        Node.objects.filter(community=community, key__in=[s.key for s in specs]).values_list(
            "key", "pk"
        )
    )
    built: dict[str, str] = {}
    for (card_id, _), spec in zip(plan.cards, specs, strict=True):
        Proposal.objects.filter(pk=card_id).update(built_node_id=nodes[spec.key])
        card = Proposal.objects.select_related("community", "built_node").get(pk=card_id)
        place_card(card, Column.BUILT, 1_000_000, Who(job_id=job_id))
        built[str(card_id)] = spec.key
    result = {"built": built, "skipped": [pk for pk in card_ids if pk not in cards]}
    finish(result)
    logger.info("cards built community=%s job=%s nodes=%s", community_id, job_id, len(built))
    return result
