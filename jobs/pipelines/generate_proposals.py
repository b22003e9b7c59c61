"""`generate_proposals`: viewers' pending suggestions → cards on the proposals board.

collecting → clustering → synthesizing → deduplicating → complete (docs/jobs.md):

- collecting: the oldest pending suggestions (up to PROPOSALS_MAX_SUGGESTIONS, or the job's
  `max_suggestions`) that no other live job holds; this job holds them now.
- clustering: `jobs.clustering.cluster` (pure, deterministic); one unit of work per block.
- synthesizing: one card per group that at least PROPOSALS_MIN_SUPPORTERS distinct viewers
  support, placed at the end of the `new` column; its suggestions are used. Smaller groups are
  "lonely" and go on to deduplicating.
- deduplicating: a new card that names an existing node is dropped and its suggestions marked
  duplicates of that node; one that names an open card joins it (merged into it, off the
  board). A lonely suggestion joins a node or a card it names, else waits for the next run;
  after PROPOSALS_LONELY_RUNS runs alone it is dismissed.

Every stage's writes commit with its checkpoint (`finish_stage` in the same transaction), and a
stage that finished is never run again: a redelivered job resumes where it stopped and makes
nothing twice (the unique (source job, group key) of a card is the last line). `advance` is
called per unit of work, so a cancel stops the run there; what finished stays.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import transaction
from pydantic import BaseModel, ConfigDict, Field

from jobs import proposals_services as writes
from jobs import proposals_synthesis as synthesis
from jobs.clustering import cluster
from jobs.kinds import COMPLETE, JobContext, JobKind, Stage, UnitDelayMs, register
from jobs.suggestions_models import Proposal, Suggestion
from jobs.suggestions_selectors import open_proposals
from progression.models import Node

REPORTS_PER_STAGE = 200  # advance (a database write) at most this often per stage


class GenerateProposalsParams(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    max_suggestions: int | None = Field(
        default=None,
        ge=1,
        le=100_000,
        title="Most suggestions to read",
        description="Empty: the server's limit.",
    )
    unit_delay_ms: UnitDelayMs = 0


class Reporter:
    """`advance` per unit of work, but no more than REPORTS_PER_STAGE writes per stage."""

    def __init__(self, ctx: JobContext, stage: str, total: int, message: str, delay_ms: int):
        self.ctx, self.total, self.delay = ctx, max(1, total), delay_ms / 1000
        self.step = max(1, self.total // REPORTS_PER_STAGE)
        ctx.begin(stage, self.total, message)

    def unit(self, done: int) -> None:
        if self.delay:
            time.sleep(self.delay)
        done = min(done, self.total)
        if done % self.step == 0 or done == self.total:
            self.ctx.advance(done)


def run(ctx: JobContext) -> dict[str, Any]:
    params = GenerateProposalsParams.model_validate(ctx.params)
    collected = _stage(ctx, "collecting", lambda: _collect(ctx, params))
    clustered = _stage(ctx, "clustering", lambda: _cluster(ctx, collected["ids"], params))
    synthesized = _stage(ctx, "synthesizing", lambda: _synthesize(ctx, clustered, params))
    merged = _stage(ctx, "deduplicating", lambda: _deduplicate(ctx, synthesized, params))
    return {
        "suggestions": len(collected["ids"]),
        "groups": sum(1 for group in clustered["groups"] if len(group["ids"]) > 1),
        "proposals_created": synthesized["created"]
        - merged["merged_into_nodes"]
        - merged["merged_into_proposals"],
        **merged,
    }


def _stage(ctx: JobContext, name: str, work: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """A finished stage's saved data, or the stage run now."""
    saved = ctx.checkpoint(name)
    return saved if saved is not None else work()


def _collect(ctx: JobContext, params: GenerateProposalsParams) -> dict[str, Any]:
    ctx.begin("collecting", 1, "collecting pending suggestions")
    limit = params.max_suggestions or settings.PROPOSALS_MAX_SUGGESTIONS
    with transaction.atomic():
        data = {"ids": writes.claim_pending(ctx.community_id, ctx.job_id, limit)}
        ctx.finish_stage("collecting", data)
    ctx.advance(1, f"{len(data['ids'])} suggestions")
    return data


