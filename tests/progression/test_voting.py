"""Votes on the next target: options, ballots, resolution, up next, auto-selection, moderator
controls and deadlines."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from communities.errors import Conflict, InvalidInput
from progression import cache as progression_cache
from progression import events
from progression.integrity import check_integrity
from progression.models import (
    Node,
    ProgressionSettings,
    Unlock,
    UnlockProgress,
    VoteOption,
    VoteSession,
)
from progression.selectors import progression_status
from progression.services import voting
from progression.services.state import active_state, season_total
from progression.tree_state import available_options
from realtime.models import OutboxEvent
from tests.factories import NodeFactory, PrerequisiteFactory, ProgressionSettingsFactory

# Real commits: after-commit work (the unlock task, run eagerly) happens as in production, and
# check_integrity can open its own repeatable-read transaction.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("_eager_tasks")]

VOTE_KEYS = {
    "session_id",
    "status",
    "deadline",
    "frozen_remaining_seconds",
    "options",
    "total_votes",
}
RESOLVED_KEYS = VOTE_KEYS | {"winner", "resolution", "resolved_by"}


@pytest.fixture
def roots(community) -> list[Node]:
    """Six tier-0 nodes of cost 100: every one a candidate from the start."""
    return [
        NodeFactory(community=community, key=key, cost_override=100)
        for key in ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot")
    ]


@pytest.fixture
def started(community, roots) -> VoteSession:
    """The first activity opens the season: no lone candidate, so a vote for the first target."""
    active_state(community)
    return open_session(community)


@pytest.fixture
def vote(community):
    def cast(voter: str, option: int | str) -> VoteOption:
        return voting.cast_vote(community, voter=f"viewer:{voter}", option=option)

    return cast


def open_session(community) -> VoteSession | None:
    return VoteSession.objects.filter(community=community, status__in=["open", "frozen"]).first()


def option_keys(session: VoteSession) -> list[str]:
    return list(session.options.order_by("position").values_list("node__key", flat=True))


def active(community) -> UnlockProgress:
    return UnlockProgress.objects.select_related("node", "up_next_node").get(
        community=community, status=UnlockProgress.Status.ACTIVE
    )


def accumulated(community) -> int:
    progress = active(community)
    return season_total(progress.season_id) - progress.offset


def published(community, type_: str) -> list[dict]:
    rows = OutboxEvent.objects.filter(community=community, type=type_).order_by("event_id")
    assert all(row.topic == events.TOPIC for row in rows)
    return [row.data for row in rows]


def assert_books_balance(community) -> None:
    assert check_integrity(community) == []


# --- options -----------------------------------------------------------------------------------


def test_a_vote_offers_at_most_four_options_in_tree_order_numbered_from_one(started):
    options = list(started.options.select_related("node").order_by("position"))

    assert len(options) == 4
    assert [o.position for o in options] == [1, 2, 3, 4]
    assert [(o.node.tier, o.node.key) for o in options] == sorted(
        (o.node.tier, o.node.key) for o in options
    )
    assert all(o.level == 1 and o.votes == 0 for o in options)


def test_the_options_are_a_random_choice_among_the_candidates(community, started):
    candidates = available_options(community.pk, started.season_id, exclude=set())
    started.status = VoteSession.Status.CANCELLED
    started.save()
    seen = set()
    for _ in range(30):
        with transaction.atomic():  # its callers hold a transaction
            session = voting.start_vote_for_next(
                community, started.season_id, candidates, targetless=True
            )
        keys = option_keys(session)
        assert keys == sorted(keys)  # random choice, stable order
        seen.add(tuple(keys))
        session.status = VoteSession.Status.CANCELLED
        session.save()

    assert len(seen) > 1


def test_number_of_options_is_settable_per_community(community, roots):
    ProgressionSettingsFactory(community=community, vote_options=2)

    active_state(community)

    assert len(option_keys(open_session(community))) == 2


def test_with_fewer_candidates_than_the_limit_every_candidate_is_an_option(community):
    for key in ("a", "b", "c"):
        NodeFactory(community=community, key=key, cost_override=100)

    active_state(community)

    assert option_keys(open_session(community)) == ["a", "b", "c"]


def test_a_vote_for_the_next_target_never_offers_the_current_target(community, started, vote):
    vote("ann", 1)
    winner = voting.close_vote(community)

    target = active(community)
    assert target.node == winner.node
    following = open_session(community)
    assert following is not None and following.pk != started.pk
    assert target.node.key not in option_keys(following)
    assert len(option_keys(following)) == 4


def test_a_targetless_vote_runs_for_the_vote_window_by_default(started):
    remaining = (started.deadline - timezone.now()).total_seconds()

    assert 25 < remaining <= 30  # the default window: 30 s


def test_vote_duration_is_settable_per_community(community, roots):
    ProgressionSettingsFactory(community=community, vote_duration_seconds=30)

    active_state(community)

    remaining = (open_session(community).deadline - timezone.now()).total_seconds()
    assert 25 < remaining <= 30


def test_starting_a_vote_publishes_vote_started_with_its_options(community, started):
    (payload,) = published(community, events.VOTE_STARTED)

    assert set(payload) == VOTE_KEYS
    assert payload["session_id"] == started.pk
    assert payload["status"] == "open"
    assert [o["key"] for o in payload["options"]] == option_keys(started)
    assert set(payload["options"][0]) == {"position", "key", "name", "level", "votes"}
    assert payload["total_votes"] == 0


# --- ballots ---------------------------------------------------------------------------------------


def test_a_vote_counts_for_its_option_by_position_or_key(started, vote):
    keys = option_keys(started)

    assert vote("ann", 1).votes == 1
    assert vote("bob", keys[0]).votes == 2
    assert vote("cid", 3).node.key == keys[2]


def test_second_vote_by_the_same_viewer_in_one_session_is_refused(started, vote):
    vote("ann", 1)

    with pytest.raises(Conflict) as refused:
        vote("ann", 2)

    assert refused.value.fields == {"reason": ["already_voted"]}
    counts = dict(started.options.values_list("position", "votes"))
    assert counts == {1: 1, 2: 0, 3: 0, 4: 0}


def test_a_viewer_may_vote_again_in_the_next_session(community, started, vote):
    vote("ann", 1)
    voting.close_vote(community)

    assert vote("ann", 1).votes == 1


def test_vote_for_an_option_that_is_not_offered_is_invalid(community, started, vote):
    offered = set(option_keys(started))
    not_offered = next(
        n.key for n in Node.objects.filter(community=community) if n.key not in offered
    )

    for option in (5, 0, "nope", not_offered):
        with pytest.raises(InvalidInput):
            vote("ann", option)

    assert sum(started.options.values_list("votes", flat=True)) == 0


def test_vote_with_no_open_session_is_refused(community, vote):
    NodeFactory(community=community, key="only", cost_override=100)  # auto-selected: no vote
    active_state(community)

    with pytest.raises(Conflict) as refused:
        vote("ann", 1)

    assert refused.value.fields == {"reason": ["no_open_vote"]}


def test_vote_in_a_frozen_session_is_refused(community, started, vote):
    voting.freeze_vote(community)

    with pytest.raises(Conflict) as refused:
        vote("ann", 1)

    assert refused.value.fields == {"reason": ["frozen"]}


def test_vote_after_the_deadline_is_refused(community, started, vote):
    VoteSession.objects.filter(pk=started.pk).update(deadline=timezone.now() - timedelta(seconds=1))

    with pytest.raises(Conflict) as refused:
        vote("ann", 1)

    assert refused.value.fields == {"reason": ["closed"]}


def test_votes_publish_a_coalesced_vote_cast_with_the_counts(community, started, vote):
    vote("ann", 2)

    casts = published(community, events.VOTE_CAST)
    assert casts and set(casts[-1]) == VOTE_KEYS
    assert casts[-1]["total_votes"] == 1
    assert [o["votes"] for o in casts[-1]["options"]] == [0, 1, 0, 0]
    row = OutboxEvent.objects.filter(community=community, type=events.VOTE_CAST).last()
    assert row.coalesce_key == f"vote:{started.pk}"


# --- resolution ------------------------------------------------------------------------------------


def test_the_option_with_most_votes_wins(community, started, vote):
    vote("ann", 3)
    vote("bob", 3)
    vote("cid", 1)

    winner = voting.close_vote(community)

    started.refresh_from_db()
    assert winner.position == 3
    assert (started.status, started.resolution, started.resolved_by) == (
        "resolved",
        "votes",
        "moderator",
    )
    assert started.winner == winner
    resolved = published(community, events.VOTE_RESOLVED)[-1]
    assert set(resolved) == RESOLVED_KEYS
    assert resolved["winner"]["key"] == winner.node.key
    assert (resolved["resolution"], resolved["resolved_by"]) == ("votes", "moderator")


def test_a_tie_goes_to_the_option_that_reached_the_top_count_first(community, started, vote):
    vote("v1", 2)  # option 2 leads first...
    vote("v2", 1)
    vote("v3", 1)  # ...but option 1 reaches two votes first
    vote("v4", 2)

    winner = voting.close_vote(community)

    started.refresh_from_db()
    assert winner.position == 1
    assert started.resolution == VoteSession.Resolution.TIE


def test_with_no_votes_a_random_option_wins_and_that_is_recorded(community, started):
    winner = voting.close_vote(community)

    started.refresh_from_db()
    assert winner.node.key in option_keys(started)
    assert started.resolution == VoteSession.Resolution.RANDOM
    assert published(community, events.VOTE_RESOLVED)[-1]["resolution"] == "random"


def test_the_winner_of_a_targetless_vote_becomes_the_target_at_once(community, started, vote):
    chosen = vote("ann", 2)

    voting.close_vote(community)

    progress = active(community)
    assert (progress.node, progress.level, progress.cost) == (chosen.node, 1, 100)
    target_set = published(community, events.TARGET_SET)[-1]
    assert target_set["target"]["key"] == chosen.node.key
    assert (target_set["auto_selected"], target_set["source"]) == (False, "vote")


def test_points_earned_during_a_targetless_vote_count_for_its_winner(
    earn, community, started, vote
):
    earn(community, 130)  # no target yet: the points wait
    chosen = vote("ann", 1)

    voting.close_vote(community)

    assert Unlock.objects.get(community=community).node == chosen.node
    assert accumulated(community) == 30
    assert_books_balance(community)


def test_a_resolved_winner_waits_as_up_next_and_becomes_the_target_after_the_unlock_with_the_rollover(
    earn, community, started, vote
):
    vote("ann", 1)
    voting.close_vote(community)  # first target
    target = active(community).node
    upcoming = vote("bob", 2)
    voting.close_vote(community)  # resolved while the target still fills

    progress = active(community)
    assert progress.node == target
    assert (progress.up_next_node, progress.up_next_level) == (upcoming.node, upcoming.level)

    earn(community, 140)

    progress = active(community)
    assert progress.node == upcoming.node
    assert progress.up_next_node is None
    assert accumulated(community) == 40
    target_set = published(community, events.TARGET_SET)[-1]
    assert target_set["target"]["key"] == upcoming.node.key
    assert (target_set["source"], target_set["rollover"], target_set["accumulated"]) == (
        "up_next",
        40,
        40,
    )
    assert_books_balance(community)


def test_an_open_vote_resolves_when_the_target_unlocks_and_its_winner_takes_the_rollover(
    earn, community, roots, vote
):
    # No window: the unlock resolves the vote at once (the targetless first vote needs a duration).
    ProgressionSettingsFactory(community=community, vote_window_seconds=0, vote_duration_seconds=60)
    active_state(community)
    vote("ann", 1)
    voting.close_vote(community)
    session = open_session(community)
    chosen = vote("bob", 3)

    earn(community, 125)

    session.refresh_from_db()
    assert (session.status, session.resolved_by, session.winner_id) == (
        "resolved",
        "unlock",
        chosen.pk,
    )
    assert active(community).node == chosen.node
    target_set = published(community, events.TARGET_SET)[-1]
    assert (target_set["source"], target_set["rollover"]) == ("vote", 25)
    assert_books_balance(community)


def test_exactly_one_candidate_is_auto_selected_with_target_set_and_the_rollover(earn, community):
    first = NodeFactory(community=community, key="first", cost_override=100)
    lone = NodeFactory(community=community, key="lone", tier=1, cost_override=1000)
    PrerequisiteFactory(node=lone, required=first)

    earn(community, 160)

    progress = active(community)
    assert (progress.node, progress.auto_selected) == (lone, True)
    assert not VoteSession.objects.filter(community=community).exists()
    target_sets = published(community, events.TARGET_SET)
    assert [t["target"]["key"] for t in target_sets] == ["first", "lone"]
    assert all(t["auto_selected"] is True and t["source"] == "auto" for t in target_sets)
    assert target_sets[-1]["rollover"] == 60
    assert target_sets[-1]["accumulated"] == 60
    assert_books_balance(community)


def test_after_an_auto_selected_target_unlocks_the_next_cycle_carries_on(earn, community):
    first = NodeFactory(community=community, key="first", cost_override=100)
    lone = NodeFactory(community=community, key="lone", tier=1, cost_override=100)
    PrerequisiteFactory(node=lone, required=first)
    for key in ("left", "right"):
        PrerequisiteFactory(node=NodeFactory(community=community, key=key, tier=2), required=lone)

    earn(community, 100)
    earn(community, 130)  # lone unlocks; two candidates follow: a vote, the 30 points wait

    progress = active(community)
    assert progress.node is None
    assert accumulated(community) == 30
    assert set(option_keys(open_session(community))) == {"left", "right"}
    assert_books_balance(community)


# --- moderators ------------------------------------------------------------------------------------


def test_moderator_can_open_a_vote_for_what_comes_after_the_target(community, started, vote):
    vote("ann", 1)
    voting.close_vote(community)
    voting.close_vote(community)  # the follow-up vote resolves: nothing open now

    session = voting.start_vote(community)

    assert session.status == VoteSession.Status.OPEN
    assert active(community).node.key not in option_keys(session)


def test_opening_a_second_vote_is_refused(community, started):
    with pytest.raises(Conflict) as refused:
        voting.start_vote(community)

    assert refused.value.fields == {"reason": ["vote_open"]}


def test_opening_a_vote_with_fewer_than_two_candidates_is_refused(community):
    NodeFactory(community=community, key="a", cost_override=100)
    NodeFactory(community=community, key="b", cost_override=100)
    active_state(community)
    voting.close_vote(community)  # target chosen; one candidate left

    with pytest.raises(Conflict) as refused:
        voting.start_vote(community)

    assert refused.value.fields == {"reason": ["too_few_options"]}


def test_closing_when_no_vote_is_open_is_refused(community):
    NodeFactory(community=community, key="only", cost_override=100)
    active_state(community)

    with pytest.raises(Conflict):
        voting.close_vote(community)


def test_freeze_pauses_the_deadline_and_unfreeze_restores_the_time_remaining(
    community, started, monkeypatch
):
    before = (started.deadline - timezone.now()).total_seconds()
    frozen = voting.freeze_vote(community)
    assert frozen.status == VoteSession.Status.FROZEN
    assert frozen.deadline is None
    assert before - 2 < frozen.frozen_remaining_seconds <= before

    later = timezone.now() + timedelta(hours=1)
    monkeypatch.setattr(timezone, "now", lambda: later)
    assert voting.resolve_due_votes() == 0  # a frozen vote never times out
    thawed = voting.unfreeze_vote(community)

    assert thawed.status == VoteSession.Status.OPEN
    assert thawed.frozen_remaining_seconds is None
    assert thawed.deadline == later + timedelta(seconds=frozen.frozen_remaining_seconds)
    frozen_event, unfrozen_event = (
        published(community, events.VOTE_FROZEN)[-1],
        published(community, events.VOTE_UNFROZEN)[-1],
    )
    assert set(frozen_event) == set(unfrozen_event) == VOTE_KEYS
    assert frozen_event["status"] == "frozen" and frozen_event["deadline"] is None
    assert unfrozen_event["status"] == "open" and unfrozen_event["deadline"] is not None


def test_freezing_a_frozen_vote_and_unfreezing_an_open_one_are_refused(community, started):
    with pytest.raises(Conflict):
        voting.unfreeze_vote(community)
    voting.freeze_vote(community)
    with pytest.raises(Conflict):
        voting.freeze_vote(community)


def test_a_vote_past_its_deadline_is_resolved_by_resolve_due_votes(community, started, vote):
    chosen = vote("ann", 4)
    past = timezone.now() - timedelta(seconds=31)  # it has run for its window (30 s) too
    VoteSession.objects.filter(pk=started.pk).update(
        started_at=past, deadline=timezone.now() - timedelta(seconds=1)
    )

    assert voting.resolve_due_votes() == 1

    started.refresh_from_db()
    assert (started.status, started.resolved_by) == ("resolved", "deadline")
    assert active(community).node == chosen.node
    assert published(community, events.VOTE_RESOLVED)[-1]["resolved_by"] == "deadline"


def test_a_vote_before_its_deadline_is_left_open(community, started):
    assert voting.resolve_due_votes() == 0

    started.refresh_from_db()
    assert started.status == VoteSession.Status.OPEN


def test_target_set_after_a_stretch_without_target_reports_the_banked_points_as_rollover(
    earn, community, started
):
    earn(community, 70)  # no target yet: banked
    assert accumulated(community) == 70

    voting.close_vote(community)

    target_set = published(community, events.TARGET_SET)[-1]
    assert (target_set["source"], target_set["rollover"], target_set["accumulated"]) == (
        "vote",
        70,
        70,
    )
    assert_books_balance(community)


# --- every vote gets a real chance: the vote window (issue 7, A2) ---------------------------


def _window_passes(session: VoteSession) -> None:
    """The clock moves past the vote's window (30 s by default) and its deadline."""
    past = timezone.now() - timedelta(seconds=31)
    VoteSession.objects.filter(pk=session.pk).update(
        started_at=past, deadline=timezone.now() - timedelta(seconds=1)
    )


