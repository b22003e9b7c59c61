"""What admins do by hand: force an unlock, relock a level, reset the tree into a new season."""

from __future__ import annotations

import pytest

from communities.errors import Conflict, NotFound
from progression import events
from progression.integrity import check_integrity
from progression.models import Contribution, PointsShard, Season, Unlock, UnlockProgress, Viewer
from progression.services import admin_actions, voting
from progression.services.state import active_state, season_total
from progression.tree_state import available_options
from realtime.models import OutboxEvent
from tests.factories import NodeFactory, PrerequisiteFactory

# Real commits: after-commit work (the unlock task, run eagerly) happens as in production, and
# check_integrity can open its own repeatable-read transaction.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("_eager_tasks")]


@pytest.fixture
def force(community):
    def run(key: str) -> Unlock:
        return admin_actions.force_unlock(community, key, by="user:1")

    return run


@pytest.fixture
def tree(community):
    """root (target, cost 100) -> mid -> top, plus a side node needing nothing."""
    root = NodeFactory(community=community, key="root", cost_override=100)
    mid = NodeFactory(community=community, key="mid", tier=1, cost_override=100)
    top = NodeFactory(community=community, key="top", tier=2, cost_override=100)
    PrerequisiteFactory(node=mid, required=root)
    PrerequisiteFactory(node=top, required=mid)
    active_state(community)  # lone candidate: root is the target
    return {"root": root, "mid": mid, "top": top}


def active(community) -> UnlockProgress:
    return UnlockProgress.objects.select_related("node").get(
        community=community, status=UnlockProgress.Status.ACTIVE
    )


def accumulated(community) -> int:
    progress = active(community)
    return season_total(progress.season_id) - progress.offset


def levels(community) -> dict[str, int]:
    rows = Unlock.objects.filter(
        community=community, relocked_at__isnull=True, season__ended_at__isnull=True
    ).values_list("node__key", "level")
    out: dict[str, int] = {}
    for key, level in rows:
        out[key] = max(level, out.get(key, 0))
    return out


def published(community, type_: str) -> list[dict]:
    rows = OutboxEvent.objects.filter(community=community, type=type_).order_by("event_id")
    assert all(row.topic == events.TOPIC for row in rows)
    return [row.data for row in rows]


def assert_books_balance(community) -> None:
    assert check_integrity(community) == []


# --- force-unlock ------------------------------------------------------------------------------


def test_force_unlocking_a_node_spends_no_points(earn, force, community, tree):
    side = NodeFactory(community=community, key="side", cost_override=500)
    earn(community, 40)

    unlock = force("side")

    assert (unlock.node, unlock.level, unlock.reason, unlock.progress) == (side, 1, "forced", None)
    assert accumulated(community) == 40
    assert active(community).node == tree["root"]
    forced = published(community, events.NODE_UNLOCKED)[-1]
    assert forced == {
        "node": {"key": "side", "name": side.name, "level": 1, "tier": 0},
        "unlock_id": unlock.pk,
        "reason": "forced",
        "spent": 0,
        "by": "user:1",
    }
    assert_books_balance(community)


def test_forcing_the_current_target_carries_all_its_points_to_the_next_target(
    earn, force, community, tree
):
    earn(community, 60)
    old = active(community)

    force("root")

    old.refresh_from_db()
    assert old.status == UnlockProgress.Status.CLOSED
    assert (old.spent, old.discarded, old.rolled_over) == (0, 0, 60)
    assert active(community).node == tree["mid"]
    assert accumulated(community) == 60
    target_set = published(community, events.TARGET_SET)[-1]
    assert (target_set["target"]["key"], target_set["rollover"]) == ("mid", 60)
    assert_books_balance(community)


def test_points_carried_from_a_forced_target_count_toward_the_next_one(
    earn, force, community, tree
):
    earn(community, 99)  # one short of root; mid also costs 100

    force("root")
    earn(community, 1)

    assert levels(community) == {"root": 1, "mid": 1}
    assert active(community).node == tree["top"]
    assert accumulated(community) == 0
    assert_books_balance(community)


