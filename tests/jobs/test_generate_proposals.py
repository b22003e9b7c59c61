"""The `generate_proposals` job: suggestions become cards once, duplicates join what they
duplicate, and a stage that runs again (a redelivered job) makes nothing twice."""

from __future__ import annotations

import json
from typing import Any

import pytest

from jobs.kinds import JobCancelled
from jobs.models import Job, Status
from jobs.pipelines import generate_proposals as pipeline
from jobs.services import request_cancel
from jobs.suggestions_models import Column, Proposal, Suggestion, SuggestionStatus
from tests.factories import NodeFactory
from tests.jobs import suggestion_fixtures

pytestmark = pytest.mark.django_db
suggest = suggestion_fixtures.suggest

DRAGON = ["pet dragon", "PET DRAGON PLS", "a pet dragon 🐉", "dragon pet", "pet dragn"]
HARDCORE = ["hardcore mode", "!suggest HARDCORE MODE", "hardcore mode pls", "harcore mode"]


def chat(suggest, community, texts: list[str], first_viewer: int = 0) -> list[Suggestion]:
    """Each text from a viewer of its own."""
    return [suggest(community, text, viewer=f"v{first_viewer + n}") for n, text in enumerate(texts)]


def board(community) -> list[tuple[str, int | None]]:
    return list(
        Proposal.objects.filter(community=community, merged_into__isnull=True)
        .order_by("column", "position")
        .values_list("title", "position")
    )


class FakeContext:
    """A JobContext without the runner: checkpoints in a dict (so a test can replay a job's
    stages), every begin/advance recorded, a cancel on demand."""

    def __init__(self, job: Job, checkpoints: dict[str, Any] | None = None, cancel_in: str = ""):
        self.job_id = str(job.pk)
        self.community_id = job.community_id
        self.params: dict[str, Any] = dict(job.params)
        self.checkpoints: dict[str, Any] = {} if checkpoints is None else checkpoints
        self.begun: list[str] = []
        self.advances: list[tuple[str, int]] = []
        self.cancel_in = cancel_in

    def checkpoint(self, stage: str) -> Any | None:
        return self.checkpoints.get(stage)

    def begin(self, stage: str, total: int, message: str = "") -> None:
        self.begun.append(stage)

    def advance(self, current: int, message: str = "") -> None:
        self.advances.append((self.begun[-1], current))
        if self.begun[-1] == self.cancel_in:
            raise JobCancelled

    def finish_stage(self, stage: str, data: Any) -> None:
        self.checkpoints[stage] = json.loads(json.dumps(data))  # what the Job row would keep


def test_groups_supported_by_several_viewers_become_cards_and_their_suggestions_are_used(
    community, suggest, start_job, run_job_now
):
    dragons = chat(suggest, community, DRAGON)
    hardcore = chat(suggest, community, HARDCORE, first_viewer=10)
    noise = suggest(community, "what game is this", viewer="z")
    job = start_job(community, "generate_proposals")

    assert run_job_now(job) == "succeeded"

    cards = {p.title: p for p in Proposal.objects.filter(community=community)}
    assert set(cards) == {"Pet dragon", "Hardcore mode"}
    dragon = cards["Pet dragon"]
    assert (dragon.supporters, dragon.suggestion_count, dragon.column) == (5, 5, Column.NEW)
    assert dragon.source_job_id == job.pk
    assert 0 < dragon.confidence <= 1
    assert dragon.sample_quotes[0] == {"text": "Pet dragon", "by": ""}
    assert sorted(p.position for p in cards.values()) == [0, 1]
    for suggestion in dragons + hardcore:
        suggestion.refresh_from_db()
        assert suggestion.status == SuggestionStatus.GROUPED
        assert suggestion.used_at is not None
    assert {s.proposal_id for s in dragons} == {dragon.pk}
    noise.refresh_from_db()
    assert (noise.status, noise.lonely_runs, noise.used_at) == (SuggestionStatus.PENDING, 1, None)
    assert job.result["proposals_created"] == 2
    assert job.result["left_pending"] == 1


