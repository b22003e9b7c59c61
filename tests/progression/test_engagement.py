"""record_engagement: weights, points, the ledger, idempotency and rate limits."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
from django.core.cache import cache as django_cache
from django.db.models import Sum

from communities.errors import InvalidInput
from progression import cache as progression_cache
from progression.integrity import check_integrity
from progression.models import Contribution, PointsShard, Viewer
from progression.services.admin_actions import force_unlock, set_weight
from progression.services.engagement import EngagementEvent, record_engagement
from progression.services.state import active_state
from progression.weights import weights_key
from tests.factories import (
    EngagementWeightFactory,
    NodeFactory,
    PrerequisiteFactory,
    ProgressionSettingsFactory,
)

# Real commits: after-commit work (the unlock task, run eagerly) happens as in production, and
# check_integrity can open its own repeatable-read transaction.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("_eager_tasks")]


@pytest.fixture
def chat():
    """chat(community, ("ann", "message", 3), ...) records one batch; each tuple is
    (platform_user_id, metric, value[, message_id])."""

    def send(community, *items):
        events = [
            EngagementEvent(
                index=i,
                platform_user_id=item[0],
                metric=item[1],
                value=item[2],
                message_id=item[3] if len(item) > 3 else None,
            )
            for i, item in enumerate(items)
        ]
        return record_engagement(community, events)

    return send


@pytest.fixture
def tree(community):
    """One big target so nothing unlocks by accident: the points just accumulate."""
    return NodeFactory(community=community, key="big", cost_override=1_000_000)


def season_points(community) -> int:
    return (
        PointsShard.objects.filter(season__community=community).aggregate(p=Sum("points"))["p"] or 0
    )


def assert_books_balance(community) -> None:
    assert check_integrity(community) == []


# --- points = floor(value x weight x multiplier) ------------------------------------------


@pytest.mark.parametrize(
    ("metric", "value", "points"),
    [
        ("message", 1, 1),
        ("command", 3, 3),
        ("follow", 1, 5),
        ("subscription", 2, 100),
        ("gift_subscription", 1, 50),
        ("cheer", 500, 50),
        ("cheer", 19, 1),
        ("cheer", 9, 0),
        ("raid", 37, 37),
        ("vote", 1, 2),
    ],
)
def test_points_are_value_times_default_weight_rounded_down(
    chat, community, tree, metric, value, points
):
    result = chat(community, ("ann", metric, value))

    assert result.outcomes[0].status == "accepted"
    assert result.outcomes[0].points == points
    assert result.credited == points
    row = Contribution.objects.get(community=community)
    assert (row.metric, row.value, row.points) == (metric, value, points)
    assert season_points(community) == points
    assert_books_balance(community)


def test_cheer_is_weighted_per_bit(chat, community, tree):
    result = chat(community, ("ann", "cheer", 100), ("bob", "cheer", 1000))

    assert [o.points for o in result.outcomes] == [10, 100]
    assert result.credited == 110


def test_admin_weight_override_applies_to_the_very_next_event(chat, community, tree):
    chat(community, ("ann", "message", 1))  # the default weights are now cached

    set_weight(community, "message", "2.5")
    result = chat(community, ("ann", "message", 3))

    assert result.outcomes[0].points == 7  # floor(3 x 2.5)
    assert season_points(community) == 1 + 7


def test_weight_override_can_add_a_new_metric(chat, community, tree):
    set_weight(community, "hype_train", "4")

    result = chat(community, ("ann", "hype_train", 2))

    assert result.outcomes[0].status == "accepted"
    assert result.outcomes[0].points == 8


def test_a_weight_changed_by_another_process_applies_here_within_a_second(chat, community, tree):
    chat(community, ("ann", "message", 1))  # the default weights are now cached here
    EngagementWeightFactory(community=community, metric="message", weight=3)
    # What the other process's commit hook does: a new version in the shared cache.
    django_cache.set(progression_cache._version_key(weights_key(community.pk)), time.time_ns())

    time.sleep(1.0)
    result = chat(community, ("ann", "message", 1))

    assert result.outcomes[0].points == 3


@pytest.mark.parametrize("weight", ["-1", "lots"])
def test_weight_must_be_a_non_negative_number(community, weight):
    with pytest.raises(InvalidInput):
        set_weight(community, "message", weight)


def test_unknown_metric_is_invalid_and_credits_nothing(chat, community, tree):
    result = chat(community, ("ann", "dance", 1))

    assert result.outcomes[0].status == "invalid"
    assert "dance" in result.outcomes[0].reason
    assert result.credited == 0
    assert not Contribution.objects.filter(community=community).exists()
    assert season_points(community) == 0


def test_invalid_events_do_not_spoil_valid_ones_in_the_same_batch(chat, community, tree):
    result = chat(
        community,
        ("ann", "message", 1),
        ("bob", "dance", 1),
        ("cid", "follow", 1),
    )

    assert [o.status for o in result.outcomes] == ["accepted", "invalid", "accepted"]
    assert result.credited == 6
    assert result.counts == {"accepted": 2, "invalid": 1}
    assert Contribution.objects.filter(community=community).count() == 2


def test_contribution_multiplier_of_an_unlocked_node_raises_points(chat, community):
    NodeFactory(
        community=community,
        key="hype",
        cost_override=100,
        max_level=2,
        effects=[{"type": "contribution_multiplier", "value": 0.1}],
    )
    NodeFactory(community=community, key="big", cost_override=1_000_000)
    assert chat(community, ("ann", "message", 10)).outcomes[0].points == 10

    force_unlock(community, "hype", by="test")
    assert chat(community, ("ann", "message", 10)).outcomes[0].points == 11  # +10% at level 1

    force_unlock(community, "hype", by="test")
    assert chat(community, ("ann", "message", 10)).outcomes[0].points == 12  # +10% per level
    assert_books_balance(community)


def test_contribution_multipliers_of_several_nodes_add_up_exactly(chat, community):
    """+10% and +70% make +80%: ten messages earn 18 points, not 17."""
    NodeFactory(
        community=community,
        key="small_boost",
        cost_override=100,
        effects=[{"type": "contribution_multiplier", "value": 0.1}],
    )
    NodeFactory(
        community=community,
        key="big_boost",
        cost_override=100,
        effects=[{"type": "contribution_multiplier", "value": 0.7}],
    )
    NodeFactory(community=community, key="big", cost_override=1_000_000)
    active_state(community)  # the season opens with the first activity
    force_unlock(community, "small_boost", by="test")
    force_unlock(community, "big_boost", by="test")

    result = chat(community, ("ann", "message", 10))

    assert result.outcomes[0].points == 18


def test_points_of_the_event_that_crosses_a_threshold_use_the_multiplier_before_it(chat, community):
    boost = NodeFactory(
        community=community,
        key="boost",
        cost_override=10,
        effects=[{"type": "contribution_multiplier", "value": 1}],
    )
    PrerequisiteFactory(
        node=NodeFactory(community=community, key="next", cost_override=1000), required=boost
    )

    first = chat(community, ("ann", "message", 10))  # unlocks boost: x2 from now on
    second = chat(community, ("ann", "message", 10))

    assert first.outcomes[0].points == 10
    assert second.outcomes[0].points == 20
    assert_books_balance(community)


# --- the ledger and viewers ------------------------------------------------------------------


def test_every_credited_event_is_a_ledger_row_with_viewer_metric_value_points_and_progress(
    community, tree
):
    occurred = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    event = EngagementEvent(
        index=0,
        platform_user_id="ann",
        display_name="Ann",
        metric="follow",
        value=1,
        message_id="m-1",
        occurred_at=occurred,
    )

    outcome = record_engagement(community, [event])

    row = Contribution.objects.select_related("viewer").get(community=community)
    assert row.viewer.platform_user_id == "ann"
    assert (row.metric, row.value, row.points, row.message_id) == ("follow", 1, 5, "m-1")
    assert row.occurred_at == occurred
    assert row.progress_id == outcome.progress_id


def test_viewer_rows_keep_the_latest_display_name_and_their_totals(community, tree):
    def send(name: str, value: int) -> None:
        event = EngagementEvent(
            index=0, platform_user_id="ann", display_name=name, metric="message", value=value
        )
        record_engagement(community, [event])

    send("Ann", 2)
    send("", 3)  # no name sent: the known one stays
    send("Annie", 4)

    viewer = Viewer.objects.get(community=community, platform_user_id="ann")
    assert viewer.display_name == "Annie"
    assert viewer.points_total == 9
    assert viewer.events_total == 3


def test_result_reports_the_current_progress(chat, community):
    NodeFactory(community=community, key="only", cost_override=100)

    result = chat(community, ("ann", "message", 30), ("bob", "message", 12))

    assert result.cost == 100
    assert result.accumulated == 42
    assert result.credited == 42


# --- message ids make delivery idempotent ----------------------------------------------------


def test_same_message_id_in_two_requests_is_credited_once(chat, community, tree):
    first = chat(community, ("ann", "follow", 1, "msg-1"))
    second = chat(community, ("ann", "follow", 1, "msg-1"))

    assert first.outcomes[0].status == "accepted"
    assert second.outcomes[0].status == "duplicate"
    assert second.outcomes[0].points == 0
    assert second.credited == 0
    assert Contribution.objects.filter(community=community, message_id="msg-1").count() == 1
    assert season_points(community) == 5
    viewer = Viewer.objects.get(community=community, platform_user_id="ann")
    assert (viewer.points_total, viewer.events_total) == (5, 1)
    assert_books_balance(community)


def test_repeated_message_id_within_a_batch_is_a_duplicate(chat, community, tree):
    result = chat(
        community,
        ("ann", "message", 1, "m-1"),
        ("ann", "message", 1, "m-1"),
        ("ann", "message", 1, "m-2"),
    )

    assert [o.status for o in result.outcomes] == ["accepted", "duplicate", "accepted"]
    assert result.credited == 2
    assert season_points(community) == 2


def test_duplicate_mixed_with_new_events_credits_only_the_new_ones(chat, community, tree):
    chat(community, ("ann", "message", 5, "m-1"))

    result = chat(community, ("ann", "message", 5, "m-1"), ("ann", "message", 7, "m-2"))

    assert [o.status for o in result.outcomes] == ["duplicate", "accepted"]
    viewer = Viewer.objects.get(community=community, platform_user_id="ann")
    assert (viewer.points_total, viewer.events_total) == (12, 2)
    assert season_points(community) == 12
    assert_books_balance(community)


def test_message_ids_are_per_community(chat, community, tree):
    other = NodeFactory(cost_override=1_000_000).community

    chat(community, ("ann", "message", 1, "m-1"))
    result = chat(other, ("ann", "message", 1, "m-1"))

    assert result.outcomes[0].status == "accepted"


def test_events_without_message_id_are_each_credited(chat, community, tree):
    result = chat(community, ("ann", "message", 1), ("ann", "message", 1))

    assert [o.status for o in result.outcomes] == ["accepted", "accepted"]
    assert season_points(community) == 2


# --- rate limits -------------------------------------------------------------------------------


def test_a_viewer_gets_a_burst_of_20_then_the_rest_is_rate_limited(chat, community, tree):
    result = chat(community, *[("ann", "message", 1)] * 25)

    statuses = [o.status for o in result.outcomes]
    assert statuses == ["accepted"] * 20 + ["rate_limited"] * 5
    assert {o.reason for o in result.outcomes[20:]} == {"viewer rate limit"}
    assert result.counts == {"accepted": 20, "rate_limited": 5}
    assert season_points(community) == 20
    viewer = Viewer.objects.get(community=community, platform_user_id="ann")
    assert (viewer.points_total, viewer.events_total) == (20, 20)


def test_each_viewer_has_a_bucket_of_their_own(chat, community, tree):
    result = chat(community, *[("ann", "message", 1)] * 20, *[("bob", "message", 1)] * 20)

    assert result.counts == {"accepted": 40}


def test_viewer_limits_are_settable_per_community(chat, community, tree):
    ProgressionSettingsFactory(community=community, viewer_rate=1, viewer_burst=3)

    result = chat(community, *[("ann", "message", 1)] * 5)

    assert [o.status for o in result.outcomes] == ["accepted"] * 3 + ["rate_limited"] * 2


def test_community_limit_caps_a_batch_across_viewers(chat, community, tree):
    ProgressionSettingsFactory(community=community, community_rate=1, community_burst=30)
    items = [(viewer, "message", 1) for viewer in ("ann", "bob", "cid") for _ in range(15)]

    result = chat(community, *items)

    assert result.counts == {"accepted": 30, "rate_limited": 15}
    assert {o.reason for o in result.outcomes if o.status == "rate_limited"} == {
        "community rate limit"
    }
    assert season_points(community) == 30
    assert_books_balance(community)


def test_rate_limited_and_invalid_events_do_not_count_against_each_other(chat, community, tree):
    items = [("ann", "dance", 1)] * 5 + [("ann", "message", 1)] * 20

    result = chat(community, *items)

    assert result.counts == {"invalid": 5, "accepted": 20}
