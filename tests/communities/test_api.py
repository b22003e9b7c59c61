"""GET /api/communities/<slug> and the API's one error shape for every status."""

from __future__ import annotations

import json
import logging

import pytest
from asgiref.sync import async_to_sync
from asgiref.testing import ApplicationCommunicator
from django.conf import settings
from django.core import signals
from django.db import close_old_connections
from django.test import RequestFactory, override_settings
from ninja.errors import ValidationError

from communities.errors import Conflict
from communities.models import Role, Visibility
from communities.permissions import Action
from communities.services import revoke_api_token
from config.api import _validation_fields, api
from config.asgi import application
from tests.factories import CommunityFactory, MembershipFactory, UserFactory, issue_token

pytestmark = pytest.mark.django_db

ALL_ACTIONS = [action.value for action in Action]


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def url(slug: str) -> str:
    return f"/api/communities/{slug}"


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def assert_error(response, status: int, code: str) -> dict:
    """Every error body is exactly {"error": {"code", "message"[, "fields"]}}, as JSON."""
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    body = json.loads(response.content)
    assert set(body) == {"error"}
    error = body["error"]
    assert {"code", "message"} <= set(error) <= {"code", "message", "fields"}
    assert error["code"] == code
    assert isinstance(error["message"], str) and error["message"]
    return error


# --- reading a community -------------------------------------------------------------------


def test_owner_signed_in_by_session_sees_the_community_and_their_role(client):
    membership = MembershipFactory(role=Role.OWNER)
    client.force_login(membership.user)

    response = client.get(url(membership.community.slug))

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["slug"] == membership.community.slug
    assert body["name"] == membership.community.name
    assert body["visibility"] == Visibility.PUBLIC
    assert body["role"] == "owner"
    assert body["caller"] == "user"
    assert body["scopes"] == []
    assert body["allowed"] == ALL_ACTIONS


def test_token_caller_sees_the_community_with_its_scopes_and_no_role(client, community):
    issued = issue_token(community, "ingest", "read")

    response = client.get(url(community.slug), headers=bearer(issued.secret))

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["role"] is None
    assert body["caller"] == "token"
    assert body["scopes"] == ["ingest", "read"]
    assert body["allowed"] == ["read", "read_progression", "read_members", "ingest", "suggest"]


def test_anyone_may_read_a_public_community(client, community):
    response = client.get(url(community.slug))

    assert response.status_code == 200, response.content
    assert response.json()["caller"] == "anonymous"
    assert response.json()["role"] is None
    assert response.json()["allowed"] == ["read", "read_progression"]


def test_a_private_community_is_as_unknown_to_anonymous_callers_as_a_wrong_slug(
    client, private_community
):
    hidden = assert_error(client.get(url(private_community.slug)), 404, "not_found")
    unknown = assert_error(client.get(url("no-such-slug")), 404, "not_found")

    assert hidden["message"] == unknown["message"].replace("no-such-slug", private_community.slug)


def test_a_private_community_is_unknown_to_a_signed_in_outsider(client, private_community):
    client.force_login(UserFactory())

    assert_error(client.get(url(private_community.slug)), 404, "not_found")


def test_private_community_shows_a_member_their_role(client, private_community):
    membership = MembershipFactory(community=private_community, role=Role.MEMBER)
    client.force_login(membership.user)

    response = client.get(url(private_community.slug))

    assert response.status_code == 200, response.content
    assert response.json()["role"] == "member"
    assert response.json()["visibility"] == Visibility.PRIVATE


def test_private_community_is_readable_with_a_read_token(client, private_community):
    issued = issue_token(private_community, "read")

    response = client.get(url(private_community.slug), headers=bearer(issued.secret))

    assert response.status_code == 200, response.content
    assert response.json()["scopes"] == ["read"]


def test_private_community_refuses_a_token_without_read_with_403(client, private_community):
    issued = issue_token(private_community, "ingest", "vote")

    response = client.get(url(private_community.slug), headers=bearer(issued.secret))

    assert_error(response, 403, "forbidden")


def test_a_private_community_is_unknown_to_a_token_of_another_community(client, private_community):
    issued = issue_token(CommunityFactory(), "read", "admin")

    response = client.get(url(private_community.slug), headers=bearer(issued.secret))

    assert_error(response, 404, "not_found")


@pytest.mark.parametrize("caller", ["anonymous", "user", "token"])
def test_unknown_slug_is_404_never_500(client, community, caller):
    headers = {}
    if caller == "user":
        client.force_login(UserFactory())
    elif caller == "token":
        headers = bearer(issue_token(community, "read").secret)

    response = client.get(url("no-such-community"), headers=headers)

    assert_error(response, 404, "not_found")


@pytest.mark.parametrize(
    "header",
    [
        "Token abc",
        "Basic dXNlcjpwYXNz",
        "Bearer",
        "Bearer   ",
        "Bearer not-a-token",
        "Bearer ph_short_secret",
    ],
)
def test_malformed_authorization_header_is_refused_with_401(client, community, header):
    response = client.get(url(community.slug), headers={"Authorization": header})

    assert_error(response, 401, "not_authenticated")


def test_bad_token_is_refused_even_where_anonymous_reads_are_allowed(client, community):
    issued = issue_token(community, "read")
    tampered = issued.secret[:-1] + ("A" if issued.secret[-1] != "A" else "B")

    response = client.get(url(community.slug), headers=bearer(tampered))

    assert_error(response, 401, "not_authenticated")