def test_an_admin_change_elsewhere_leaves_a_running_targetless_vote_open(force, community):
    """Viewers are voting on the first target; an admin unlocks an unrelated node."""
    for key in ("a", "b", "c"):
        NodeFactory(community=community, key=key, cost_override=100)
    gated = NodeFactory(community=community, key="gated", tier=1, cost_override=100)
    PrerequisiteFactory(node=gated, required=NodeFactory(community=community, key="z", tier=1))
    active_state(community)
    session = voting.open_session(community.pk)
    offered = set(session.options.values_list("node__key", flat=True))
    assert "gated" not in offered
    voting.cast_vote(community, voter="viewer:ann", option=1)

    admin_actions.force_unlock(community, "gated", by="user:1", ignore_prerequisites=True)

    session.refresh_from_db()
    assert session.status == "open", f"the vote was {session.status} by {session.resolved_by!r}"
    assert active(community).node is None


def test_force_unlock_takes_the_next_level_of_a_multi_level_node(force, community, tree):
    NodeFactory(community=community, key="multi", max_level=2, cost_override=10)

    assert force("multi").level == 1
    assert force("multi").level == 2
    with pytest.raises(Conflict):
        force("multi")


def test_force_unlocking_an_unknown_node_is_not_found(force, community, tree):
    with pytest.raises(NotFound):
        force("nope")


def test_force_unlocking_a_vote_option_keeps_the_other_options_their_votes_and_the_deadline(
    force, community
):
    for key in ("a", "b", "c", "d", "e", "f"):
        NodeFactory(community=community, key=key, cost_override=100)
    active_state(community)
    session = voting.open_session(community.pk)
    keys = list(session.options.order_by("position").values_list("node__key", flat=True))
    voting.cast_vote(community, voter="viewer:ann", option=keys[0])
    voting.cast_vote(community, voter="viewer:bob", option=keys[1])
    voting.cast_vote(community, voter="viewer:cid", option=keys[1])
    deadline = session.deadline

    force(keys[0])

    session.refresh_from_db()
    assert session.status == "open"
    assert session.deadline == deadline
    assert voting.open_session(community.pk).pk == session.pk
    remaining = dict(session.options.values_list("node__key", "votes"))
    assert remaining == {keys[1]: 2, keys[2]: 0, keys[3]: 0}
    assert published(community, events.VOTE_CANCELLED) == []
    (updated,) = published(community, events.VOTE_UPDATED)
    assert (updated["session_id"], updated["total_votes"]) == (session.pk, 2)
    assert [node["key"] for node in updated["removed"]] == [keys[0]]
    assert_books_balance(community)


def test_force_unlocking_a_node_whose_prerequisites_are_unmet_is_refused_listing_them(
    force, community, tree
):
    with pytest.raises(Conflict) as refused:
        force("top")

    assert refused.value.fields == {"prerequisites": ["mid L1"]}
    assert levels(community) == {}
    assert published(community, events.NODE_UNLOCKED) == []


def test_force_unlock_may_ignore_prerequisites_when_asked(community, tree):
    unlock = admin_actions.force_unlock(community, "top", by="user:1", ignore_prerequisites=True)

    assert (unlock.node.key, unlock.level) == ("top", 1)
    assert levels(community) == {"top": 1}
    assert_books_balance(community)


def test_forcing_the_node_that_is_up_next_takes_it_off_up_next(force, community):
    for key in ("a", "b", "c", "d"):
        NodeFactory(community=community, key=key, cost_override=100)
    active_state(community)
    voting.cast_vote(community, voter="viewer:ann", option="a")
    voting.close_vote(community)  # a is the target; a vote on b, c, d opens
    voting.cast_vote(community, voter="viewer:ann", option="b")
    voting.close_vote(community)
    assert active(community).up_next_node.key == "b"

    force("b")

    progress = active(community)
    assert (progress.node.key, progress.up_next_node) == ("a", None)
    assert_books_balance(community)


# --- relock --------------------------------------------------------------------------------------


def test_relocking_a_level_others_depend_on_is_refused_and_lists_them(force, community, tree):
    force("root")
    force("mid")

    with pytest.raises(Conflict) as refused:
        admin_actions.relock(community, "root", cascade=False, by="user:1")

    assert refused.value.fields == {"dependents": ["mid"]}
    assert levels(community) == {"root": 1, "mid": 1}


def test_relock_with_cascade_takes_the_dependents_too(force, community, tree):
    force("root")
    force("mid")

    relocked = admin_actions.relock(community, "root", cascade=True, by="user:1")

    assert relocked == [{"key": "root", "level": 1}, {"key": "mid", "level": 1}]
    assert levels(community) == {}
    history = Unlock.objects.filter(community=community)
    assert history.count() == 2 and all(u.relocked_at is not None for u in history)
    payload = published(community, events.NODE_RELOCKED)[-1]
    assert payload == {
        "node": {"key": "root", "name": tree["root"].name, "level": 1, "tier": 0},
        "cascade": [{"key": "mid", "level": 1}],
        "by": "user:1",
    }
    assert_books_balance(community)


