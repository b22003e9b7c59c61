"""Bots' engagement through the lean ASGI edge and its group-commit queue.

The request/response rules themselves run through both edges in test_api.py; these tests are
about what only the edge does: writing many requests together, answering each one its own
outcome, refusing a burst with 429, and never letting one request's failure answer another.
"""

from __future__ import annotations

import asyncio

import pytest
from psycopg_pool import PoolTimeout

from communities.errors import Overloaded
from progression import ingest_queue
from progression.engagement_io import parse_submission
from progression.ingest_edge import _takes
from progression.ingest_queue import IngestQueue
from progression.integrity import check_integrity
from progression.models import Contribution
from progression.services import ingest as ingest_service
from progression.services.engagement import EngagementResult
from progression.services.ingest import IngestRequest
from tests.asgi_client import asgi_post, asgi_request
from tests.factories import CommunityFactory, NodeFactory, issue_token

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("_eager_tasks")]


@pytest.fixture
def target(community):
    return NodeFactory(community=community, key="first", cost_override=10_000)


def msg(viewer: str, message_id: str | None = None, value: int = 1) -> dict:
    event = {"platform_user_id": viewer, "metric": "message", "value": value}
    if message_id:
        event["message_id"] = message_id
    return event


def request_for(slug: str, token: str, *events: dict) -> IngestRequest:
    payload = events[0] if len(events) == 1 else {"events": list(events)}
    return IngestRequest(slug, parse_submission(payload), raw_token=token)


def test_requests_waiting_behind_a_write_are_written_together_each_answered_its_own(
    community, target, ingest
):
    requests = [
        request_for(community.slug, ingest, msg(f"v{i}", f"m{i}", i + 1)) for i in range(30)
    ]
    requests.append(request_for(community.slug, ingest, msg("late", "m0")))  # a repeat of m0

    async def scenario():
        queue = IngestQueue(flushers=1, max_waiting=100, max_events_per_write=5000)
        replies = await asyncio.gather(*(queue.submit(r) for r in requests))
        return replies, queue.writes

    replies, writes = asyncio.run(scenario())

    assert writes <= 3, f"{len(requests)} requests took {writes} writes: no group commit"
    for i, reply in enumerate(replies[:30]):
        assert isinstance(reply, EngagementResult)
        assert [(o.index, o.status, o.points) for o in reply.outcomes] == [(0, "accepted", i + 1)]
        assert reply.credited == i + 1
    assert [(o.index, o.status, o.reason) for o in replies[30].outcomes] == [
        (0, "duplicate", "message already credited")  # another request's: not "in this batch"
    ]
    assert replies[30].credited == 0
    assert Contribution.objects.filter(community=community).count() == 30
    assert sum(Contribution.objects.values_list("points", flat=True)) == sum(range(1, 31))
    assert check_integrity(community) == []


def test_a_write_never_carries_more_events_than_its_limit(community, target, ingest):
    batch = [msg(f"v{i}", f"b{i}") for i in range(40)]
    requests = [request_for(community.slug, ingest, *batch[i : i + 10]) for i in range(0, 40, 10)]

    async def scenario():
        queue = IngestQueue(flushers=1, max_waiting=100, max_events_per_write=20)
        replies = await asyncio.gather(*(queue.submit(r) for r in requests))
        return replies, queue.writes

    replies, writes = asyncio.run(scenario())

    assert writes == 3  # the first alone (nothing waited yet), then 20 + 10 events
    assert all(reply.credited == 10 for reply in replies)
    assert check_integrity(community) == []


def test_a_burst_past_the_waiting_limit_is_refused_not_queued(community, target, ingest):
    requests = [request_for(community.slug, ingest, msg(f"v{i}", f"m{i}")) for i in range(10)]

    async def scenario():
        queue = IngestQueue(flushers=1, max_waiting=3, max_events_per_write=5000)
        return await asyncio.gather(*(queue.submit(r) for r in requests), return_exceptions=True)

    replies = asyncio.run(scenario())

    refused = [r for r in replies if isinstance(r, Overloaded)]
    written = [r for r in replies if isinstance(r, EngagementResult)]
    assert (len(written), len(refused)) == (4, 6)  # one writing, three waiting
    assert Contribution.objects.filter(community=community).count() == 4
    assert check_integrity(community) == []


