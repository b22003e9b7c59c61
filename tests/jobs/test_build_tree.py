"""The build_tree job: accepted cards become nodes by load_tree's rules, every problem named by
its card and nothing written then; never a node twice; the new nodes take part at once."""

from __future__ import annotations

import pytest

from jobs.build_plan import BuildRefused, Plan, node_key
from jobs.build_services import build_cards
from jobs.models import Status
from jobs.services import retry_job
from jobs.suggestions_models import Proposal
from progression.models import Node, Prerequisite, Unlock, default_cost
from progression.services.state import active_state, season_total
from progression.tree_state import available_options
from realtime.models import OutboxEvent
from tests.factories import NodeFactory, PrerequisiteFactory
from tests.jobs.conftest import positions

# Transactional: the engine re-plans after commit. Jobs run here, never in the background.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("enqueued")]


def published(community, type_: str) -> list[dict]:
    rows = OutboxEvent.objects.filter(community=community, type=type_).order_by("event_id")
    return [row.data for row in rows]


def accept(make_cards, community, *titles: str, **fields) -> list[Proposal]:
    cards = make_cards(community, "accepted", len(titles), **fields)
    for card, title in zip(cards, titles, strict=True):
        Proposal.objects.filter(pk=card.pk).update(title=title)
        card.refresh_from_db()
    return cards


def test_keys_are_the_title_slugified_to_the_key_pattern_and_never_taken():
    taken = {"neon_overlay", "neon_overlay_2"}

    assert node_key("Neon Overlay!", taken) == "neon_overlay_3"
    assert node_key("Crème brûlée 🍮 emotes", set()) == "creme_brulee_emotes"
    assert node_key("42 hats", set()) == "node_42_hats"
    assert node_key("🔥🔥", set()) == "node"
    assert len(node_key("x" * 200, set())) <= 56


def test_accepted_cards_become_nodes_and_move_to_built(
    community, make_cards, start_job, run_job_now, board_events
):
    NodeFactory(community=community, key="emotes")
    NodeFactory(community=community, key="neon_overlay")
    rejected, skipped = make_cards(community, "rejected", 1, "new", 1)
    neon, hats, party = accept(
        make_cards, community, "Neon overlay", "Hat emotes", "Party mode", tier=1
    )
    Proposal.objects.filter(pk=hats.pk).update(prerequisites=["emotes"], cost=750)
    Proposal.objects.filter(pk=party.pk).update(prerequisites=[f"card:{hats.pk}", "neon_overlay"])

    job = start_job(community, "build_tree")
    assert run_job_now(job) == "succeeded", job.error

    job.refresh_from_db()
    assert job.result["built"] == {
        str(neon.pk): "neon_overlay_2",
        str(hats.pk): "hat_emotes",
        str(party.pk): "party_mode",
    }
    nodes = {node.key: node for node in Node.objects.filter(community=community)}
    assert nodes["hat_emotes"].cost == 750 and nodes["hat_emotes"].tier == 1
    assert nodes["party_mode"].cost == default_cost("medium", 1)  # no cost on the card
    assert nodes["party_mode"].name == "Party mode"
    assert set(
        Prerequisite.objects.filter(node=nodes["party_mode"]).values_list(
            "required__key", flat=True
        )
    ) == {"hat_emotes", "neon_overlay"}
    for card, key in ((neon, "neon_overlay_2"), (hats, "hat_emotes"), (party, "party_mode")):
        card.refresh_from_db()
        assert (card.column, card.built_node.key) == ("built", key)
    assert positions(community) == {
        "built": [neon.pk, hats.pk, party.pk],
        "new": [skipped.pk],
        "rejected": [rejected.pk],
    }
    assert [kind for kind, _ in board_events(community)] == ["board.card.built"] * 3
    (changed,) = published(community, "progression.tree.changed")
    assert changed == {
        "source": "build_tree",
        "created": ["neon_overlay_2", "hat_emotes", "party_mode"],
    }


def test_every_problem_is_reported_with_its_card_and_nothing_is_written(
    community, make_cards, start_job, run_job_now, board_events
):
    NodeFactory(community=community, key="emotes")
    ok, unknown, loop_a, loop_b, huge, ghost = accept(
        make_cards, community, "Fine", "Needs a ghost", "Loop A", "Loop B", "Huge", "Ghost card"
    )
    Proposal.objects.filter(pk=unknown.pk).update(prerequisites=["emotes", "no_such_node"])
    Proposal.objects.filter(pk=loop_a.pk).update(prerequisites=[f"card:{loop_b.pk}"])
    Proposal.objects.filter(pk=loop_b.pk).update(prerequisites=[f"card:{loop_a.pk}"])
    Proposal.objects.filter(pk=huge.pk).update(tier=32_767)  # default cost far too large
    Proposal.objects.filter(pk=ghost.pk).update(prerequisites=["card:999999", "nowhere"])

    job = start_job(community, "build_tree")
    assert run_job_now(job) == "failed"

    job.refresh_from_db()
    assert job.status == Status.FAILED and job.error_stage == "validating"
    error = job.error
    assert f"card {unknown.pk} ('Needs a ghost').prerequisites[1]: unknown node 'no_such_node'" in (
        error
    )
    assert f"card {loop_a.pk} ('Loop A')" in error and "prerequisite cycle" in error
    assert f"card {huge.pk} ('Huge')" in error and "default cost" in error
    assert f"card {ghost.pk} ('Ghost card').prerequisites[0]: 'card:999999' is no card" in error
    assert f"card {ghost.pk} ('Ghost card').prerequisites[1]: unknown node 'nowhere'" in error
    assert f"card {ok.pk}" not in error
    assert list(Node.objects.filter(community=community).values_list("key", flat=True)) == [
        "emotes"
    ]
    assert Proposal.objects.filter(community=community, column="accepted").count() == 6
    assert board_events(community) == []