def test_a_relocked_level_can_be_earned_again(earn, force, community, tree):
    earn(community, 100)  # root unlocked by points; mid is the target
    admin_actions.relock(community, "root", cascade=False, by="user:1")

    assert active(community).node == tree["root"]  # mid is no longer possible
    earn(community, 100)

    assert Unlock.objects.filter(community=community, node=tree["root"]).count() == 2
    assert levels(community) == {"root": 1}
    assert_books_balance(community)


def test_relocking_the_highest_level_leaves_the_lower_ones(force, community, tree):
    NodeFactory(community=community, key="multi", max_level=3, cost_override=10)
    for _ in range(3):
        force("multi")

    relocked = admin_actions.relock(community, "multi", cascade=False, by="user:1")

    assert relocked == [{"key": "multi", "level": 3}]
    assert levels(community)["multi"] == 2


def test_relocking_a_node_that_is_not_unlocked_is_refused(community, tree):
    with pytest.raises(Conflict):
        admin_actions.relock(community, "top", cascade=False, by="user:1")


# --- season reset ----------------------------------------------------------------------------------


def test_season_reset_keeps_history_and_starts_season_two_with_fresh_counters(
    earn, community, tree
):
    earn(community, 130, viewer="ann")  # root unlocked, 30 roll over to mid
    earn(community, 20, viewer="bob")
    first = Season.objects.get(community=community)

    season = admin_actions.reset_season(community, by="user:1")

    assert season.number == 2
    first.refresh_from_db()
    assert first.ended_at is not None
    assert Unlock.objects.filter(season=first).count() == 1  # history kept
    assert Contribution.objects.filter(season=first).count() == 2
    last = UnlockProgress.objects.filter(season=first).order_by("-pk").first()
    assert (last.status, last.discarded) == ("closed", 50)
    fresh = active(community)
    assert (fresh.season_id, fresh.offset) == (season.pk, 0)
    assert fresh.node == tree["root"]  # the tree starts over
    assert accumulated(community) == 0
    assert PointsShard.objects.filter(season=season).count() == 16
    assert sum(PointsShard.objects.filter(season=season).values_list("points", flat=True)) == 0
    assert levels(community) == {}
    assert [v.points_total for v in Viewer.objects.filter(community=community).order_by("pk")] == [
        130,
        20,
    ]
    reset = published(community, events.SEASON_RESET)[-1]
    assert reset == {"season": 2, "previous_season": 1, "discarded": 50, "by": "user:1"}
    assert_books_balance(community)


def test_after_a_reset_points_count_in_the_new_season(earn, community, tree):
    earn(community, 130)
    admin_actions.reset_season(community, by="user:1")

    earn(community, 100)

    season = Season.objects.get(community=community, ended_at__isnull=True)
    assert Unlock.objects.filter(season=season, node=tree["root"]).count() == 1
    assert active(community).node == tree["mid"]
    assert_books_balance(community)


def test_season_reset_cancels_an_open_vote(community):
    for key in ("a", "b", "c"):
        NodeFactory(community=community, key=key, cost_override=100)
    active_state(community)
    old = voting.open_session(community.pk)

    admin_actions.reset_season(community, by="user:1")

    old.refresh_from_db()
    assert old.status == "cancelled"
    fresh = voting.open_session(community.pk)
    assert fresh is not None and fresh.season_id != old.season_id
    assert len(available_options(community.pk, fresh.season_id, exclude=set())) == 3
    assert_books_balance(community)


# --- the admin site's node actions -------------------------------------------------------------


def test_admin_site_force_unlock_refuses_unmet_prerequisites_unless_the_ignoring_action(
    client, community, tree, settings
):
    from django.contrib.auth import get_user_model

    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    admin_user = get_user_model().objects.create_superuser("boss", "boss@example.com", "pw")
    client.force_login(admin_user)
    url = "/admin/progression/node/"

    def run(action: str):
        return client.post(
            url, {"action": action, "_selected_action": [tree["top"].pk]}, follow=True
        )

    refused = run("force_unlock_next_level")
    assert levels(community) == {}
    shown = [str(m) for m in refused.context["messages"]]
    assert any("top" in m and "mid L1" in m for m in shown), shown

    run("force_unlock_ignoring_prerequisites")
    assert levels(community) == {"top": 1}
