"""Who may read a stream, checked at connect and again when access changes, on real servers."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.test import Client

from communities.models import ApiToken, Community, Visibility
from communities.services import remove_membership, revoke_api_token
from tests.e2e.clients import SSEEvent, SSEStream, open_sse, sse_http_client
from tests.e2e.processes import Process
from tests.e2e.publishing import in_thread, publish_committed
from tests.factories import CommunityFactory, MembershipFactory, issue_token

REVOKE_WITHIN = 5.0


def stream_url(server: Process, community: Community, topics: str) -> str:
    return f"{server.base_url}/api/communities/{community.slug}/stream?topics={topics}"


def session_cookie(user: AbstractBaseUser) -> dict[str, str]:
    """A real signed-in session (stored in the test database) as the browser would send it."""
    client = Client()
    client.force_login(user)
    name = settings.SESSION_COOKIE_NAME
    return {"Cookie": f"{name}={client.cookies[name].value}"}


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def _remove_member_and_revoke_token(
    community: Community, user: AbstractBaseUser, token: ApiToken
) -> None:
    remove_membership(community=community, user=user)
    revoke_api_token(token)


async def _events_until_end(
    stream: SSEStream, since: float, timeout: float
) -> tuple[list[SSEEvent], float]:
    events = await stream.drain_until_end(timeout)
    return events, time.monotonic() - since


async def _refusal(http: httpx.AsyncClient, url: str, headers: dict[str, str]) -> tuple[int, str]:
    stream = await open_sse(http, url, last_event_id=0, headers=headers)
    if stream.status == 200:
        await stream.close()
        return 200, "streaming"
    return stream.status, stream.response.json()["error"]["code"]


@pytest.mark.real_services
@pytest.mark.django_db(transaction=True)
def test_private_stream_ends_within_5s_for_a_removed_member_and_a_revoked_token(
    web: Process, web2: Process
) -> None:
    community = CommunityFactory(visibility=Visibility.PRIVATE)
    user = MembershipFactory(community=community).user
    issued = issue_token(community, "read")
    cookie, token = session_cookie(user), bearer(issued.secret)
    # The session reads through one server process, the token through another: the change,
    # made here, must reach both.
    url_a = stream_url(web, community, "progression,jobs")
    url_b = stream_url(web2, community, "progression,jobs")

    async def scenario() -> dict[str, Any]:
        async with sse_http_client() as http:
            by_session = await open_sse(http, url_a, last_event_id=0, headers=cookie)
            by_token = await open_sse(http, url_b, last_event_id=0, headers=token)
            assert (by_session.status, by_token.status) == (200, 200)
            await in_thread(publish_committed, community, {"step": "before"}, topic="jobs")
            first = [(await s.next_data_event(5)).id for s in (by_session, by_token)]

            revoked_at = time.monotonic()
            await in_thread(_remove_member_and_revoke_token, community, user, issued.token)
            ended = await asyncio.gather(
                *(_events_until_end(s, revoked_at, REVOKE_WITHIN) for s in (by_session, by_token))
            )
            clean = [s.clean_end for s in (by_session, by_token)]
            # Published now, it cannot reach them: both streams are over and coming back with
            # the same credentials is refused.
            await in_thread(publish_committed, community, {"step": "after"}, topic="progression")
            again = [await _refusal(http, url_a, cookie), await _refusal(http, url_b, token)]
            return {"first": first, "ended": ended, "clean": clean, "again": again}

    result = asyncio.run(scenario())

    assert result["first"] == [1, 1]
    for events, seconds in result["ended"]:
        assert [(e.event, e.json()["data"]) for e in events] == [
            ("stream.revoked", {"topics": ["jobs", "progression"], "remaining": []})
        ]
        assert seconds < REVOKE_WITHIN
    assert result["clean"] == [True, True]
    # A former member of a private community is an outsider: answered as for an unknown slug.
    assert result["again"] == [(404, "not_found"), (401, "not_authenticated")]
    print("streams ended after revocation (s):", [round(s, 3) for _, s in result["ended"]])


@pytest.mark.real_services
@pytest.mark.django_db(transaction=True)
def test_removed_member_keeps_public_topics_but_gets_no_member_only_events(web2: Process) -> None:
    community = CommunityFactory()
    user = MembershipFactory(community=community).user
    url = stream_url(web2, community, "progression,jobs")
    cookie = session_cookie(user)

    async def scenario() -> tuple[list[SSEEvent], float, list[int]]:
        async with sse_http_client() as http:
            stream = await open_sse(http, url, last_event_id=0, headers=cookie)
            assert stream.status == 200
            await in_thread(publish_committed, community, {"step": "before"}, topic="jobs")
            assert (await stream.next_data_event(5)).id == 1
            started = time.monotonic()
            await in_thread(remove_membership, community=community, user=user)
            revoked = [await stream.next(REVOKE_WITHIN)]
            took = time.monotonic() - started
            await in_thread(publish_committed, community, {"step": "members"}, topic="jobs")
            await in_thread(publish_committed, community, {"step": "public"}, topic="progression")
            after = [(await stream.next(5)).id]
            try:
                late = await stream.next(0.5)
                after.append(late.id if late else -1)
            except TimeoutError:
                pass
            await stream.close()
            return revoked, took, after

    revoked, took, after = asyncio.run(scenario())

    assert [(e.event, e.json()["data"]) for e in revoked] == [
        ("stream.revoked", {"topics": ["jobs"], "remaining": ["progression"]})
    ]
    assert took < REVOKE_WITHIN
    assert after == [3], "the member-only event (2) must not reach a removed member"


@pytest.mark.real_services
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("server_name", ["web", "daphne_web"], ids=["uvicorn", "daphne"])
def test_public_stream_refuses_jobs_to_anonymous_client_but_serves_progression(
    request: pytest.FixtureRequest, server_name: str
) -> None:
    server: Process = request.getfixturevalue(server_name)
    community = CommunityFactory()

    async def scenario() -> dict[str, Any]:
        async with sse_http_client() as http:
            refused = {
                topics: await open_sse(http, stream_url(server, community, topics))
                for topics in ("jobs", "progression,jobs")
            }
            # A first load names where it starts with the query parameter: without any last
            # id the stream starts at whatever is latest when the server gets to it, which
            # may already include the event published next.
            first_load = stream_url(server, community, "progression") + "&last_event_id=0"
            allowed = await open_sse(http, first_load)
            await in_thread(publish_committed, community, {"step": "public"})
            event = await allowed.next_data_event(5)
            await allowed.close()
            return {
                "refused": {
                    t: (s.status, s.response.headers["content-type"], s.response.json())
                    for t, s in refused.items()
                },
                "allowed": (allowed.status, dict(allowed.response.headers)),
                "retry": allowed.parser.retry,
                "event": event.json(),
            }

    result = asyncio.run(scenario())

    for status, content_type, body in result["refused"].values():
        assert status == 401
        assert content_type.startswith("application/json")
        assert body["error"]["code"] == "not_authenticated"
        refused_topics = str(body["error"]["fields"]["topics"])
        assert "jobs" in refused_topics and "progression" not in refused_topics
    status, headers = result["allowed"]
    assert status == 200
    assert headers["content-type"].startswith("text/event-stream")
    assert headers["cache-control"] == "no-cache, no-transform"
    assert headers["x-accel-buffering"] == "no"
    assert result["retry"] == settings.STREAM_RETRY_MS
    assert result["event"]["id"] == 1 and result["event"]["data"] == {"step": "public"}