def test_supporters_are_distinct_viewers_and_one_viewer_alone_makes_no_card(
    community, suggest, start_job, run_job_now
):
    for text in DRAGON:
        suggest(community, text, viewer="spammer")
    chat(suggest, community, HARDCORE + ["hardcore mode"], first_viewer=0)[-1].delete()
    suggest(community, "hardcore mode", viewer="v0")  # v0 again: still 4 distinct viewers

    run_job_now(start_job(community, "generate_proposals"))

    (card,) = Proposal.objects.filter(community=community)
    assert (card.title, card.supporters, card.suggestion_count) == ("Hardcore mode", 4, 5)
    assert Suggestion.objects.filter(viewer_key="viewer:spammer", status="pending").count() == 5


def test_a_group_that_names_an_existing_node_is_merged_into_it_instead_of_a_card(
    community, suggest, start_job, run_job_now
):
    node = NodeFactory(community=community, key="pet_dragon", name="Pet Dragon")
    dragons = chat(suggest, community, DRAGON)

    job = start_job(community, "generate_proposals")
    run_job_now(job)

    assert Proposal.objects.filter(community=community).count() == 0
    for suggestion in dragons:
        suggestion.refresh_from_db()
        assert (suggestion.status, suggestion.duplicate_of_node_id) == ("duplicate", node.pk)
        assert suggestion.proposal_id is None
    assert job.result["merged_into_nodes"] == 1
    assert job.result["proposals_created"] == 0


def test_a_group_that_names_an_open_card_joins_it_and_the_board_stays_dense(
    community, suggest, start_job, run_job_now
):
    chat(suggest, community, HARDCORE)
    chat(suggest, community, DRAGON, first_viewer=10)
    run_job_now(start_job(community, "generate_proposals"))
    hardcore = Proposal.objects.get(title="Hardcore mode")
    version = hardcore.version
    later = chat(suggest, community, ["HARDCORE MODE", "hardcore mode!!", "hardcoremode"], 20)
    chat(suggest, community, ["karaoke night", "karaoke", "KARAOKE 🎤"], first_viewer=30)

    second = start_job(community, "generate_proposals")
    run_job_now(second)

    hardcore.refresh_from_db()
    assert (hardcore.supporters, hardcore.suggestion_count) == (7, 7)
    assert hardcore.version == version + 1
    assert {s.proposal_id for s in Suggestion.objects.filter(pk__in=[s.pk for s in later])} == {
        hardcore.pk
    }
    merged = Proposal.objects.get(merged_into=hardcore)
    assert (merged.position, merged.source_job_id) == (None, second.pk)
    assert board(community) == [("Pet dragon", 0), ("Hardcore mode", 1), ("Karaoke", 2)]
    assert second.result["merged_into_proposals"] == 1


def test_a_lonely_suggestion_that_names_an_open_card_joins_it(
    community, suggest, start_job, run_job_now
):
    chat(suggest, community, DRAGON)
    run_job_now(start_job(community, "generate_proposals"))
    late = suggest(community, "!suggest pet dragon 🐲", viewer="late")

    run_job_now(start_job(community, "generate_proposals"))

    card = Proposal.objects.get()
    late.refresh_from_db()
    assert (late.status, late.proposal_id) == ("grouped", card.pk)
    assert card.supporters == 6


def test_running_again_with_no_new_suggestions_creates_nothing(
    community, suggest, start_job, run_job_now
):
    chat(suggest, community, DRAGON)
    run_job_now(start_job(community, "generate_proposals"))
    before = list(Proposal.objects.values_list("pk", "version", "supporters"))

    again = start_job(community, "generate_proposals")
    assert run_job_now(again) == "succeeded"

    assert list(Proposal.objects.values_list("pk", "version", "supporters")) == before
    assert again.result["suggestions"] == 0
    assert again.result["proposals_created"] == 0


def test_a_suggestion_nobody_echoes_is_dismissed_after_the_configured_runs(
    community, suggest, start_job, run_job_now, settings
):
    settings.PROPOSALS_LONELY_RUNS = 2
    alone = suggest(community, "a merch store")

    run_job_now(start_job(community, "generate_proposals"))
    alone.refresh_from_db()
    assert (alone.status, alone.lonely_runs) == ("pending", 1)
    run_job_now(start_job(community, "generate_proposals"))
    alone.refresh_from_db()

    assert (alone.status, alone.lonely_runs) == ("dismissed", 2)
    assert alone.used_at is not None