@pytest.fixture
def filling(community, started, vote) -> VoteSession:
    """A target chosen, and a vote for its successor that has just opened."""
    vote("ann", 1)
    voting.close_vote(community)
    return open_session(community)


def test_a_target_that_fills_while_the_vote_is_young_unlocks_and_its_successor_waits(
    earn, community, filling
):
    target = active(community).node

    earn(community, 150)

    assert Unlock.objects.filter(community=community, node=target).exists()
    waiting = active(community)
    assert waiting.node is None  # no target until the vote resolves
    filling.refresh_from_db()
    assert filling.status == VoteSession.Status.OPEN
    assert filling.deadline == filling.started_at + timedelta(seconds=30)
    said = published(community, events.TARGET_WAITING)[-1]  # the first: the season's start
    assert said["state"] == "waiting_for_vote"
    assert said["vote"]["session_id"] == filling.pk
    assert said["vote"]["deadline"] == filling.deadline.isoformat()
    assert said["accumulated"] == 50
    status = progression_status(community)
    assert status["progress"]["state"] == "waiting_for_vote"
    assert status["vote"]["session_id"] == filling.pk
    assert_books_balance(community)


def test_points_are_banked_in_full_while_waiting_and_carry_into_the_chosen_target(
    earn, community, filling, vote
):
    earn(community, 150)
    earn(community, 80)  # banked for the successor: nothing capped
    chosen = vote("bob", 2)
    assert accumulated(community) == 130
    assert voting.resolve_due_votes() == 0  # the window has not run yet

    _window_passes(filling)
    assert voting.resolve_due_votes() == 1

    filling.refresh_from_db()
    assert (filling.status, filling.resolved_by) == ("resolved", "deadline")
    assert filling.winner_id == chosen.pk
    target_set = published(community, events.TARGET_SET)[-1]
    assert (target_set["target"]["key"], target_set["rollover"]) == (chosen.node.key, 130)
    # 130 fills the new target (cost 100) at once: it unlocks, its successor waits again
    assert Unlock.objects.filter(community=community, node=chosen.node).exists()
    assert active(community).node is None
    assert accumulated(community) == 30
    closed = UnlockProgress.objects.get(community=community, node=chosen.node)
    assert (closed.spent, closed.discarded, closed.rolled_over) == (100, 0, 30)
    assert_books_balance(community)