def _cluster(ctx: JobContext, ids: list[int], params: GenerateProposalsParams) -> dict[str, Any]:
    rows = list(Suggestion.objects.filter(pk__in=ids).order_by("pk").values_list("pk", "text"))
    keys = [pk for pk, _ in rows]
    report = Reporter(ctx, "clustering", len(rows), "grouping suggestions", params.unit_delay_ms)
    groups = cluster(
        [text for _, text in rows],
        keys,
        on_block=lambda done, blocks: report.unit(len(rows) * done // blocks),
    )
    data = {
        "groups": [
            {
                "ids": [keys[i] for i in group.members],
                "representative": keys[group.representative],
                "cohesion": group.cohesion,
            }
            for group in groups
        ]
    }
    with transaction.atomic():
        ctx.finish_stage("clustering", data)
    report.unit(report.total)
    return data


def _synthesize(
    ctx: JobContext, clustered: dict[str, Any], params: GenerateProposalsParams
) -> dict[str, Any]:
    groups = clustered["groups"]
    members = _members([pk for group in groups for pk in group["ids"]])
    report = Reporter(ctx, "synthesizing", len(groups), "writing proposals", params.unit_delay_ms)
    cards: list[writes.NewCard] = []
    lonely: list[int] = []
    for done, group in enumerate(groups, start=1):
        found = [members[pk] for pk in group["ids"] if pk in members]
        if len({m.viewer_key for m in found}) < settings.PROPOSALS_MIN_SUPPORTERS:
            lonely.extend(m.id for m in found)
        else:
            best = members.get(group["representative"], found[0])
            draft = synthesis.draft(found, best, group["cohesion"])
            cards.append(writes.NewCard(str(min(group["ids"])), draft, [m.id for m in found]))
        report.unit(done)
    with transaction.atomic():
        created = writes.create_proposals(ctx.community_id, ctx.job_id, cards)
        data = {"proposals": created, "lonely": lonely, "created": len(created)}
        ctx.finish_stage("synthesizing", data)
    return data


def _members(ids: list[int]) -> dict[int, synthesis.Member]:
    return {
        pk: synthesis.Member(pk, text, viewer, name)
        for pk, text, viewer, name in Suggestion.objects.filter(pk__in=ids).values_list(
            "pk", "text", "viewer_key", "display_name"
        )
    }


def _deduplicate(
    ctx: JobContext, synthesized: dict[str, Any], params: GenerateProposalsParams
) -> dict[str, Any]:
    threshold = settings.PROPOSALS_MATCH_SCORE
    new_cards: list[int] = synthesized["proposals"]
    lonely: list[int] = synthesized["lonely"]
    nodes = synthesis.node_candidates(
        Node.objects.filter(community_id=ctx.community_id, retired_at__isnull=True).values_list(
            "pk", "key", "name"
        )
    )
    older = synthesis.proposal_candidates(
        open_proposals(ctx.community_id)
        .exclude(source_job_id=uuid.UUID(ctx.job_id))
        .values_list("pk", "title")
    )
    texts = _texts_by_card(new_cards)
    report = Reporter(
        ctx,
        "deduplicating",
        len(new_cards) + len(lonely),
        "merging duplicates",
        params.unit_delay_ms,
    )
    to_nodes: dict[int, int] = {}
    to_cards: dict[int, int] = {}
    for done, card in enumerate(new_cards, start=1):
        match = synthesis.best_match(texts.get(card, []), [*nodes, *older], threshold)
        if match is not None:
            (to_nodes if match[0].kind == "node" else to_cards)[card] = match[0].id
        report.unit(done)
    staying = [card for card in new_cards if card not in to_nodes and card not in to_cards]
    kept = synthesis.proposal_candidates(
        Proposal.objects.filter(pk__in=staying).values_list("pk", "title")
    )
    lonely_texts = dict(Suggestion.objects.filter(pk__in=lonely).values_list("pk", "text"))
    lonely_nodes: dict[int, int] = {}
    lonely_cards: dict[int, int] = {}
    unmatched: list[int] = []
    for done, pk in enumerate(lonely, start=len(new_cards) + 1):
        match = synthesis.best_match([lonely_texts.get(pk, "")], [*nodes, *older, *kept], threshold)
        if match is None:
            unmatched.append(pk)
        else:
            (lonely_nodes if match[0].kind == "node" else lonely_cards)[pk] = match[0].id
        report.unit(done)
    merges = writes.Merges(to_nodes, to_cards, lonely_nodes, lonely_cards, unmatched)
    with transaction.atomic():
        data = writes.apply_merges(
            ctx.community_id, ctx.job_id, merges, settings.PROPOSALS_LONELY_RUNS
        )
        ctx.finish_stage("deduplicating", data)
    return data


def _texts_by_card(cards: list[int]) -> dict[int, list[str]]:
    texts: dict[int, list[str]] = {}
    for card, text in Suggestion.objects.filter(proposal_id__in=cards).values_list(
        "proposal_id", "text"
    ):
        texts.setdefault(card, []).append(text)
    return texts


KIND = register(
    JobKind(
        name="generate_proposals",
        stages=(
            Stage("collecting", 1),
            Stage("clustering", 4),
            Stage("synthesizing", 3),
            Stage("deduplicating", 2),
            Stage(COMPLETE, 0),
        ),
        params=GenerateProposalsParams,
        run=run,
        description="Groups viewers' pending suggestions into proposals on the board.",
        label="Generate proposals",
    )
)
