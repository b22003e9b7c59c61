"""`build_tree`: accepted cards on the proposals board → new nodes of the community's tree.

fetching → planning → validating → creating → complete (docs/jobs.md, "Building the tree"):

- fetching: the accepted cards without a node (or those of `proposal_ids` among them).
- planning: a key, tier, cost and prerequisites per card (`jobs.build_plan`).
- validating: the cards planned again as they are now and checked with the tree by
  `load_tree`'s rules; any problem fails the job with every problem named by its card, and
  nothing is written (a retry, once the cards are fixed, checks them again).
- creating: one transaction makes the plan again from the cards as they are now, checks it
  again, adds the nodes, marks each card with its node and moves it to `built`, and records
  the stage: a redelivered job never adds a node twice (`jobs.build_services`).

Fetching, planning and validating write nothing but their checkpoint.
"""

from __future__ import annotations

import time
from typing import Any

from django.db import transaction
from pydantic import BaseModel, ConfigDict, Field

from communities.models import Community
from jobs.build_plan import buildable_cards, check_plan, plan_build
from jobs.build_services import build_cards
from jobs.kinds import COMPLETE, JobContext, JobKind, Stage, UnitDelayMs, register


class BuildTreeParams(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    proposal_ids: list[int] | None = Field(
        default=None,
        max_length=1_000,
        title="Only these cards (ids)",
        description="Comma-separated card ids; empty: every accepted card not built yet.",
    )
    unit_delay_ms: UnitDelayMs = 0


def run(ctx: JobContext) -> dict[str, Any]:
    params = BuildTreeParams.model_validate(ctx.params)
    community = Community.objects.get(pk=ctx.community_id)
    fetched = ctx.checkpoint("fetching") or _fetch(ctx, params)
    if ctx.checkpoint("planning") is None:  # the plan as first made, kept with the job
        _plan(ctx, community, fetched["cards"], params)
    if ctx.checkpoint("validating") is None:
        _validate(ctx, community, fetched["cards"], params)
    created = ctx.checkpoint("creating") or _create(ctx, fetched["cards"])
    return {"cards": len(fetched["cards"]), **created}


def _pause(params: BuildTreeParams) -> None:
    if params.unit_delay_ms:
        time.sleep(params.unit_delay_ms / 1000)


def _fetch(ctx: JobContext, params: BuildTreeParams) -> dict[str, Any]:
    ctx.begin("fetching", 1, "reading accepted proposals")
    data = {"cards": buildable_cards(ctx.community_id, params.proposal_ids)}
    with transaction.atomic():
        ctx.finish_stage("fetching", data)
    ctx.advance(1, f"{len(data['cards'])} accepted proposals")
    return data


def _plan(
    ctx: JobContext, community: Community, cards: list[int], params: BuildTreeParams
) -> dict[str, Any]:
    ctx.begin("planning", max(1, len(cards)), "choosing keys")
    for done in range(1, len(cards) + 1):
        _pause(params)
        ctx.advance(done)
    data = plan_build(community, cards).as_json()
    with transaction.atomic():
        ctx.finish_stage("planning", data)
    ctx.advance(max(1, len(cards)))
    return data


def _validate(
    ctx: JobContext, community: Community, cards: list[int], params: BuildTreeParams
) -> None:
    """Planned again from the cards as they are now: a retry after the moderators fixed the
    cards a failed run named checks the fixed cards, not the saved plan."""
    ctx.begin("validating", 1, "checking the new nodes with the tree")
    _pause(params)
    specs = check_plan(community, plan_build(community, cards))  # BuildRefused fails the job
    with transaction.atomic():
        ctx.finish_stage("validating", {"valid": len(specs)})
    ctx.advance(1)


def _create(ctx: JobContext, cards: list[int]) -> dict[str, Any]:
    ctx.begin("creating", 1, "adding the nodes")
    result = build_cards(
        ctx.community_id, ctx.job_id, cards, lambda data: ctx.finish_stage("creating", data)
    )
    ctx.advance(1, f"{len(result['built'])} nodes added")
    return result


KIND = register(
    JobKind(
        name="build_tree",
        stages=(
            Stage("fetching", 1),
            Stage("planning", 2),
            Stage("validating", 2),
            Stage("creating", 5),
            Stage(COMPLETE, 0),
        ),
        params=BuildTreeParams,
        run=run,
        description="Turns accepted proposals into nodes of the tree.",
        label="Build tree",
    )
)