def test_a_bad_token_in_a_group_write_is_refused_alone(community, target, ingest):
    other = CommunityFactory()
    NodeFactory(community=other, key="first", cost_override=10_000)
    other_token = issue_token(other, "ingest").secret
    read_only = issue_token(community, "read").secret
    requests = [
        request_for(community.slug, ingest, msg("ann", "a1")),
        request_for(community.slug, "ph_000000000000_forged", msg("bob", "b1")),
        request_for(other.slug, other_token, msg("cid", "c1")),
        request_for(community.slug, read_only, msg("dee", "d1")),
        request_for("no-such-community", ingest, msg("eve", "e1")),
        request_for(community.slug, ingest, msg("fay", "f1")),
    ]

    replies = ingest_service.record_ingest_requests(requests)

    kinds = [type(r).__name__ if isinstance(r, Exception) else r.credited for r in replies]
    assert kinds == [1, "InvalidCredentials", 1, "NotAllowed", "CommunityNotFound", 1]
    assert Contribution.objects.filter(community=community).count() == 2
    assert Contribution.objects.filter(community=other).count() == 1
    assert check_integrity(community) == [] and check_integrity(other) == []


def test_one_communitys_failed_write_does_not_answer_for_another(
    community, target, ingest, monkeypatch
):
    other = CommunityFactory()
    NodeFactory(community=other, key="first", cost_override=10_000)
    other_token = issue_token(other, "ingest").secret
    real = ingest_service.record_engagement_together

    def failing_for_community(found, requests):  # noqa: ANN001, ANN202
        if found.pk == community.pk:
            raise PoolTimeout("couldn't get a connection after 10.00 sec")
        return real(found, requests)

    monkeypatch.setattr(ingest_service, "record_engagement_together", failing_for_community)

    replies = ingest_service.record_ingest_requests(
        [
            request_for(community.slug, ingest, msg("ann", "a1")),
            request_for(other.slug, other_token, msg("bob", "b1")),
        ]
    )

    assert isinstance(replies[0], PoolTimeout)
    assert isinstance(replies[1], EngagementResult) and replies[1].credited == 1
    assert not Contribution.objects.filter(community=community).exists()


def test_the_edge_answers_503_with_retry_after_when_the_database_pool_is_exhausted(
    community, target, ingest, monkeypatch
):
    def exhausted(requests):  # noqa: ANN001, ANN202
        raise PoolTimeout("couldn't get a connection after 10.00 sec")

    monkeypatch.setattr(ingest_queue, "record_ingest_requests", exhausted)

    response = asgi_post(f"/api/communities/{community.slug}/engagement", msg("ann"), ingest)

    assert response.status_code == 503, response.content
    assert response.json()["error"]["code"] == "unavailable"
    assert response["Retry-After"] == "2"


def test_the_ninja_route_answers_503_too_when_the_pool_is_exhausted(
    client, community, target, ingest, monkeypatch
):
    from progression import api as progression_api

    def exhausted(requests):  # noqa: ANN001, ANN202
        raise PoolTimeout("couldn't get a connection after 10.00 sec")

    monkeypatch.setattr(progression_api, "record_ingest_requests", exhausted)
    response = client.post(
        f"/api/communities/{community.slug}/engagement",
        msg("ann"),
        content_type="application/json",
        headers={"Authorization": f"Bearer {ingest}"},
    )
    assert response.status_code == 503, response.content
    assert response.json()["error"]["code"] == "unavailable"