def test_revoked_token_is_refused_with_401(client, community):
    issued = issue_token(community, "read")
    revoke_api_token(issued.token)

    response = client.get(url(community.slug), headers=bearer(issued.secret))

    assert_error(response, 401, "not_authenticated")


@pytest.mark.parametrize("path", ["/api/nope", "/api/communities/", "/api/communities/a/b"])
def test_unknown_api_path_is_404_in_the_error_shape(client, path):
    assert_error(client.get(path), 404, "not_found")


# --- the error shape for each status -------------------------------------------------------


@pytest.fixture
def api_request():
    return RequestFactory().post("/api/communities/x")


def test_validation_error_is_400_with_messages_per_field(api_request):
    exc = ValidationError(
        [
            {"type": "missing", "loc": ("body", "payload", "name"), "msg": "Field required"},
            {
                "type": "int_parsing",
                "loc": ("query", "limit"),
                "msg": "Input should be a valid integer",
            },
            {
                "type": "string_too_long",
                "loc": ("body", "payload", "items", 0, "label"),
                "msg": "String should have at most 80 characters",
            },
        ]
    )

    error = assert_error(api.on_exception(api_request, exc), 400, "invalid")

    assert error["fields"] == {
        "name": ["Field required"],
        "limit": ["Input should be a valid integer"],
        "items.0.label": ["String should have at most 80 characters"],
    }


def test_validation_fields_collects_several_messages_for_one_field_and_whole_body_errors():
    fields = _validation_fields(
        [
            {"loc": ("body", "payload", "slug"), "msg": "too short"},
            {"loc": ("body", "payload", "slug"), "msg": "bad characters"},
            {"loc": ("body",), "msg": "Invalid JSON"},
        ]
    )

    assert fields == {"slug": ["too short", "bad characters"], "__all__": ["Invalid JSON"]}


def test_conflict_is_409_in_the_error_shape(api_request):
    error = assert_error(
        api.on_exception(api_request, Conflict("Community 'x' already exists.")),
        409,
        "conflict",
    )
    assert error["message"] == "Community 'x' already exists."


def test_unexpected_exception_is_500_without_leaking_details(api_request, caplog):
    with caplog.at_level(logging.ERROR, logger="config.api"):
        response = api.on_exception(api_request, RuntimeError("password=hunter2 in a query"))

    error = assert_error(response, 500, "server_error")
    assert "hunter2" not in response.content.decode()
    assert "Traceback" not in response.content.decode()
    assert "RuntimeError" not in error["message"]
    assert any(record.exc_info for record in caplog.records), "the failure was not logged"


def test_unexpected_exception_in_a_view_is_500_in_the_error_shape(client, community, monkeypatch):
    def explode(slug: str):
        raise RuntimeError("password=hunter2 in a query")

    monkeypatch.setattr("communities.api.get_community", explode)

    response = client.get(url(community.slug))

    assert_error(response, 500, "server_error")
    assert "hunter2" not in response.content.decode()


def test_body_over_the_limit_is_refused_with_413_in_the_error_shape(client, community):
    limit = 2048
    with override_settings(API_MAX_BODY_BYTES=limit, DATA_UPLOAD_MAX_MEMORY_SIZE=limit):
        response = client.post(
            url(community.slug), data=b"x" * (limit + 1), content_type="application/json"
        )

    error = assert_error(response, 413, "body_too_large")
    assert str(limit) in error["message"]


def test_chunked_body_over_the_limit_is_refused_in_the_error_shape(community):
    """An upload without Content-Length (chunked, HTTP/2) must not slip past the limit.

    Refused either as too large (413) or as needing a length (411); never routed or read.
    """
    limit = settings.API_MAX_BODY_BYTES
    path = url(community.slug)
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver"), (b"content-type", b"application/json")],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }

    async def post_chunked() -> tuple[int, bytes]:
        communicator = ApplicationCommunicator(application, scope)
        await communicator.send_input(
            {"type": "http.request", "body": b"x" * (limit + 1), "more_body": False}
        )
        start = await communicator.receive_output(10)
        body = await communicator.receive_output(10)
        return start["status"], body["body"]

    # Like Django's test client: request signals must not close the test's connection.
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        status, content = async_to_sync(post_chunked)()
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)

    assert status in (411, 413), content
    assert set(json.loads(content)) == {"error"}


def test_wrong_method_is_refused_with_405_in_the_error_shape(client, community):
    response = client.delete(url(community.slug))

    assert_error(response, 405, "method_not_allowed")


def test_anonymous_rate_limit_is_429_with_retry_after(client, community):
    allowed = int(settings.API_RATE_ANON.split("/")[0])
    for _ in range(allowed):
        assert client.get(url(community.slug)).status_code == 200

    response = client.get(url(community.slug))

    assert_error(response, 429, "rate_limited")
    assert int(response["Retry-After"]) >= 1


def test_anonymous_rate_limit_does_not_throttle_a_token(client, community):
    allowed = int(settings.API_RATE_ANON.split("/")[0])
    for _ in range(allowed + 1):
        client.get(url(community.slug))
    issued = issue_token(community, "read")

    response = client.get(url(community.slug), headers=bearer(issued.secret))

    assert response.status_code == 200, response.content


def test_anonymous_rate_limit_cannot_be_dodged_with_a_forged_x_forwarded_for(client, community):
    allowed = int(settings.API_RATE_ANON.split("/")[0])
    statuses = [
        client.get(
            url(community.slug), headers={"X-Forwarded-For": f"203.0.113.{i % 250}"}
        ).status_code
        for i in range(allowed + 1)
    ]

    assert statuses[:allowed] == [200] * allowed
    assert statuses[allowed] == 429