def test_a_prerequisite_on_a_retired_node_is_a_problem_of_its_card(
    community, make_cards, start_job
):
    NodeFactory(community=community, key="old_thing", retired_at="2026-01-01T00:00:00Z")
    (card,) = accept(make_cards, community, "New thing")
    Proposal.objects.filter(pk=card.pk).update(prerequisites=["old_thing"])

    with pytest.raises(BuildRefused) as refused:
        build_cards(community.pk, str(start_job(community, "build_tree").pk), [card.pk], print)

    assert refused.value.problems == {
        f"card {card.pk} ('New thing').prerequisites[0]": ["node 'old_thing' is retired"]
    }


def test_the_same_cards_never_make_a_node_twice(community, make_cards, start_job, run_job_now):
    cards = accept(make_cards, community, "One", "Two")
    ids = [card.pk for card in cards]

    earlier = str(start_job(community, "build_tree").pk)
    first = build_cards(community.pk, earlier, ids, lambda data: None)
    again = build_cards(community.pk, earlier, ids, lambda data: None)  # a redelivered stage
    job = start_job(community, "build_tree", {"proposal_ids": ids})  # a new job, same cards
    assert run_job_now(job) == "succeeded"

    assert first["built"] == {str(ids[0]): "one", str(ids[1]): "two"}
    assert again == {"built": {}, "skipped": ids}
    job.refresh_from_db()
    assert job.result["built"] == {} and job.result["cards"] == 0
    assert sorted(Node.objects.filter(community=community).values_list("key", flat=True)) == [
        "one",
        "two",
    ]


def test_a_failed_write_leaves_no_node_and_no_card_built(community, make_cards, start_job):
    cards = accept(make_cards, community, "One", "Two")
    job = str(start_job(community, "build_tree").pk)

    def crash(data):
        raise RuntimeError("worker lost mid-transaction")

    with pytest.raises(RuntimeError):
        build_cards(community.pk, job, [card.pk for card in cards], crash)

    assert not Node.objects.filter(community=community).exists()
    assert set(Proposal.objects.values_list("column", flat=True)) == {"accepted"}


@pytest.mark.usefixtures("_eager_tasks")
def test_a_complete_tree_spends_its_banked_points_on_the_new_nodes(
    community, make_cards, earn, start_job, run_job_now
):
    NodeFactory(community=community, key="only", cost_override=100)
    earn(community, 100)
    earn(community, 70)  # the tree is complete: banked
    assert published(community, "progression.tree.completed")
    (card,) = accept(make_cards, community, "Fresh node", cost=50)

    job = start_job(community, "build_tree")
    assert run_job_now(job) == "succeeded", job.error

    unlock = Unlock.objects.get(community=community, node__key="fresh_node")
    assert unlock.reason == Unlock.Reason.POINTS
    state = active_state(community)
    assert season_total(state.season_id) - state.offset == 20  # 70 banked, 50 spent


@pytest.mark.usefixtures("_eager_tasks")
def test_the_next_vote_may_offer_a_new_node_and_the_tree_read_shows_it(
    community, make_cards, member, start_job, run_job_now, client
):
    first = NodeFactory(community=community, key="first", cost_override=1000)
    PrerequisiteFactory(node=NodeFactory(community=community, key="later"), required=first)
    active_state(community)  # first is the target
    accept(make_cards, community, "Sparkles", "Confetti")

    job = start_job(community, "build_tree")
    assert run_job_now(job) == "succeeded"

    tree = client.get(f"/api/communities/{community.slug}/tree").json()
    keys = {node["key"] for node in tree["nodes"]}
    assert {"sparkles", "confetti"} <= keys
    state = active_state(community)
    offered = available_options(community.pk, state.season_id, exclude=set())
    options = {node.key for node, _level in offered}
    assert {"sparkles", "confetti"} <= options


def test_a_plan_survives_its_checkpoint():
    plan = Plan(cards=[(1, "One")], nodes=[{"key": "one"}], problems={"x": ["y"]}, sources=[[]])

    assert Plan.from_json(plan.as_json()) == plan


def test_a_retry_after_the_cards_were_fixed_builds_them(
    community, make_cards, start_job, run_job_now
):
    (card,) = accept(make_cards, community, "Needs fixing")
    Proposal.objects.filter(pk=card.pk).update(prerequisites=["nowhere"])
    job = start_job(community, "build_tree")
    assert run_job_now(job) == "failed"

    Proposal.objects.filter(pk=card.pk).update(prerequisites=[])
    retry_job(job)

    assert run_job_now(job) == "succeeded", job.error
    card.refresh_from_db()
    assert (card.column, card.built_node.key) == ("built", "needs_fixing")