def test_a_burst_through_the_edge_gets_only_200_or_429_overloaded(
    community, target, ingest, settings
):
    settings.INGEST_MAX_WAITING = 2
    settings.INGEST_WRITERS = 1
    path = f"/api/communities/{community.slug}/engagement"

    async def burst():
        import json

        from tests.asgi_client import asgi_request

        headers = {"Authorization": f"Bearer {ingest}", "Content-Type": "application/json"}
        sends = [
            asgi_request(
                "POST", path, content=json.dumps(msg(f"v{i}", f"m{i}")).encode(), headers=headers
            )
            for i in range(20)
        ]
        return await asyncio.gather(*sends)

    responses = asyncio.run(burst())

    statuses = sorted(r.status_code for r in responses)
    assert set(statuses) <= {200, 429} and 429 in statuses and 200 in statuses, statuses
    refused = [r for r in responses if r.status_code == 429]
    assert {r.json()["error"]["code"] for r in refused} == {"overloaded"}
    assert all(r["Retry-After"] == "1" for r in refused)
    accepted = statuses.count(200)
    assert Contribution.objects.filter(community=community).count() == accepted
    assert check_integrity(community) == []


def test_the_edge_counts_its_writes(community, target, ingest):
    from prometheus_client import REGISTRY

    def requests_written() -> float:
        return REGISTRY.get_sample_value("ingest_group_requests_total") or 0.0

    before = requests_written()
    response = asgi_post(f"/api/communities/{community.slug}/engagement", msg("ann"), ingest)
    assert response.status_code == 200, response.content
    assert response["X-Request-ID"]
    assert requests_written() == before + 1


def test_the_edge_keeps_the_callers_request_id(community, target, ingest):
    response = asgi_post(
        f"/api/communities/{community.slug}/engagement",
        msg("ann"),
        ingest,
        headers={"X-Request-ID": "bot-42"},
    )
    assert response["X-Request-ID"] == "bot-42"


@pytest.mark.parametrize(
    ("body", "field"),
    [(b"{not json", "__all__"), (b'{"events": "x"}', "events"), (b"[1, 2]", "__all__")],
)
def test_malformed_bodies_get_400_with_fields_from_the_edge(community, target, ingest, body, field):
    response = asgi_post(f"/api/communities/{community.slug}/engagement", body, ingest)
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "invalid" and field in error["fields"]
    assert not Contribution.objects.exists()


def test_an_oversized_body_gets_413_from_the_edge(community, target, ingest, settings):
    settings.API_MAX_BODY_BYTES = 2048
    body = {"events": [msg(f"viewer-{i}", f"message-{i}") for i in range(100)]}
    response = asgi_post(f"/api/communities/{community.slug}/engagement", body, ingest)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "body_too_large"
    assert not Contribution.objects.exists()


def test_an_empty_bearer_token_is_refused_with_401(community, target):
    response = asgi_post(
        f"/api/communities/{community.slug}/engagement",
        msg("ann"),
        None,
        headers={"Authorization": "Bearer "},
    )
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


def test_only_bearer_engagement_posts_take_the_edge():
    def scope(method="POST", path="/api/communities/c/engagement", auth=b"Bearer ph_x"):  # noqa: ANN001, ANN202
        headers = [(b"authorization", auth)] if auth else []
        return {"type": "http", "method": method, "path": path, "headers": headers}

    assert _takes(scope()) == ("c", "ph_x")
    assert _takes(scope(auth=None)) is None  # a session: Django checks CSRF and the user
    assert _takes(scope(auth=b"Basic abc")) is None
    assert _takes(scope(method="GET")) is None
    assert _takes(scope(path="/api/communities/c/engagement/x")) is None
    assert _takes(scope(path="/api/communities/c/progression")) is None
    assert _takes({"type": "websocket", "path": "/api/communities/c/engagement"}) is None


def test_a_session_post_without_a_token_still_reaches_django_and_its_checks(community, target):
    response = asyncio.run(
        asgi_request(
            "POST",
            f"/api/communities/{community.slug}/engagement",
            content=b'{"platform_user_id": "ann", "metric": "message"}',
            headers={"Content-Type": "application/json"},
        )
    )
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"
    assert not Contribution.objects.exists()


