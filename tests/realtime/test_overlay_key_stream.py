"""An overlay key on the stream: `progression` only, and a revoked key ends the stream."""

from __future__ import annotations

import json

import pytest
from channels.db import database_sync_to_async

from communities.services import create_overlay_key, revoke_overlay_key
from config.asgi import application
from tests.factories import CommunityFactory, issue_token
from tests.realtime.asgi_client import get_stream
from tests.realtime.helpers import apublish
from tests.realtime.test_consumers import Communicator, subscribe

pytestmark = [
    pytest.mark.asyncio,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("hub"),
]

new_key = database_sync_to_async(create_overlay_key)


async def test_a_key_streams_the_progression_of_its_private_community(private_community):
    issued = await new_key(community=private_community, name="obs")
    await apublish(private_community, "progression", "progression.node.unlocked")

    response = await get_stream(
        private_community.slug,
        {"topics": "progression", "last_event_id": "0", "key": issued.secret},
    )
    await response.wait_for_ids(1)
    await response.disconnect()

    assert response.status == 200


@pytest.mark.parametrize("topics", ["events", "jobs", "board", "admin", "progression,events"])
async def test_a_key_gets_no_other_topic(private_community, topics):
    issued = await new_key(community=private_community, name="obs")

    response = await get_stream(private_community.slug, {"topics": topics, "key": issued.secret})
    await response.finish()

    assert response.status == 403
    assert response.json()["error"]["code"] == "forbidden"


async def test_a_key_opens_no_stream_of_another_private_community(private_community):
    other = await database_sync_to_async(CommunityFactory)()
    issued = await new_key(community=other, name="obs")

    response = await get_stream(
        private_community.slug, {"topics": "progression", "key": issued.secret}
    )
    await response.finish()

    assert response.status == 404


async def test_an_api_token_in_the_stream_url_never_authenticates(private_community):
    issued = await database_sync_to_async(issue_token)(private_community, "read")
    statuses = {}
    for name in ("key", "token", "access_token"):
        response = await get_stream(
            private_community.slug, {"topics": "progression", name: issued.secret}
        )
        await response.finish()
        statuses[name] = response.status

    assert statuses == {"key": 401, "token": 404, "access_token": 404}


async def test_revoking_a_key_ends_its_open_sse_stream(private_community):
    issued = await new_key(community=private_community, name="obs")
    await apublish(private_community, "progression", "progression.node.unlocked")
    response = await get_stream(
        private_community.slug,
        {"topics": "progression", "last_event_id": "0", "key": issued.secret},
    )
    await response.wait_for_ids(1)  # replayed: the stream is live and in its access group

    await database_sync_to_async(revoke_overlay_key)(issued.key)
    await response.finish()

    revoked = [f for f in response.frames() if f.get("event") == "stream.revoked"]
    assert len(revoked) == 1
    assert json.loads(revoked[0]["data"])["data"] == {"topics": ["progression"], "remaining": []}
    assert response.finished


async def test_revoking_a_key_closes_its_websocket_with_4403(private_community):
    issued = await new_key(community=private_community, name="obs")
    await apublish(private_community, "progression", "progression.node.unlocked")
    ws = Communicator(application, f"/ws/communities/{private_community.slug}/?key={issued.secret}")
    assert (await ws.connect())[0]
    ready = await subscribe(ws, topics=["progression"], last_event_id=0)
    replayed = await ws.receive_output(timeout=3)  # the replayed event
    assert replayed["type"] == "websocket.send", (ready, replayed)

    await database_sync_to_async(revoke_overlay_key)(issued.key)
    revoked = await ws.receive_json_from(timeout=3)
    closed = await ws.receive_output(timeout=3)
    await ws.disconnect()

    assert json.loads(ready["text"])["data"]["topics"] == ["progression"]
    assert revoked["type"] == "stream.revoked"
    assert (closed["type"], closed["code"]) == ("websocket.close", 4403)


async def test_a_revoked_key_cannot_reconnect(private_community):
    issued = await new_key(community=private_community, name="obs")
    await database_sync_to_async(revoke_overlay_key)(issued.key)

    response = await get_stream(
        private_community.slug, {"topics": "progression", "key": issued.secret}
    )
    await response.finish()

    assert response.status == 401
