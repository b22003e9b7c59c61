"""The regression of seeds/003 on real servers: a moderator moves a card through one server
process (whose request connection is handed back the moment it answers); a member watching the
board through another process sees the move; a member removed mid-stream stops seeing it."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from communities.models import Visibility
from communities.services import remove_membership
from jobs.suggestions_models import Proposal
from tests.e2e.clients import open_sse, sse_http_client
from tests.e2e.processes import Process
from tests.e2e.publishing import in_thread
from tests.e2e.test_stream_access import REVOKE_WITHIN, bearer, session_cookie, stream_url
from tests.factories import CommunityFactory, MembershipFactory, issue_token


@pytest.mark.real_services
@pytest.mark.django_db(transaction=True)
def test_a_move_made_on_one_server_reaches_a_board_reader_on_another(
    web: Process, web2: Process
) -> None:
    community = CommunityFactory(visibility=Visibility.PRIVATE)
    reader = MembershipFactory(community=community).user
    leaver = MembershipFactory(community=community).user
    admin = issue_token(community, "admin")
    card = Proposal.objects.create(community=community, column="new", position=0, title="Hats")
    url = stream_url(web2, community, "board")
    move_url = f"{web.base_url}/api/communities/{community.slug}/proposals/{card.pk}/move"
    cookies = session_cookie(reader), session_cookie(leaver)

    async def scenario() -> dict:
        async with sse_http_client() as http, httpx.AsyncClient(timeout=10) as api:
            watching = await open_sse(http, url, last_event_id=0, headers=cookies[0])
            leaving = await open_sse(http, url, last_event_id=0, headers=cookies[1])
            assert (watching.status, leaving.status) == (200, 200)
            moved = await api.post(
                move_url,
                json={"column": "shortlisted", "position": 0, "version": 1},
                headers=bearer(admin.secret),
            )
            seen = [await s.next_data_event(10) for s in (watching, leaving)]
            started = time.monotonic()
            await in_thread(remove_membership, community=community, user=leaver)
            ended = await leaving.drain_until_end(REVOKE_WITHIN)
            took = time.monotonic() - started
            again = await api.post(
                move_url,
                json={"column": "accepted", "position": 0, "version": 2},
                headers=bearer(admin.secret),
            )
            second = await watching.next_data_event(10)
            await watching.close()
            return {
                "moved": moved.status_code,
                "seen": seen,
                "ended": ended,
                "took": took,
                "again": again.status_code,
                "second": second,
            }

    result = asyncio.run(scenario())

    assert (result["moved"], result["again"]) == (200, 200)
    for event in result["seen"]:
        assert event is not None and event.event == "board.card.moved"
        assert event.json()["data"]["to"] == {"column": "shortlisted", "position": 0}
    assert [e.event for e in result["ended"]] == ["stream.revoked"]
    assert result["took"] < REVOKE_WITHIN
    assert result["second"].json()["data"]["card"]["column"] == "accepted"