def test_small_requests_share_one_write_while_batches_get_a_second_writer(
    community, target, ingest
):
    singles = [request_for(community.slug, ingest, msg(f"s{i}", f"s{i}")) for i in range(3)]
    batches = [
        request_for(community.slug, ingest, *[msg(f"b{n}-{i}", f"b{n}-{i}") for i in range(10)])
        for n in range(3)
    ]

    async def scenario(requests):  # noqa: ANN001, ANN202
        queue = IngestQueue(flushers=2, max_waiting=100, max_events_per_write=100)
        tasks = [asyncio.ensure_future(queue.submit(r)) for r in requests]
        await asyncio.sleep(0)  # every submit has queued; writes started as the rule allows
        running = queue._running
        await asyncio.gather(*tasks)
        return running

    assert asyncio.run(scenario(singles)) == 1  # the other two wait for the next write
    assert asyncio.run(scenario(batches)) == 2  # 10 events each: worth a second writer
    assert Contribution.objects.filter(community=community).count() == 3 + 30
    assert check_integrity(community) == []


def _metric(text: str, name: str, **labels: str) -> float:
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return s.value
    return 0.0


def test_metrics_count_engagement_outcomes_points_and_group_writes(
    client, community, target, ingest
):
    def scrape() -> str:
        response = client.get("/metrics")
        assert response.status_code == 200
        return response.content.decode()

    before = scrape()
    body = {"events": [msg("ann", "m1", 3), msg("bob", "m1"), {"metric": "message"}]}
    response = asgi_post(f"/api/communities/{community.slug}/engagement", body, ingest)
    assert response.status_code == 200, response.content
    after = scrape()

    def grew(name: str, **labels: str) -> float:
        return _metric(after, name, **labels) - _metric(before, name, **labels)

    assert grew("engagement_events_total", outcome="accepted") == 1
    assert grew("engagement_events_total", outcome="duplicate") == 1
    assert grew("engagement_events_total", outcome="invalid") == 1
    assert grew("engagement_points_total") == 3
    assert grew("ingest_group_writes_total") == 1
    assert grew("ingest_group_requests_total") == 1
    assert grew("ingest_write_seconds_count") == 1


def test_a_repeat_inside_one_request_of_a_group_write_says_so(community, target, ingest):
    from progression.services.engagement import record_engagement_together

    first = parse_submission({"events": [msg("ann", "x1"), msg("ann", "x1")]}).events
    second = parse_submission(msg("bob", "x1")).events

    mine, theirs = record_engagement_together(community, [first, second])

    assert [(o.status, o.reason) for o in mine.outcomes] == [
        ("accepted", ""),
        ("duplicate", "repeated in this batch"),
    ]
    assert [(o.status, o.reason) for o in theirs.outcomes] == [
        ("duplicate", "message already credited")
    ]
    assert check_integrity(community) == []


def test_a_group_write_that_one_request_breaks_is_retried_request_by_request(
    community, target, ingest, monkeypatch
):
    real = ingest_service.record_engagement_together

    def poisoned(found, requests):  # noqa: ANN001, ANN202
        if any(e.message_id == "poison" for events in requests for e in events):
            raise ValueError("a value the database refuses")
        return real(found, requests)

    monkeypatch.setattr(ingest_service, "record_engagement_together", poisoned)

    replies = ingest_service.record_ingest_requests(
        [
            request_for(community.slug, ingest, msg("ann", "a1")),
            request_for(community.slug, ingest, msg("bob", "poison")),
            request_for(community.slug, ingest, msg("cid", "c1")),
        ]
    )

    assert isinstance(replies[1], ValueError)
    assert [r.credited for r in (replies[0], replies[2])] == [1, 1]
    assert set(Contribution.objects.values_list("message_id", flat=True)) == {"a1", "c1"}
    assert check_integrity(community) == []


