"""An open vote only ever offers what can still be chosen: a node retired by `load_tree` or
unlocked by hand leaves the ballot (the other options and their votes stay), and a vote left
with fewer than two options is cancelled, with the event that says so."""

from __future__ import annotations

import pytest

from progression import events
from progression.integrity import check_integrity
from progression.models import UnlockProgress, VoteSession
from progression.services import voting
from progression.services.state import active_state
from progression.services.tree import sync_tree
from realtime.models import OutboxEvent

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("_eager_tasks")]

KEYS = ("alpha", "bravo", "charlie", "delta")


def tree_file(*keys: str) -> dict:
    return {
        "nodes": [
            {"key": key, "name": key.title(), "tier": 0, "size": "small", "cost": 100}
            for key in keys
        ]
    }


def option_keys(session: VoteSession) -> list[str]:
    return list(session.options.order_by("position").values_list("node__key", flat=True))


def published(community, type_: str) -> list[dict]:
    rows = OutboxEvent.objects.filter(community=community, type=type_).order_by("event_id")
    return [row.data for row in rows]


@pytest.fixture
def targetless_vote(community) -> VoteSession:
    """Four candidates and no target: a vote on the first target with all four."""
    sync_tree(community, tree_file(*KEYS))
    active_state(community)
    session = voting.open_session(community.pk)
    assert session is not None and option_keys(session) == list(KEYS)
    return session


def test_a_node_removed_by_load_tree_leaves_the_open_vote_and_can_never_win(
    community, targetless_vote
):
    voting.cast_vote(community, voter="viewer:ann", option="alpha")
    voting.cast_vote(community, voter="viewer:bob", option="alpha")
    voting.cast_vote(community, voter="viewer:cid", option="bravo")

    report = sync_tree(community, tree_file("bravo", "charlie", "delta"))

    assert report.kept_in_use == ("alpha",)
    targetless_vote.refresh_from_db()
    assert targetless_vote.status == VoteSession.Status.OPEN
    assert option_keys(targetless_vote) == ["bravo", "charlie", "delta"]
    (updated,) = published(community, events.VOTE_UPDATED)
    assert updated["session_id"] == targetless_vote.pk
    assert [o["key"] for o in updated["options"]] == ["bravo", "charlie", "delta"]
    assert [r["key"] for r in updated["removed"]] == ["alpha"]
    assert updated["total_votes"] == 1
    assert [o["position"] for o in updated["options"]] == [2, 3, 4]  # positions stay put

    winner = voting.close_vote(community)

    assert winner.node.key == "bravo"
    progress = UnlockProgress.objects.get(community=community, status="active")
    assert progress.node.key == "bravo"
    assert check_integrity(community) == []


def test_a_viewer_whose_option_was_removed_may_vote_again(community, targetless_vote):
    voting.cast_vote(community, voter="viewer:ann", option="alpha")
    sync_tree(community, tree_file("bravo", "charlie", "delta"))

    chosen = voting.cast_vote(community, voter="viewer:ann", option="charlie")

    assert (chosen.node.key, chosen.votes) == ("charlie", 1)


def test_a_vote_left_with_one_option_is_cancelled_and_published(community, targetless_vote):
    sync_tree(community, tree_file("delta"))

    targetless_vote.refresh_from_db()
    assert targetless_vote.status == VoteSession.Status.CANCELLED
    (cancelled,) = published(community, events.VOTE_CANCELLED)
    assert cancelled["session_id"] == targetless_vote.pk
    progress = UnlockProgress.objects.get(community=community, status="active")
    assert progress.node.key == "delta"  # the lone candidate left
    assert check_integrity(community) == []


def test_relocking_a_prerequisite_takes_its_dependent_off_the_vote_and_keeps_the_rest(community):
    from progression.services import admin_actions
    from tests.factories import NodeFactory, PrerequisiteFactory

    for key in ("a", "b", "c", "z"):
        NodeFactory(community=community, key=key, cost_override=100)
    PrerequisiteFactory(
        node=NodeFactory(community=community, key="e", tier=1, cost_override=100),
        required=community.nodes.get(key="z"),
    )
    active_state(community)  # a vote on a, b, c, z
    admin_actions.force_unlock(community, "z", by="test")  # z leaves it; e is now possible
    voting.close_vote(community)  # one of a, b, c is the target; a vote on the other two and e
    following = voting.open_session(community.pk)
    assert "e" in option_keys(following) and len(option_keys(following)) == 3
    voting.cast_vote(community, voter="viewer:ann", option="e")
    others = [key for key in option_keys(following) if key != "e"]
    voting.cast_vote(community, voter="viewer:bob", option=others[0])

    admin_actions.relock(community, "z", cascade=False, by="test")

    following.refresh_from_db()
    assert following.status == VoteSession.Status.OPEN
    assert option_keys(following) == others
    assert dict(following.options.values_list("node__key", "votes")) == {others[0]: 1, others[1]: 0}
    assert [r["key"] for r in published(community, events.VOTE_UPDATED)[-1]["removed"]] == ["e"]
    assert check_integrity(community) == []
