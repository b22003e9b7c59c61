"""Who may read the board and who may change it, over HTTP and on the `board` topic (SSE and
WebSocket): the community's members and moderators and tokens with `read` read it, never the
public, whatever the community's visibility; moderators and `admin` tokens move and edit."""

from __future__ import annotations

import json

import pytest
from channels.db import database_sync_to_async
from django.test import Client

from communities.models import Community, Role
from communities.services import remove_membership
from jobs.suggestions_models import Proposal
from tests.factories import CommunityFactory, MembershipFactory, UserFactory, issue_token
from tests.jobs.actors import ACTORS, MODERATE, READ
from tests.realtime.asgi_client import get_stream, session_cookie
from tests.realtime.helpers import apublish, until
from tests.realtime.test_consumers import Communicator, subscribe

# The board is read like jobs (Action.READ_MEMBERS) and changed like them (Action.MODERATE):
# one table for both (tests/jobs/actors.py). The stream answers a refused topic as the HTTP
# API does; a WebSocket closes with 4000 + that status.


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(params=["public", "private"])
def place(request, db):
    return CommunityFactory(visibility=request.param)


def credentials(place: Community, who: str) -> dict[str, str]:
    """Headers acting as `who` in `place`: a session cookie or a bearer token."""
    if who in ("member", "moderator", "outsider"):
        if who == "outsider":
            user = UserFactory()
        else:
            role = Role.MEMBER if who == "member" else Role.MODERATOR
            user = MembershipFactory(community=place, role=role).user
        return {"Cookie": session_cookie(user)}
    if who.startswith("token_"):
        scope = who.removeprefix("token_")
        return {"Authorization": f"Bearer {issue_token(place, scope).secret}"}
    if who == "other_token":
        other = CommunityFactory()
        return {"Authorization": f"Bearer {issue_token(other, 'read', 'admin').secret}"}
    return {}


def client_for(place: Community, who: str) -> tuple[Client, dict[str, str]]:
    headers = credentials(place, who)
    client = Client()
    if "Cookie" in headers:
        name, _, value = headers.pop("Cookie").partition("=")
        client.cookies[name] = value
    return client, headers


@pytest.mark.django_db
@pytest.mark.parametrize("who", ACTORS)
def test_reading_the_board_is_for_members_moderators_and_read_tokens_only(place, who, make_cards):
    make_cards(place, "new", 2)
    client, headers = client_for(place, who)

    response = client.get(f"/api/communities/{place.slug}/proposals", headers=headers)

    assert response.status_code == READ[place.visibility][who], response.content
    if response.status_code == 200:
        assert [card["title"] for card in response.json()["new"]] == ["new 0", "new 1"]
    else:
        assert "new 0" not in response.content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize("who", ACTORS)
def test_moving_and_editing_cards_is_for_moderators_and_admin_tokens_only(place, who, make_cards):
    card, _ = make_cards(place, "new", 2)
    client, headers = client_for(place, who)
    expected = MODERATE[place.visibility][who]
    base = f"/api/communities/{place.slug}/proposals/{card.pk}"

    moved = client.post(
        f"{base}/move",
        data=json.dumps({"column": "shortlisted", "position": 0, "version": 1}),
        content_type="application/json",
        headers=headers,
    )
    edited = client.patch(
        base,
        data=json.dumps({"version": 2 if expected == 200 else 1, "title": "Renamed"}),
        content_type="application/json",
        headers=headers,
    )

    assert (moved.status_code, edited.status_code) == (expected, expected), moved.content
    card.refresh_from_db()
    if expected == 200:
        assert (card.column, card.title, card.version) == ("shortlisted", "Renamed", 3)
    else:
        assert (card.column, card.title, card.version) == ("new", "new 0", 1)


# --- the `board` topic, over SSE and WebSocket -----------------------------------------------


async def _headers(place: Community, who: str) -> dict[str, str]:
    return await database_sync_to_async(credentials)(place, who)


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("hub")
@pytest.mark.parametrize("who", ACTORS)
@pytest.mark.parametrize("visibility", ["public", "private"])
async def test_the_board_topic_over_sse_reaches_exactly_those_who_may_read_the_board(
    visibility, who
):
    place = await database_sync_to_async(CommunityFactory)(visibility=visibility)
    headers = await _headers(place, who)
    expected = READ[visibility][who]

    response = await get_stream(place.slug, {"topics": "board", "last_event_id": "0"}, headers)
    try:
        if expected == 200:
            await apublish(place, "board", "board.card.moved")
            await response.wait_for_ids(1)
        else:
            await response.finish()
    finally:
        if not response.finished:
            await response.disconnect()

    assert response.status == expected, response.text
    if expected == 200:
        assert response.event_ids() == [1]
    else:
        assert "board.card" not in response.text


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("hub")
@pytest.mark.parametrize("who", ACTORS)
@pytest.mark.parametrize("visibility", ["public", "private"])
async def test_the_board_topic_over_websocket_reaches_exactly_those_who_may_read_the_board(
    visibility, who
):
    from config.asgi import application

    place = await database_sync_to_async(CommunityFactory)(visibility=visibility)
    headers = await _headers(place, who)
    expected = READ[visibility][who]
    raw = [(name.lower().encode(), value.encode()) for name, value in headers.items()]
    ws = Communicator(application, f"/ws/communities/{place.slug}/", raw)
    connected, _ = await ws.connect()
    try:
        if connected:
            reply = await subscribe(ws, topics=["board"], last_event_id=0)
        else:
            reply = {"type": "websocket.close", "code": 4404}
        if expected == 200:
            assert json.loads(reply["text"])["type"] == "stream.ready", reply
            await apublish(place, "board", "board.card.moved")
            envelope = await ws.receive_json_from(timeout=3)
            assert (envelope["topic"], envelope["type"]) == ("board", "board.card.moved")
        else:
            if reply["type"] != "websocket.close":
                reply = await ws.receive_output(timeout=3)
            assert (reply["type"], reply["code"]) == ("websocket.close", 4000 + expected), reply
    finally:
        await ws.disconnect()


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("hub")
async def test_a_member_removed_mid_stream_stops_receiving_the_board_within_5s(private_community):
    user = await database_sync_to_async(
        lambda: MembershipFactory(community=private_community).user
    )()
    cookie = await database_sync_to_async(session_cookie)(user)
    response = await get_stream(
        private_community.slug, {"topics": "board", "last_event_id": "0"}, {"Cookie": cookie}
    )
    await apublish(private_community, "board", "board.card.moved")
    await response.wait_for_ids(1)

    await database_sync_to_async(remove_membership)(community=private_community, user=user)
    await until(lambda: response.finished, 5.0, "the board stream to end within 5 s")
    await apublish(private_community, "board", "board.card.moved")

    assert response.event_ids() == [1]
    assert "stream.revoked" in response.text
    assert not await database_sync_to_async(Proposal.objects.exists)()