def test_an_unavailable_database_is_not_retried_request_by_request(
    community, target, ingest, monkeypatch
):
    calls = []

    def down(found, requests):  # noqa: ANN001, ANN202
        calls.append(len(requests))
        raise PoolTimeout("couldn't get a connection after 10.00 sec")

    monkeypatch.setattr(ingest_service, "record_engagement_together", down)

    replies = ingest_service.record_ingest_requests(
        [request_for(community.slug, ingest, msg(f"v{i}", f"m{i}")) for i in range(3)]
    )

    assert calls == [3]
    assert all(isinstance(r, PoolTimeout) for r in replies)


@pytest.mark.parametrize(
    ("body", "token_kind"),
    [
        (b"{not json", "ingest"),
        (b"{not json", "forged"),
        (b"", "ingest"),
        (b"[1, 2]", "ingest"),
        (b'"text"', "ingest"),
        (b'{"events": "x"}', "ingest"),
        (b'{"events": "x"}', "forged"),
        (b'{"events": "x"}', "read"),
        (b'{"events": [{"platform_user_id": "a", "metric": "message", "value": NaN}]}', "ingest"),
        (b'{"platform_user_id": "a", "metric": "message"}', "forged"),
        (b'{"platform_user_id": "a", "metric": "message"}', "read"),
    ],
)
def test_both_edges_refuse_the_same_way_in_the_same_order(
    client, community, target, ingest, body, token_kind
):
    tokens = {
        "ingest": ingest,
        "forged": "ph_000000000000_forged",
        "read": issue_token(community, "read").secret,
    }
    token = tokens[token_kind]
    path = f"/api/communities/{community.slug}/engagement"
    ninja = client.post(
        path, body, content_type="application/json", headers={"Authorization": f"Bearer {token}"}
    )
    edge = asgi_post(path, body, token)

    assert edge.status_code == ninja.status_code, (edge.content, ninja.content)
    if ninja.status_code != 200:
        assert edge.json()["error"]["code"] == ninja.json()["error"]["code"]
        assert edge.json()["error"]["message"] == ninja.json()["error"]["message"]
    else:
        assert [r["status"] for r in edge.json()["results"]] == [
            r["status"] for r in ninja.json()["results"]
        ]


def test_a_failure_to_count_a_write_never_leaves_its_requests_waiting(
    community, target, ingest, monkeypatch
):
    from progression import metrics

    class Broken:
        def inc(self, *args):  # noqa: ANN002, ANN201
            raise RuntimeError("metrics directory gone")

    monkeypatch.setattr(metrics, "GROUP_WRITES", Broken())

    async def scenario():  # noqa: ANN202
        queue = IngestQueue(flushers=1, max_waiting=10, max_events_per_write=100)
        return await asyncio.wait_for(
            queue.submit(request_for(community.slug, ingest, msg("ann", "m1"))), timeout=10
        )

    reply = asyncio.run(scenario())
    assert isinstance(reply, EngagementResult) and reply.credited == 1


def test_a_client_that_leaves_before_its_body_arrives_gets_nothing_written(community, target):
    from config.asgi import application

    sent: list = []

    async def scenario() -> None:
        messages = iter([{"type": "http.disconnect"}])

        async def receive():  # noqa: ANN202
            return next(messages)

        async def send(message):  # noqa: ANN001, ANN202
            sent.append(message)

        scope = {
            "type": "http",
            "method": "POST",
            "path": f"/api/communities/{community.slug}/engagement",
            "headers": [(b"authorization", b"Bearer ph_000000000000_x")],
            "query_string": b"",
        }
        await application(scope, receive, send)

    asyncio.run(scenario())
    assert sent == []
    assert not Contribution.objects.exists()


def test_a_burst_of_429s_is_logged_once_a_second_with_its_count(caplog, monkeypatch):
    import logging

    from progression import ingest_edge

    clock = [100.0]
    monkeypatch.setattr(ingest_edge.time, "monotonic", lambda: clock[0])
    refusals = ingest_edge._RefusalLog()

    with caplog.at_level(logging.WARNING, logger="progression.ingest_edge"):
        for _ in range(300):
            refusals.add("demo", "overloaded")
        clock[0] += 1.5
        refusals.add("demo", "overloaded")

    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        "engagement 429 overloaded for demo: 1 request(s)",
        "engagement 429 overloaded for demo: 300 request(s)",
    ]


