"""The HTTP edge of the progression engine: ingest, votes, moderation and public reads."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from communities.models import Role
from progression.integrity import check_integrity
from progression.models import Contribution, Unlock, UnlockProgress, Viewer, Vote, VoteSession
from realtime.models import OutboxEvent
from tests.asgi_client import asgi_post
from tests.factories import (
    MembershipFactory,
    NodeFactory,
    ProgressionSettingsFactory,
    UserFactory,
    issue_token,
)

# Real commits: after-commit work (the unlock task, run eagerly) happens as in production, and
# check_integrity can open its own repeatable-read transaction.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("_eager_tasks")]


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(params=["ninja", "asgi"])
def api(request, client):
    """api(method, path, body=None, token=None): one request under /api/communities/.

    Every test runs twice: bots' engagement POSTs go once through the Ninja route (Django's
    test client) and once through the whole ASGI application, where the lean ingest edge and
    its group-commit queue take them. Both must behave the same.
    """

    def call(method: str, path: str, body=None, token: str | None = None):
        if request.param == "asgi" and method == "post" and path.endswith("/engagement") and token:
            return asgi_post(f"/api/communities/{path}", body, token)
        kwargs: dict = {"headers": {"Authorization": f"Bearer {token}"} if token else {}}
        if body is not None:
            kwargs.update(data=json.dumps(body), content_type="application/json")
        return getattr(client, method)(f"/api/communities/{path}", **kwargs)

    return call


@pytest.fixture
def voter(community):
    return issue_token(community, "vote").secret


@pytest.fixture
def admin(community):
    return issue_token(community, "admin").secret


@pytest.fixture
def ballot(api, community, ingest):
    """Four root nodes: the first engagement opens a vote on the first target."""
    for key in ("a", "b", "c", "d"):
        NodeFactory(community=community, key=key, cost_override=100)
    api("post", f"{community.slug}/engagement", msg("ann"), ingest)
    return VoteSession.objects.get(community=community, status="open")


def msg(viewer: str, value: int = 1, metric: str = "message", **extra) -> dict:
    return {"platform_user_id": viewer, "metric": metric, "value": value, **extra}


def error_of(response, status: int) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}
    return body["error"]


def assert_books_balance(community) -> None:
    assert check_integrity(community) == []


# --- ingest ------------------------------------------------------------------------------------------


def test_one_event_is_accepted_and_the_answer_gives_points_and_progress(
    api, community, chain, ingest
):
    response = api(
        "post", f"{community.slug}/engagement", msg("ann", 3, display_name="Ann"), ingest
    )

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["results"] == [{"index": 0, "status": "accepted", "points": 3, "reason": ""}]
    assert (body["accepted"], body["duplicate"], body["rate_limited"], body["invalid"]) == (
        1,
        0,
        0,
        0,
    )
    assert body["credited_points"] == 3
    progress = body["progress"]
    assert (progress["accumulated"], progress["cost"], progress["percent"]) == (3, 100, 3.0)
    assert Viewer.objects.get(community=community).display_name == "Ann"


def test_one_bad_event_in_a_batch_is_invalid_and_the_rest_are_credited(
    api, community, chain, ingest
):
    future = (timezone.now() + timedelta(hours=1)).isoformat()
    batch = [
        msg("ann", 2),
        {"metric": "message"},  # no viewer
        msg("bob", 0),  # value below 1
        msg("cid", 1, metric="dance"),  # unknown metric
        msg("dan", 1, occurred_at=future),
        msg("eve", 1, metric="follow"),
    ]

    response = api("post", f"{community.slug}/engagement", {"events": batch}, ingest)

    assert response.status_code == 200, response.content
    body = response.json()
    assert [r["status"] for r in body["results"]] == [
        "accepted",
        "invalid",
        "invalid",
        "invalid",
        "invalid",
        "accepted",
    ]
    assert [r["index"] for r in body["results"]] == list(range(6))
    reasons = [r["reason"] for r in body["results"]]
    assert "platform_user_id" in reasons[1]
    assert "value" in reasons[2]
    assert "dance" in reasons[3]
    assert "future" in reasons[4]
    assert (body["accepted"], body["invalid"], body["credited_points"]) == (2, 4, 7)
    assert Contribution.objects.filter(community=community).count() == 2


def test_same_message_id_in_two_requests_is_credited_once(api, community, chain, ingest):
    event = msg("ann", 5, message_id="twitch-123")

    first = api("post", f"{community.slug}/engagement", event, ingest).json()
    second = api("post", f"{community.slug}/engagement", {"events": [event]}, ingest).json()

    assert first["results"][0]["status"] == "accepted"
    assert second["results"][0]["status"] == "duplicate"
    assert (second["duplicate"], second["credited_points"]) == (1, 0)
    assert second["progress"]["accumulated"] == 5
    viewer = api("get", f"{community.slug}/viewers/ann/contributions").json()
    assert (viewer["points_total"], viewer["events_total"]) == (5, 1)
    assert_books_balance(community)


def test_25_events_from_one_viewer_in_one_batch_are_20_accepted_and_5_rate_limited(
    api, community, chain, ingest
):
    response = api("post", f"{community.slug}/engagement", {"events": [msg("ann")] * 25}, ingest)

    body = response.json()
    assert response.status_code == 200
    assert (body["accepted"], body["rate_limited"]) == (20, 5)
    assert [r["status"] for r in body["results"][20:]] == ["rate_limited"] * 5
    assert body["credited_points"] == 20


def test_a_request_whose_every_event_is_rate_limited_is_429_with_retry_after(
    api, community, chain, ingest
):
    ProgressionSettingsFactory(community=community, viewer_rate=1, viewer_burst=5)
    assert (
        api(
            "post", f"{community.slug}/engagement", {"events": [msg("ann")] * 5}, ingest
        ).status_code
        == 200
    )

    response = api("post", f"{community.slug}/engagement", {"events": [msg("ann")] * 3}, ingest)

    assert error_of(response, 429)["code"] == "rate_limited"
    assert int(response["Retry-After"]) >= 1
    assert Contribution.objects.filter(community=community).count() == 5


def test_the_community_limit_applies_across_viewers(api, community, chain, ingest):
    ProgressionSettingsFactory(community=community, community_rate=1, community_burst=10)
    batch = [msg(viewer) for viewer in ("ann", "bob", "cid") for _ in range(5)]

    body = api("post", f"{community.slug}/engagement", {"events": batch}, ingest).json()

    assert (body["accepted"], body["rate_limited"]) == (10, 5)
    assert {r["reason"] for r in body["results"] if r["status"] == "rate_limited"} == {
        "community rate limit"
    }


def test_a_batch_of_more_than_1000_events_is_refused(api, community, chain, ingest):
    response = api("post", f"{community.slug}/engagement", {"events": [msg("ann")] * 1001}, ingest)

    error = error_of(response, 400)
    assert "events" in error["fields"]
    assert not Contribution.objects.filter(community=community).exists()


def test_a_batch_of_1000_events_is_taken(api, community, chain, ingest):
    batch = [msg(f"viewer{i % 100}") for i in range(1000)]

    body = api("post", f"{community.slug}/engagement", {"events": batch}, ingest).json()

    assert body["accepted"] == 1000


def test_events_that_are_not_a_list_are_refused(api, community, ingest):
    assert error_of(api("post", f"{community.slug}/engagement", {"events": "x"}, ingest), 400)


def test_ingest_needs_the_ingest_scope(api, community, chain):
    for scopes in (("read",), ("vote",), ("admin",)):
        token = issue_token(community, *scopes).secret
        assert error_of(api("post", f"{community.slug}/engagement", msg("ann"), token), 403)
    assert error_of(api("post", f"{community.slug}/engagement", msg("ann")), 401)
    assert not Contribution.objects.exists()


def test_an_ingest_token_of_another_community_is_refused(api, community, chain):
    other = issue_token(NodeFactory().community, "ingest").secret

    assert error_of(api("post", f"{community.slug}/engagement", msg("ann"), other), 403)


def test_a_message_whose_first_copy_is_over_the_limit_counts_through_a_later_copy(
    api, community, chain, ingest
):
    ProgressionSettingsFactory(community=community, viewer_rate=1, viewer_burst=1)
    batch = [
        msg("ann", message_id="a0"),
        msg("ann", message_id="x1"),  # ann's one token went to a0
        msg("bob", message_id="x1"),  # bob has a token: this copy counts
        msg("bob", message_id="x1"),  # over bob's limit: refused, never "duplicate" for it
    ]

    body = api("post", f"{community.slug}/engagement", {"events": batch}, ingest).json()

    assert [(r["status"], r["reason"]) for r in body["results"]] == [
        ("accepted", ""),
        ("rate_limited", "viewer rate limit"),
        ("accepted", ""),
        ("rate_limited", "viewer rate limit"),
    ]
    credited = Contribution.objects.get(community=community, message_id="x1")
    assert credited.viewer.platform_user_id == "bob"
    assert_books_balance(community)


def test_repeats_that_pass_the_limits_are_duplicates_of_the_credited_copy(
    api, community, chain, ingest
):
    batch = [msg("ann", message_id="x1"), msg("bob", message_id="x1"), msg("ann", message_id="x1")]
    body = api("post", f"{community.slug}/engagement", {"events": batch}, ingest).json()
    assert [(r["status"], r["reason"]) for r in body["results"]] == [
        ("accepted", ""),
        ("duplicate", "repeated in this batch"),
        ("duplicate", "repeated in this batch"),
    ]


def test_points_committed_are_answered_200_even_if_the_read_after_commit_fails(
    api, community, chain, ingest, monkeypatch
):
    from progression.services import engagement

    def broken(found):  # noqa: ANN001, ANN202
        raise ConnectionError("database gone after the commit")

    monkeypatch.setattr(engagement, "active_state_with_total", broken)

    response = api("post", f"{community.slug}/engagement", msg("ann", message_id="m1"), ingest)

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["accepted"] == 1 and body["credited_points"] == 1
    assert body["progress"]["accumulated"] is None and body["progress"]["percent"] is None
    assert Contribution.objects.filter(community=community, message_id="m1").exists()


def test_a_failed_enqueue_after_commit_does_not_turn_the_answer_into_an_error(
    api, community, chain, ingest, monkeypatch
):
    from progression import tasks_on_commit

    class BrokenCache:
        def add(self, *args, **kwargs):  # noqa: ANN002, ANN003, ANN201
            raise ConnectionError("redis went away")

    monkeypatch.setattr(tasks_on_commit, "cache", BrokenCache())

    response = api("post", f"{community.slug}/engagement", msg("ann", message_id="m1"), ingest)

    assert response.status_code == 200, response.content
    assert response.json()["accepted"] == 1
    assert Contribution.objects.filter(community=community, message_id="m1").exists()
    assert_books_balance(community)


def test_an_event_with_a_nul_character_is_invalid_alone(api, community, chain, ingest):
    batch = [msg("ann", message_id="ok-1"), msg("b\x00b", message_id="bad"), msg("cid")]
    body = api("post", f"{community.slug}/engagement", {"events": batch}, ingest).json()
    assert [r["status"] for r in body["results"]] == ["accepted", "invalid", "accepted"]
    assert "NUL" in body["results"][1]["reason"]
    assert Contribution.objects.filter(community=community).count() == 2


def test_engagement_over_http_drives_unlocks_and_the_books_balance(api, community, chain, ingest):
    batch = [msg(f"v{i}", 10, message_id=f"m{i}") for i in range(13)]

    body = api("post", f"{community.slug}/engagement", {"events": batch}, ingest).json()

    assert body["credited_points"] == 130
    assert Unlock.objects.filter(community=community, node=chain[0]).count() == 1
    status = api("get", f"{community.slug}/progression").json()
    assert status["progress"]["target"]["key"] == "second"
    assert status["progress"]["accumulated"] == 30
    assert_books_balance(community)


def test_a_weight_set_over_the_api_applies_to_the_next_request(client, community, chain):
    """The weights cached in this process are dropped when the new weight commits."""
    ingest = issue_token(community, "ingest").secret
    admin = issue_token(community, "admin").secret
    url = f"/api/communities/{community.slug}"
    auth = {"Authorization": f"Bearer {ingest}"}
    first = client.post(
        f"{url}/engagement", msg("ann", 4), content_type="application/json", headers=auth
    )
    assert first.json()["credited_points"] == 4

    put = client.put(
        f"{url}/weights/message",
        {"weight": "2.5"},
        content_type="application/json",
        headers={"Authorization": f"Bearer {admin}"},
    )
    second = client.post(
        f"{url}/engagement", msg("ann", 4), content_type="application/json", headers=auth
    )

    assert put.status_code == 200, put.content
    assert put.json() == {"metric": "message", "weight": "2.5000"}
    assert second.json()["credited_points"] == 10
    assert check_integrity(community) == []


def test_a_whole_cycle_over_http_with_real_commits(client, community, chain):
    ingest = issue_token(community, "ingest").secret
    url = f"/api/communities/{community.slug}"
    auth = {"Authorization": f"Bearer {ingest}"}

    for i in range(3):
        batch = {"events": [msg(f"v{j}", 10, message_id=f"{i}-{j}") for j in range(5)]}
        client.post(f"{url}/engagement", batch, content_type="application/json", headers=auth)

    assert Unlock.objects.filter(community=community).count() == 1
    status = client.get(f"{url}/progression").json()
    assert (status["progress"]["target"]["key"], status["progress"]["accumulated"]) == (
        "second",
        50,
    )
    tree = {n["key"]: n["state"] for n in client.get(f"{url}/tree").json()["nodes"]}
    assert tree == {"first": "maxed", "second": "target"}
    types = set(OutboxEvent.objects.filter(community=community).values_list("type", flat=True))
    assert {
        "progression.target.set",
        "progression.node.unlocked",
        "progression.cycle.completed",
        "progression.progress.updated",
    } <= types
    assert check_integrity(community) == []


# --- votes ------------------------------------------------------------------------------------------


def test_a_bot_votes_for_a_viewer_with_a_vote_token(api, community, ballot, voter):
    response = api(
        "post", f"{community.slug}/votes", {"option": 2, "platform_user_id": "ann"}, voter
    )

    assert response.status_code == 200, response.content
    body = response.json()
    option = ballot.options.get(position=2)
    assert body == {
        "session_id": ballot.pk,
        "option": 2,
        "key": option.node.key,
        "level": 1,
        "votes": 1,
    }
    assert Vote.objects.get().voter == "viewer:ann"


def test_an_option_may_be_named_by_its_key_or_its_position_as_text(api, community, ballot, voter):
    key = ballot.options.get(position=3).node.key

    by_key = api("post", f"{community.slug}/votes", {"option": key, "platform_user_id": "a"}, voter)
    by_text = api(
        "post", f"{community.slug}/votes", {"option": "3", "platform_user_id": "b"}, voter
    )

    assert by_key.json()["option"] == 3
    assert by_text.json()["votes"] == 2


def test_a_token_vote_needs_the_viewers_platform_user_id(api, community, ballot, voter):
    error = error_of(api("post", f"{community.slug}/votes", {"option": 1}, voter), 400)

    assert "platform_user_id" in error["fields"]


def test_a_second_vote_by_the_same_viewer_is_409_already_voted(api, community, ballot, voter):
    api("post", f"{community.slug}/votes", {"option": 1, "platform_user_id": "ann"}, voter)

    response = api(
        "post", f"{community.slug}/votes", {"option": 2, "platform_user_id": "ann"}, voter
    )

    error = error_of(response, 409)
    assert error["fields"] == {"reason": ["already_voted"]}
    assert Vote.objects.count() == 1


def test_a_vote_for_an_unknown_option_is_400(api, community, ballot, voter):
    for option in (9, "nope"):
        response = api(
            "post", f"{community.slug}/votes", {"option": option, "platform_user_id": "a"}, voter
        )
        assert error_of(response, 400)["code"] == "invalid"


def test_signed_in_viewers_vote_as_themselves(api, client, community, ballot):
    user = UserFactory()
    client.force_login(user)

    first = api("post", f"{community.slug}/votes", {"option": 1, "platform_user_id": "someone"})
    second = api("post", f"{community.slug}/votes", {"option": 2})

    assert first.status_code == 200, first.content
    assert Vote.objects.get().voter == f"user:{user.pk}"
    assert error_of(second, 409)["fields"] == {"reason": ["already_voted"]}


def test_voting_needs_the_vote_scope_or_a_signed_in_viewer(api, community, ballot):
    ingest_only = issue_token(community, "ingest").secret

    assert error_of(
        api("post", f"{community.slug}/votes", {"option": 1, "platform_user_id": "a"}, ingest_only),
        403,
    )
    assert error_of(api("post", f"{community.slug}/votes", {"option": 1}), 401)


def test_voting_when_no_vote_is_open_is_409_with_the_reason(api, community, chain, ingest, voter):
    api("post", f"{community.slug}/engagement", msg("ann"), ingest)  # lone candidate: no vote

    response = api("post", f"{community.slug}/votes", {"option": 1, "platform_user_id": "a"}, voter)

    assert error_of(response, 409)["fields"] == {"reason": ["no_open_vote"]}


def test_voting_in_a_frozen_vote_is_409_frozen(api, community, ballot, voter, admin):
    assert api("post", f"{community.slug}/votes/freeze", {}, admin).status_code == 200

    response = api("post", f"{community.slug}/votes", {"option": 1, "platform_user_id": "a"}, voter)

    assert error_of(response, 409)["fields"] == {"reason": ["frozen"]}


def test_voting_after_the_deadline_is_409_closed(api, community, ballot, voter):
    VoteSession.objects.filter(pk=ballot.pk).update(deadline=timezone.now() - timedelta(seconds=1))

    response = api("post", f"{community.slug}/votes", {"option": 1, "platform_user_id": "a"}, voter)

    assert error_of(response, 409)["fields"] == {"reason": ["closed"]}


# --- moderation ----------------------------------------------------------------------------------------


def test_admin_token_runs_a_vote_close_freeze_unfreeze_start(api, community, ballot, voter, admin):
    api("post", f"{community.slug}/votes", {"option": 2, "platform_user_id": "ann"}, voter)
    winner_key = ballot.options.get(position=2).node.key

    frozen = api("post", f"{community.slug}/votes/freeze", {}, admin)
    unfrozen = api("post", f"{community.slug}/votes/unfreeze", {}, admin)
    closed = api("post", f"{community.slug}/votes/close", {}, admin)

    assert frozen.json()["status"] == "frozen"
    assert unfrozen.json()["status"] == "open"
    assert closed.json() == {"winner": {"key": winner_key, "level": 1}}
    target = UnlockProgress.objects.get(community=community, status="active").node
    assert target.key == winner_key
    follow_up = VoteSession.objects.get(community=community, status="open")
    api("post", f"{community.slug}/votes/close", {}, admin)  # resolve the follow-up vote too
    started = api("post", f"{community.slug}/votes/start", {}, admin)
    assert started.status_code == 200, started.content
    assert started.json()["session_id"] not in (ballot.pk, follow_up.pk)
    assert winner_key not in {o["key"] for o in started.json()["options"]}


def test_starting_a_vote_while_one_is_open_is_409(api, community, ballot, admin):
    error = error_of(api("post", f"{community.slug}/votes/start", {}, admin), 409)

    assert error["fields"] == {"reason": ["vote_open"]}


def test_closing_freezing_or_unfreezing_with_no_vote_is_409(api, community, chain, ingest, admin):
    api("post", f"{community.slug}/engagement", msg("ann"), ingest)

    for action in ("close", "freeze", "unfreeze"):
        assert error_of(api("post", f"{community.slug}/votes/{action}", {}, admin), 409)


def test_a_moderator_signed_in_may_moderate(api, client, community, ballot):
    membership = MembershipFactory(community=community, role=Role.MODERATOR)
    client.force_login(membership.user)

    assert api("post", f"{community.slug}/votes/freeze", {}).status_code == 200
    forced = api("post", f"{community.slug}/nodes/d/force-unlock", {})

    assert forced.json() == {"key": "d", "level": 1, "reason": "forced"}
    unlocked = OutboxEvent.objects.filter(type="progression.node.unlocked").last()
    assert unlocked.data["by"] == f"user:{membership.user.pk}"


def test_moderation_is_refused_to_members_bots_without_admin_and_anonymous(
    api, client, community, ballot, voter
):
    ingest = issue_token(community, "ingest", "read").secret
    for token in (voter, ingest):
        assert error_of(api("post", f"{community.slug}/votes/close", {}, token), 403)
    assert error_of(api("post", f"{community.slug}/nodes/a/force-unlock", {}), 401)
    assert error_of(api("post", f"{community.slug}/season/reset", {}), 401)
    member = MembershipFactory(community=community, role=Role.MEMBER)
    client.force_login(member.user)
    assert error_of(api("post", f"{community.slug}/votes/close", {}), 403)
    assert error_of(api("put", f"{community.slug}/weights/message", {"weight": "3"}), 403)
    assert VoteSession.objects.get(pk=ballot.pk).status == "open"


def test_force_unlock_of_an_unknown_node_is_404(api, community, chain, ingest, admin):
    api("post", f"{community.slug}/engagement", msg("ann"), ingest)

    assert error_of(api("post", f"{community.slug}/nodes/nope/force-unlock", {}, admin), 404)


def test_force_unlock_with_unmet_prerequisites_is_409_listing_them_unless_ignored(
    api, client, community, chain, ingest, admin
):
    api("post", f"{community.slug}/engagement", msg("ann"), ingest)

    refused = api("post", f"{community.slug}/nodes/second/force-unlock", {}, admin)
    bare = client.generic(  # no body at all: the same as {}
        "POST",
        f"/api/communities/{community.slug}/nodes/second/force-unlock",
        b"",
        headers={"Authorization": f"Bearer {admin}"},
    )
    assert not Unlock.objects.filter(community=community).exists()
    forced = api(
        "post", f"{community.slug}/nodes/second/force-unlock", {"ignore_prerequisites": True}, admin
    )

    assert error_of(refused, 409)["fields"] == {"prerequisites": ["first L1"]}
    assert error_of(bare, 409)["fields"] == {"prerequisites": ["first L1"]}
    assert forced.status_code == 200, forced.content
    assert forced.json() == {"key": "second", "level": 1, "reason": "forced"}
    assert_books_balance(community)


def test_force_unlock_refuses_a_non_boolean_ignore_prerequisites(
    api, community, chain, ingest, admin
):
    api("post", f"{community.slug}/engagement", msg("ann"), ingest)
    refused = api(
        "post",
        f"{community.slug}/nodes/second/force-unlock",
        {"ignore_prerequisites": "yes"},
        admin,
    )

    assert refused.status_code == 400, refused.content
    assert not Unlock.objects.filter(community=community).exists()


def test_relock_with_dependents_is_409_listing_them_unless_cascading(
    api, community, chain, ingest, admin
):
    api("post", f"{community.slug}/engagement", msg("ann"), ingest)
    api("post", f"{community.slug}/nodes/first/force-unlock", {}, admin)
    api("post", f"{community.slug}/nodes/second/force-unlock", {}, admin)

    refused = api("post", f"{community.slug}/nodes/first/relock", {}, admin)
    cascaded = api("post", f"{community.slug}/nodes/first/relock", {"cascade": True}, admin)

    assert error_of(refused, 409)["fields"] == {"dependents": ["second"]}
    assert cascaded.status_code == 200, cascaded.content
    assert cascaded.json() == {
        "relocked": [{"key": "first", "level": 1}, {"key": "second", "level": 1}]
    }
    assert_books_balance(community)


def test_season_reset_over_the_api_starts_season_two(api, community, chain, ingest, admin):
    api("post", f"{community.slug}/engagement", msg("ann", 130), ingest)

    response = api("post", f"{community.slug}/season/reset", {}, admin)

    assert response.json() == {"season": 2}
    status = api("get", f"{community.slug}/progression").json()
    assert (status["progress"]["target"]["key"], status["progress"]["accumulated"]) == ("first", 0)
    assert_books_balance(community)


def test_a_weight_must_be_a_plain_number(api, community, admin):
    assert error_of(api("put", f"{community.slug}/weights/message", {"weight": "-1"}, admin), 400)
    assert error_of(api("put", f"{community.slug}/weights/bad-name", {"weight": "1"}, admin), 400)


# --- public reads -----------------------------------------------------------------------------------------


def test_reads_are_public_in_a_public_community(api, community, chain, ingest):
    NodeFactory(
        community=community,
        key="loot",
        tier=0,
        cost_override=5,
        effects=[{"type": "emote", "value": "x"}],
    )
    api("post", f"{community.slug}/engagement", msg("ann", 10, display_name="Ann"), ingest)

    status = api("get", f"{community.slug}/progression")
    tree = api("get", f"{community.slug}/tree")
    boards = {
        s: api("get", f"{community.slug}/leaderboard?scope={s}")
        for s in ("cycle", "season", "all_time")
    }
    viewer = api("get", f"{community.slug}/viewers/ann/contributions")
    effects = api("get", f"{community.slug}/effects")

    for response in (status, tree, viewer, effects, *boards.values()):
        assert response.status_code == 200, response.content
    assert status.json()["progress"] is not None
    assert {n["key"] for n in tree.json()["nodes"]} == {"first", "second", "loot"}
    assert boards["all_time"].json() == {
        "scope": "all_time",
        "entries": [{"platform_user_id": "ann", "display_name": "Ann", "points": 10, "events": 1}],
    }
    assert viewer.json()["points_total"] == 10
    assert effects.json() == {"effects": []}


def test_unknown_leaderboard_scope_is_400_and_unknown_viewer_404(api, community):
    assert error_of(api("get", f"{community.slug}/leaderboard?scope=weekly"), 400)
    assert error_of(api("get", f"{community.slug}/viewers/ghost/contributions"), 404)


def test_reads_of_a_private_community_are_404_to_outsiders_as_for_an_unknown_slug(
    api, private_community
):
    slug = private_community.slug
    reader = issue_token(private_community, "read").secret

    for path in ("progression", "tree", "leaderboard", "effects"):
        hidden = error_of(api("get", f"{slug}/{path}"), 404)
        unknown = error_of(api("get", f"no-such-slug/{path}"), 404)
        assert hidden["message"] == unknown["message"].replace("no-such-slug", slug)
        assert api("get", f"{slug}/{path}", token=reader).status_code == 200


def test_an_occurred_at_with_an_offset_postgresql_cannot_store_is_kept_in_utc(
    api, community, chain, ingest
):
    batch = [
        msg("ann", message_id="m1"),
        msg("bob", message_id="m2", occurred_at="2024-01-01T00:00:00+20:00"),
        msg("cid", message_id="m3", occurred_at="0001-01-01T00:00:00+05:00"),
    ]
    body = api("post", f"{community.slug}/engagement", {"events": batch}, ingest).json()
    assert [r["status"] for r in body["results"]] == ["accepted", "accepted", "invalid"]
    assert "out of range" in body["results"][2]["reason"]
    stored = Contribution.objects.get(community=community, message_id="m2").occurred_at
    assert stored.isoformat() == "2023-12-31T04:00:00+00:00"
