"""The edges, as an attacker or a careless bot meets them: no input gets a 500, nothing is
trusted that should not be, and every edge answers alike (config/edge.py)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter

import pytest

from config.api import api as ninja_api
from progression.models import Contribution, EngagementWeight, Unlock, Vote
from realtime.models import OutboxEvent
from tests.asgi_client import asgi_post, asgi_request
from tests.factories import NodeFactory, issue_token

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def tokens(community):
    """An all-scope token of the public `community`."""
    return issue_token(community, "ingest", "vote", "read", "admin").secret


def request(method: str, path: str, body=None, token: str | None = None, **headers: str):
    """One request through the whole ASGI application (lean edges included)."""
    sent = dict(headers)
    if token:
        sent["Authorization"] = f"Bearer {token}"
    content = None
    if body is not None:
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        sent["Content-Type"] = "application/json"
    return asyncio.run(asgi_request(method, path, content=content, headers=sent))


def error_of(response, status: int) -> dict:
    assert response.status_code == status, response.content
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    return body["error"]


def written() -> tuple[int, ...]:
    return (
        Contribution.objects.count(),
        Unlock.objects.count(),
        Vote.objects.count(),
        EngagementWeight.objects.count(),
        OutboxEvent.objects.count(),
    )


# --- B5: no input gets a 500 -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/communities/a%00b"),
        ("GET", "/api/communities/a%00b/progression"),
        ("GET", "/api/communities/a%00b/stream"),
        ("POST", "/api/communities/a%00b/engagement"),
        ("POST", "/api/communities/{slug}/nodes/fi%00rst/force-unlock"),
        ("GET", "/api/communities/{slug}/viewers/a%00b/contributions"),
        ("PUT", "/api/communities/{slug}/weights/mess%00age"),
    ],
)
def test_a_nul_in_any_path_segment_is_a_json_404_and_writes_nothing(
    community, tokens, method, path
):
    NodeFactory(community=community, key="first")
    before = written()
    body = {"platform_user_id": "ann", "metric": "message"} if method != "GET" else None
    if path.endswith("weights/mess%00age"):
        body = {"weight": "2"}

    response = request(method, path.format(slug=community.slug), body, tokens)

    assert error_of(response, 404)["code"] == "not_found"
    assert written() == before


def test_a_nul_in_a_page_path_is_a_404(client):
    assert client.get("/c/a%00b/").status_code == 404
    assert client.get("/c/a%00b/overlay/").status_code == 404


@pytest.mark.parametrize(
    "vote",
    [
        {"option": "fi\x00rst", "platform_user_id": "ann"},
        {"option": 1, "platform_user_id": "a\x00nn"},
    ],
)
def test_a_nul_in_vote_fields_is_a_400_and_no_vote(community, tokens, vote):
    response = request("POST", f"/api/communities/{community.slug}/votes", vote, tokens)

    assert error_of(response, 400)["code"] == "invalid"
    assert Vote.objects.count() == 0


DEEP = {"arrays": "[" * 5000 + "]" * 5000, "objects": '{"a":' * 5000 + "1" + "}" * 5000}


@pytest.mark.parametrize("shape", DEEP)
def test_json_nested_5000_deep_is_a_400_on_the_ingest_edge(community, tokens, shape):
    response = asgi_post(
        f"/api/communities/{community.slug}/engagement", DEEP[shape].encode(), tokens
    )

    assert error_of(response, 400)["code"] == "invalid"
    assert Contribution.objects.count() == 0


@pytest.mark.parametrize("shape", DEEP)
def test_json_nested_5000_deep_is_a_400_on_the_ninja_route(client, community, tokens, shape):
    response = client.post(
        f"/api/communities/{community.slug}/engagement",
        data=DEEP[shape],
        content_type="application/json",
        headers={"Authorization": f"Bearer {tokens}"},
    )

    assert error_of(response, 400)["code"] == "invalid"
    assert Contribution.objects.count() == 0


def test_a_weight_beyond_the_column_is_a_400_and_the_weight_stays(community, tokens):
    url = f"/api/communities/{community.slug}/weights/message"

    assert request("PUT", url, {"weight": "12.5"}, tokens).status_code == 200
    refused = request("PUT", url, {"weight": "100000000"}, tokens)
    too_fine = request("PUT", url, {"weight": "1.00001"}, tokens)
    largest = request("PUT", url, {"weight": "99999999.9999"}, tokens)

    assert error_of(refused, 400)["fields"]["weight"]
    assert error_of(too_fine, 400)["fields"]["weight"]
    assert largest.json() == {"metric": "message", "weight": "99999999.9999"}
    # and the engine still reads every weight (an overflowed one made each request a 500)
    event = {"platform_user_id": "ann", "metric": "bits", "value": 1}
    assert asgi_post(f"{url.rsplit('/', 2)[0]}/engagement", event, tokens).status_code == 200


@pytest.mark.parametrize("debug", [False, True])
def test_a_bad_host_header_on_the_api_is_a_json_400(client, community, settings, debug):
    settings.DEBUG = debug  # `make run` runs with DEBUG on: no debug page either
    response = client.get(f"/api/communities/{community.slug}", HTTP_HOST="bad host!")

    assert error_of(response, 400)["code"] == "invalid"


@pytest.mark.parametrize(
    ("field", "value"),
    [("value", "5"), ("value", True), ("value", 2.0), ("metric", 5), ("occurred_at", 1700000000)],
)
@pytest.mark.parametrize("edge", ["ninja", "ingest"])
def test_engagement_fields_are_strictly_typed_on_both_edges(
    client, community, tokens, edge, field, value
):
    event = {"platform_user_id": "ann", "metric": "message", field: value}
    path = f"/api/communities/{community.slug}/engagement"
    if edge == "ingest":
        response = asgi_post(path, event, tokens)
    else:
        response = client.post(
            path,
            data=json.dumps(event),
            content_type="application/json",
            headers={"Authorization": f"Bearer {tokens}"},
        )

    assert response.status_code == 200, response.content
    (result,) = response.json()["results"]
    assert result["status"] == "invalid" and field in result["reason"]
    assert Contribution.objects.count() == 0


@pytest.mark.parametrize("option", [True, 1.0, None])
def test_a_vote_option_is_an_integer_or_a_key_nothing_else(community, tokens, option):
    response = request(
        "POST", f"/api/communities/{community.slug}/votes", {"option": option}, tokens
    )

    assert error_of(response, 400)["fields"]["option"]


# --- B6: client addresses ----------------------------------------------------------------------


def test_x_forwarded_for_is_ignored_without_trusted_proxies(client, community, settings):
    settings.TRUSTED_PROXY_COUNT = 0
    url = f"/api/communities/{community.slug}/progression"
    statuses = Counter(
        client.get(url, HTTP_X_FORWARDED_FOR=f"10.0.{n // 250}.{n % 250}").status_code
        for n in range(125)
    )

    # API_RATE_ANON is 120/m per address: forged headers do not buy fresh buckets
    assert statuses == {200: 120, 429: 5}


def test_x_forwarded_for_names_the_client_seen_by_the_trusted_proxy(settings):
    from config.edge import client_address

    settings.TRUSTED_PROXY_COUNT = 0
    assert client_address("10.0.0.1", "1.1.1.1, 2.2.2.2") == "10.0.0.1"
    settings.TRUSTED_PROXY_COUNT = 1
    assert client_address("10.0.0.1", "6.6.6.6, 2.2.2.2") == "2.2.2.2"
    assert client_address("10.0.0.1", None) == "10.0.0.1"
    settings.TRUSTED_PROXY_COUNT = 2
    assert client_address("10.0.0.1", "6.6.6.6, 3.3.3.3, 2.2.2.2") == "3.3.3.3"
    assert client_address("10.0.0.1", "2.2.2.2") == "10.0.0.1"  # fewer hops than proxies


# --- B7: token guessing ------------------------------------------------------------------------


def test_400_token_guesses_get_20_401s_then_429_with_retry_after(client, community, settings):
    settings.AUTH_FAILURE_RATE = "20/h"  # the default's 20/m would refill during a slow run
    url = f"/api/communities/{community.slug}/progression"
    answers = [
        client.get(url, headers={"Authorization": f"Bearer ph_{n:012d}_guess"}) for n in range(400)
    ]

    assert Counter(a.status_code for a in answers) == {401: 20, 429: 380}
    assert int(answers[-1]["Retry-After"]) >= 1
    assert error_of(answers[-1], 429)["code"] == "rate_limited"


def test_a_locked_out_address_is_refused_even_with_a_valid_token_on_every_edge(
    community, tokens, settings
):
    settings.AUTH_FAILURE_RATE = "3/m"
    slug = community.slug
    guesses = [
        request("GET", f"/api/communities/{slug}/progression", token="ph_000000000000_bad"),
        asgi_post(f"/api/communities/{slug}/engagement", {"x": 1}, "ph_000000000001_bad"),
        request("GET", f"/api/communities/{slug}/stream", token="ph_000000000002_bad"),
    ]
    event = {"platform_user_id": "ann", "metric": "message"}
    locked = [
        request("GET", f"/api/communities/{slug}/progression", token=tokens),
        asgi_post(f"/api/communities/{slug}/engagement", event, tokens),
        request("GET", f"/api/communities/{slug}/stream", token=tokens),
    ]

    assert [g.status_code for g in guesses] == [401, 401, 401]  # one address, three edges
    for answer in locked:
        assert error_of(answer, 429)["code"] == "rate_limited"
        assert int(answer.headers["retry-after"]) >= 1
    assert Contribution.objects.count() == 0
    settings.TRUSTED_PROXY_COUNT = 1  # a trusted proxy names another client: not locked out
    elsewhere = request(
        "GET",
        f"/api/communities/{slug}/progression",
        token=tokens,
        **{"X-Forwarded-For": "9.9.9.9"},
    )
    assert elsewhere.status_code == 200


# --- B8: private communities do not exist for outsiders ---------------------------------------


def _operations() -> list[tuple[str, str]]:
    document = ninja_api.get_openapi_schema()
    return [
        (method.upper(), path)
        for path, operations in document["paths"].items()
        for method in operations
    ]


class _PathParams(dict):
    """Any other path parameter (`event_id`, `item_id`, ...) is a plausible id: 1."""

    def __missing__(self, key: str) -> str:
        return "1"


# Valid bodies of the events app's writes: the answer must be the 404 of the slug, not a 400.
_EVENTS = "/api/communities/{slug}/events"
_EVENTS_APP_BODIES = {
    f"POST {_EVENTS}": {"name": "x", "starts_on": "2026-12-01", "ends_on": "2026-12-01"},
    f"PATCH {_EVENTS}/{{event_id}}": {"name": "x"},
    "POST /api/communities/{slug}/items": {"name": "x"},
    "PATCH /api/communities/{slug}/items/{item_id}": {"name": "x"},
    "POST /api/communities/{slug}/bundles": {
        "name": "x",
        "components": [{"item": 1, "quantity": 1}],
    },
    "PATCH /api/communities/{slug}/bundles/{bundle_id}": {"name": "x"},
    f"PUT {_EVENTS}/{{event_id}}/production-targets/{{item_id}}": {"target_batches": 1},
    f"PUT {_EVENTS}/{{event_id}}/assembly-targets/{{bundle_id}}": {"target_quantity": 1},
    f"POST {_EVENTS}/{{event_id}}/production-runs": {"item": 1, "batches": 1},
    f"POST {_EVENTS}/{{event_id}}/assembly-runs": {"bundle": 1, "quantity": 1},
    f"POST {_EVENTS}/{{event_id}}/production-runs/{{run_id}}/void": {"reason": "x"},
    f"POST {_EVENTS}/{{event_id}}/assembly-runs/{{run_id}}/void": {"reason": "x"},
    f"POST {_EVENTS}/{{event_id}}/deliveries": {"recipient": "x", "bundle": 1},
    f"POST {_EVENTS}/{{event_id}}/deliveries/{{delivery_id}}/status": {"status": "ready"},
}


@pytest.mark.parametrize(("method", "path"), _operations())
@pytest.mark.parametrize("caller", ["anonymous", "token_elsewhere"])
def test_outsiders_get_the_unknown_slug_answer_for_a_private_community(
    community, private_community, method, path, caller
):
    token = issue_token(community, "ingest", "vote", "read", "admin").secret
    token = token if caller == "token_elsewhere" else None
    NodeFactory(community=private_community, key="first")
    body = {
        "POST /api/communities/{slug}/engagement": {"platform_user_id": "a", "metric": "message"},
        "POST /api/communities/{slug}/votes": {"option": 1, "platform_user_id": "a"},
        "POST /api/communities/{slug}/nodes/{key}/relock": {},
        "PUT /api/communities/{slug}/weights/{metric}": {"weight": "1"},
        **_EVENTS_APP_BODIES,
        "POST /api/communities/{slug}/proposals/{card_id}/move": {
            "column": "new",
            "position": 0,
            "version": 1,
        },
        "PATCH /api/communities/{slug}/proposals/{card_id}": {"version": 1},
        "POST /api/communities/{slug}/suggestions": {
            "text": "pet dragon",
            "message_id": "m-1",
            "platform_user_id": "a",
        },
        "POST /api/communities/{slug}/tokens": {"name": "bot", "scopes": ["read"]},
        "POST /api/communities/{slug}/overlay-keys": {"name": "obs"},
        "PATCH /api/communities/{slug}/settings": {"vote_options": 3},
    }.get(f"{method} {path}")
    before = written()

    def call(slug: str):
        names = _PathParams(
            slug=slug,
            key="first",
            metric="message",
            platform_user_id="a",
            job_id=uuid.uuid4(),
            card_id=1,
        )
        url = path.format_map(names)
        return request(method, url, body, token)

    hidden, unknown = call(private_community.slug), call("no-such-hub")

    assert hidden.status_code == unknown.status_code == 404, (hidden.content, unknown.content)
    assert error_of(hidden, 404) == {
        "code": "not_found",
        "message": f"No community {private_community.slug!r}.",
    }
    assert error_of(unknown, 404) == {"code": "not_found", "message": "No community 'no-such-hub'."}
    assert written() == before


def test_a_private_stream_is_unknown_to_an_outsider_token(community, private_community):
    token = issue_token(community, "read").secret

    hidden = request("GET", f"/api/communities/{private_community.slug}/stream", token=token)

    assert error_of(hidden, 404)["message"] == f"No community {private_community.slug!r}."


def test_a_member_token_still_learns_it_is_not_allowed(private_community):
    token = issue_token(private_community, "ingest").secret

    response = request("GET", f"/api/communities/{private_community.slug}/progression", token=token)

    assert error_of(response, 403)["code"] == "forbidden"
