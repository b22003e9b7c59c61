"""The whole OpenAPI document, fuzzed against the whole ASGI application (schemathesis).

Every operation of `/api/openapi.json` gets generated requests (valid ones and, where the
schema can say what is invalid, invalid ones) through `config.asgi.application`: the Ninja API
and the lean ingest edge in front of it. Paths are pointed at a public community with a tree, a
private one, or an unknown slug; requests carry an all-scope token of either community, or
none. No answer may be a 5xx, and every answer must be one the document declares, in the
declared shape and content type.
"""

from __future__ import annotations

import hashlib

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from config.celery import app as celery_app
from progression import cache as progression_cache
from progression import ratelimit
from tests.factories import CommunityFactory, NodeFactory, PrerequisiteFactory, issue_token

pytestmark = pytest.mark.django_db(transaction=True)

# Bounded so the whole run stays well under two minutes on a loaded machine (16 operations).
MAX_EXAMPLES = 30
ALL_SCOPES = ("ingest", "vote", "read", "admin")
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
# Engagement answers 200 for a batch with invalid events (each is reported `invalid`), so a
# "negative" body is not refused as a whole there; every other operation refuses it.
PARTIAL_ACCEPTANCE = {"POST /api/communities/{slug}/engagement"}


@pytest.fixture
def contract(db):
    """A public community with a small tree, a private one, and an all-scope token for each."""
    conf = celery_app.conf
    saved = conf.task_always_eager, conf.task_eager_propagates
    conf.task_always_eager, conf.task_eager_propagates = True, False
    progression_cache.clear_local()
    ratelimit.reset_local()
    public = CommunityFactory(slug="public-hub")
    private = CommunityFactory(slug="private-hub", visibility="private")
    for community in (public, private):
        first = NodeFactory(community=community, key="first", cost_override=50)
        second = NodeFactory(community=community, key="second", tier=1, cost_override=500)
        PrerequisiteFactory(node=second, required=first)
        NodeFactory(community=community, key="other", cost_override=50)
    tokens = {
        public.slug: issue_token(public, *ALL_SCOPES, name="admin").secret,
        private.slug: issue_token(private, *ALL_SCOPES, name="admin").secret,
    }
    yield {"slugs": [public.slug, private.slug], "tokens": tokens}
    conf.task_always_eager, conf.task_eager_propagates = saved
    progression_cache.clear_local()
    ratelimit.reset_local()


@pytest.fixture
def api_schema(contract):
    from config.asgi import application

    return schemathesis.openapi.from_asgi("/api/openapi.json", application)


schema = schemathesis.pytest.from_fixture("api_schema")


def _pick(value: object, choices: list) -> object:
    """A stable choice for a generated value, so Hypothesis can replay and shrink a case."""
    digest = hashlib.sha256(repr(value).encode()).digest()
    return choices[digest[0] % len(choices)]


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
    database=None,
)
def test_every_operation_answers_as_documented_and_never_5xx(case, contract):
    slugs = contract["slugs"]
    params = case.path_parameters or {}
    if "slug" in params:  # mostly real communities; sometimes whatever was generated
        params["slug"] = _pick(params["slug"], [*slugs, *slugs, params["slug"]])
    if "key" in params:
        params["key"] = _pick(params["key"], ["first", "second", "other", params["key"]])
    if "metric" in params:
        params["metric"] = _pick(params["metric"], ["message", "bits", params["metric"]])
    token = _pick((case.path_parameters, case.body), [*contract["tokens"].values(), None])
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    excluded = []
    if f"{case.method.upper()} {case.path}" in PARTIAL_ACCEPTANCE:
        excluded.append(negative_data_rejection)
    case.call_and_validate(
        headers=headers,
        checks=CHECKS,
        additional_checks=[] if excluded else [negative_data_rejection],
        excluded_checks=excluded,
    )


def _refs(node: object) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [ref for value in node.values() for ref in _refs(value)]
    if isinstance(node, list):
        return [ref for item in node for ref in _refs(item)]
    return []


def _resolve(document: dict, ref: str) -> object:
    node: object = document
    for part in ref.removeprefix("#/").split("/"):
        assert isinstance(node, dict) and part in node, f"{ref} does not resolve"
        node = node[part]
    return node


def test_the_openapi_document_is_valid_and_every_reference_resolves(client):
    from schemathesis.specs.openapi.definitions import OPENAPI_31_VALIDATOR

    document = client.get("/api/openapi.json").json()

    assert document["openapi"].startswith("3.1")
    assert [e.message for e in OPENAPI_31_VALIDATOR.iter_errors(document)] == []
    refs = _refs(document)
    assert refs, "the document has references"
    for ref in refs:
        assert ref.startswith("#/components/"), ref
        _resolve(document, ref)


def test_the_openapi_document_tells_the_truth_about_auth_inputs_and_errors(client):
    document = client.get("/api/openapi.json").json()
    paths = document["paths"]

    for path in ("/progression", "/tree", "/leaderboard", "/effects", ""):
        read = paths[f"/api/communities/{{slug}}{path}"]["get"]
        assert {} in read["security"], f"{path}: anonymous may read a public community"
        assert {"400", "401", "403", "404", "429"} <= set(read["responses"])
    vote = paths["/api/communities/{slug}/votes"]["post"]
    assert {} not in vote.get("security", [{"ActorAuth": []}])
    assert {"400", "401", "403", "404", "409", "413", "429"} <= set(vote["responses"])
    scope = next(
        p
        for p in paths["/api/communities/{slug}/leaderboard"]["get"]["parameters"]
        if p["name"] == "scope"
    )
    assert scope["schema"]["enum"] == ["cycle", "season", "all_time"]
    body = paths["/api/communities/{slug}/engagement"]["post"]["requestBody"]
    event, batch = body["content"]["application/json"]["schema"]["oneOf"]
    assert event["properties"]["value"]["type"] == "integer"
    assert batch["properties"]["events"]["items"]["properties"]["value"]["maximum"] == 1_000_000