def test_a_job_replayed_from_its_checkpoints_makes_nothing_twice(community, suggest, start_job):
    chat(suggest, community, DRAGON)
    chat(suggest, community, HARDCORE, first_viewer=10)
    job = start_job(community, "generate_proposals")
    first = FakeContext(job)
    result = pipeline.run(first)

    replay = FakeContext(job, checkpoints=dict(first.checkpoints))
    assert pipeline.run(replay) == result

    assert replay.begun == []  # every stage had finished: none ran again
    assert Proposal.objects.count() == 2


def test_a_stage_run_again_after_its_writes_committed_does_not_duplicate_cards(
    community, suggest, start_job
):
    """The last line behind the checkpoints: synthesizing run a second time for the same job
    (its checkpoint lost) finds its cards by (source job, group key)."""
    chat(suggest, community, DRAGON)
    job = start_job(community, "generate_proposals")
    first = FakeContext(job)
    pipeline.run(first)
    kept = {k: v for k, v in first.checkpoints.items() if k in ("collecting", "clustering")}

    again = FakeContext(job, checkpoints=kept)
    pipeline.run(again)

    assert again.begun == ["synthesizing", "deduplicating"]
    assert Proposal.objects.count() == 1
    assert Proposal.objects.get().position == 0


def test_a_cancel_mid_clustering_keeps_what_finished_and_frees_the_suggestions(
    community, suggest, start_job, run_job_now, monkeypatch
):
    chat(suggest, community, DRAGON)
    job = start_job(community, "generate_proposals")
    real_cluster = pipeline.cluster

    def cancelled_midway(texts, keys, on_block):  # noqa: ANN001, ANN202
        def block(done: int, total: int) -> None:
            request_cancel(Job.objects.get(pk=job.pk))
            on_block(done, total)

        return real_cluster(texts, keys, on_block=block)

    monkeypatch.setattr(pipeline, "cluster", cancelled_midway)

    assert run_job_now(job) == "cancelled"

    assert job.status == Status.CANCELLED
    assert job.result["finished_stages"] == ["collecting"]
    assert job.result["stopped_in"] == "clustering"
    assert list(job.checkpoints) == ["collecting"]
    assert Proposal.objects.count() == 0
    monkeypatch.setattr(pipeline, "cluster", real_cluster)
    next_run = start_job(community, "generate_proposals")
    assert run_job_now(next_run) == "succeeded"
    assert next_run.result["suggestions"] == len(DRAGON)  # a cancelled job holds nothing
    assert Proposal.objects.count() == 1


def test_a_cancel_stops_at_the_next_unit_of_work(community, suggest, start_job):
    chat(suggest, community, DRAGON)
    job = start_job(community, "generate_proposals")
    ctx = FakeContext(job, cancel_in="clustering")

    with pytest.raises(JobCancelled):
        pipeline.run(ctx)

    assert list(ctx.checkpoints) == ["collecting"]
    assert ctx.advances[-1][0] == "clustering"


def test_a_live_job_holds_its_suggestions_from_another_job(community, suggest, start_job):
    chat(suggest, community, DRAGON)
    holder = start_job(community, "generate_proposals")
    Job.objects.filter(pk=holder.pk).update(status=Status.RUNNING, started_at=holder.created_at)
    FakeContext(holder, cancel_in="clustering")
    first = FakeContext(holder)
    pipeline._collect(first, pipeline.GenerateProposalsParams())

    other = FakeContext(start_job(community, "generate_proposals"))
    pipeline._collect(other, pipeline.GenerateProposalsParams())

    assert len(first.checkpoints["collecting"]["ids"]) == len(DRAGON)
    assert other.checkpoints["collecting"]["ids"] == []


def test_progress_moves_through_every_stage_in_order(community, suggest, start_job):
    chat(suggest, community, DRAGON + HARDCORE)
    ctx = FakeContext(start_job(community, "generate_proposals"))

    pipeline.run(ctx)

    assert ctx.begun == ["collecting", "clustering", "synthesizing", "deduplicating"]
    for stage in ctx.begun:
        done = [current for name, current in ctx.advances if name == stage]
        assert done == sorted(done) and done, stage


def test_parameters_are_validated_strictly(community, start_job):
    from communities.errors import InvalidInput

    with pytest.raises(InvalidInput) as refused:
        start_job(community, "generate_proposals", {"max_suggestions": "10"})

    assert "params.max_suggestions" in refused.value.fields