def test_a_cascade_of_banked_points_moves_one_target_per_window_each_with_a_real_vote(
    earn, community, filling
):
    ProgressionSettings.objects.filter(community=community).update(rollover_cap=0)
    progression_cache.clear_local()
    earn(community, 100)  # the target unlocks
    earn(community, 500)  # banked: enough for five more targets

    unlocked = []
    for _ in range(3):
        session = open_session(community)
        unlocked.append(Unlock.objects.filter(community=community).count())
        assert voting.resolve_due_votes() == 0  # each vote runs for its own window
        _window_passes(session)
        assert voting.resolve_due_votes() == 1
    unlocked.append(Unlock.objects.filter(community=community).count())

    assert unlocked == [1, 2, 3, 4]  # one target per window, never the whole bank at once
    assert accumulated(community) == 200
    resolved = VoteSession.objects.filter(community=community, status="resolved").order_by("pk")
    assert all(s.resolved_at - s.started_at >= timedelta(seconds=30) for s in resolved[1:])
    assert_books_balance(community)


def test_a_vote_older_than_the_window_still_resolves_when_the_target_unlocks(
    earn, community, filling
):
    _window_passes(filling)
    VoteSession.objects.filter(pk=filling.pk).update(deadline=None)
    waits = len(published(community, events.TARGET_WAITING))

    earn(community, 100)

    filling.refresh_from_db()
    assert (filling.status, filling.resolved_by) == ("resolved", "unlock")
    assert active(community).node is not None
    assert len(published(community, events.TARGET_WAITING)) == waits


def test_the_vote_window_is_settable_per_community(earn, community, roots):
    ProgressionSettingsFactory(community=community, vote_window_seconds=5)
    active_state(community)
    first = open_session(community)
    assert first.deadline == first.started_at + timedelta(seconds=5)
    voting.close_vote(community)
    following = open_session(community)

    earn(community, 100)

    following.refresh_from_db()
    assert following.deadline == following.started_at + timedelta(seconds=5)


def test_a_frozen_young_vote_keeps_at_most_the_windows_rest_when_the_target_fills(
    earn, community, filling
):
    voting.freeze_vote(community)

    earn(community, 100)

    filling.refresh_from_db()
    assert filling.status == VoteSession.Status.FROZEN
    assert active(community).node is None  # waiting for the vote
    assert 25 < filling.frozen_remaining_seconds <= 30
    assert voting.resolve_due_votes() == 0  # a frozen vote never times out
    voting.unfreeze_vote(community)
    filling.refresh_from_db()
    assert filling.deadline <= filling.started_at + timedelta(seconds=31)