def test_redis_down_is_503_on_both_edges(client, community, target, ingest, monkeypatch):
    from redis.exceptions import ConnectionError as RedisConnectionError

    from progression.services import engagement

    def down(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise RedisConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(engagement.ratelimit, "take_for_viewers", down)
    path = f"/api/communities/{community.slug}/engagement"

    edge = asgi_post(path, msg("ann", "m1"), ingest)
    ninja = client.post(
        path,
        msg("ann", "m2"),
        content_type="application/json",
        headers={"Authorization": f"Bearer {ingest}"},
    )

    for response in (edge, ninja):
        assert response.status_code == 503, response.content
        assert response.json()["error"]["code"] == "unavailable"
        assert response["Retry-After"] == "2"
    assert not Contribution.objects.exists()


def test_a_failed_group_write_gives_its_rate_limit_tokens_back(
    community, target, ingest, monkeypatch
):
    from progression.services import ledger_writes
    from tests.factories import ProgressionSettingsFactory

    ProgressionSettingsFactory(community=community, viewer_rate=1, viewer_burst=10)
    real = ledger_writes.insert_ledger

    def refuses_poison(community_id, season_id, progress_id, events, *rest):  # noqa: ANN001, ANN002, ANN202
        if any(e.message_id == "poison" for e in events):
            raise ValueError("a value the database refuses")
        return real(community_id, season_id, progress_id, events, *rest)

    monkeypatch.setattr(ledger_writes, "insert_ledger", refuses_poison)
    eight = request_for(community.slug, ingest, *[msg("ann", f"a{i}") for i in range(8)])
    poison = request_for(community.slug, ingest, msg("ann", "poison"))

    good, bad = ingest_service.record_ingest_requests([eight, poison])

    assert isinstance(bad, ValueError)
    assert good.counts == {"accepted": 8}  # not 2: the failed group write's tokens came back
    assert Contribution.objects.filter(community=community).count() == 8
    assert check_integrity(community) == []


def test_the_last_429s_of_a_burst_are_logged_by_a_timer(caplog):
    import logging

    from progression import ingest_edge

    async def burst() -> None:
        refusals = ingest_edge._RefusalLog()
        for _ in range(50):
            refusals.add("demo", "overloaded")
        await asyncio.sleep(1.2)  # no further 429 arrives

    with caplog.at_level(logging.WARNING, logger="progression.ingest_edge"):
        asyncio.run(burst())

    assert [r.getMessage() for r in caplog.records] == [
        "engagement 429 overloaded for demo: 1 request(s)",
        "engagement 429 overloaded for demo: 49 request(s)",
    ]


@pytest.mark.parametrize("viewers", [5, 30])  # both sides of ledger_writes.SMALL_WRITE_VIEWERS
def test_known_and_first_seen_viewers_in_one_write_are_all_credited(
    community, target, ingest, viewers
):
    from progression.models import Viewer
    from progression.services import ledger_writes

    assert (viewers > ledger_writes.SMALL_WRITE_VIEWERS) == (viewers == 30)
    known = [msg(f"v{i}", f"k{i}") for i in range(0, viewers, 3)]
    ingest_service.record_ingest_requests([request_for(community.slug, ingest, *known)])
    batch = [msg(f"v{i}", f"m{i}", 2) for i in range(viewers)]

    (reply,) = ingest_service.record_ingest_requests([request_for(community.slug, ingest, *batch)])

    assert reply.counts == {"accepted": viewers}
    assert Viewer.objects.filter(community=community).count() == viewers
    totals = dict(
        Viewer.objects.filter(community=community).values_list("platform_user_id", "points_total")
    )
    assert all(totals[f"v{i}"] == (3 if i % 3 == 0 else 2) for i in range(viewers))
    assert check_integrity(community) == []
