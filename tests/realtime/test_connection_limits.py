"""StreamConnection under pressure and change: slow clients, pruned history, revoked access, restarts."""

from __future__ import annotations

from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from django.utils import timezone

from communities.services import remove_membership, revoke_api_token
from realtime.access import authorizer, grant_stream, snapshot_urls
from realtime.models import OutboxEvent
from realtime.services import prune_outbox
from tests.factories import MembershipFactory, issue_token
from tests.realtime.helpers import (
    amessage_for,
    apublish,
    apublish_many,
    settle,
    until,
)

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]


async def blocked_on_first_write(hub, community, stream) -> None:
    """Event 1 reaches the client's transport, which then hangs: the client is slow."""
    stream.transport.gate.clear()
    hub.dispatch(await amessage_for(community.pk, 1))
    await until(
        lambda: not stream.connection.outbound, what="event 1 to be handed to the transport"
    )


async def test_coalescable_events_behind_a_slow_client_are_reduced_to_the_latest_per_key(
    hub, open_stream, community, fanout_recorder
):
    stream = await open_stream(community, {"jobs"})
    await apublish(community, "jobs", "jobs.job.created", {"job": 7})
    for pct, key in [(10, "job:7"), (20, "job:8"), (30, "job:7"), (40, "job:7"), (50, "job:8")]:
        await apublish(community, "jobs", "jobs.job.progressed", {"pct": pct}, coalesce_key=key)
    await blocked_on_first_write(hub, community, stream)

    for event_id in range(2, 7):
        hub.dispatch(await amessage_for(community.pk, event_id))
    stream.transport.gate.set()
    await stream.wait_for_events(6)
    await settle()

    assert stream.event_ids == [1, 5, 6]
    sent = [body["data"] for kind, body in stream.transport.writes if kind == "event"]
    assert sent == [{"job": 7}, {"pct": 40}, {"pct": 50}]


async def test_overflowing_client_gets_stream_overflow_and_is_closed_then_catches_up_by_id(
    hub, open_stream, community, fanout_recorder
):
    stream = await open_stream(community, {"progression"}, queue_size=4)
    await apublish_many(community, ["progression"] * 7)
    await blocked_on_first_write(hub, community, stream)

    for event_id in range(2, 8):
        hub.dispatch(await amessage_for(community.pk, event_id))
    stream.transport.gate.set()

    assert await stream.result() == "overflow"
    assert stream.event_ids == [1]
    kind, last = stream.transport.writes[-1]
    assert (kind, last["type"]) == ("control", "stream.overflow")
    assert not stream.connection.outbound
    again = await open_stream(community, {"progression"}, resume_from=1)
    assert again.event_ids == [2, 3, 4, 5, 6, 7]


async def test_last_id_older_than_the_retention_gets_one_reset_with_snapshots_then_live(
    open_stream, community
):
    await apublish_many(community, ["progression"] * 3)
    await database_sync_to_async(
        lambda: OutboxEvent.objects.filter(community=community).update(
            created_at=timezone.now() - timedelta(days=2)
        )
    )()
    assert await database_sync_to_async(prune_outbox)(retention_seconds=3600) == 3
    await apublish_many(community, ["progression"] * 2)  # 4, 5

    stream = await open_stream(community, {"progression"}, resume_from=1)
    await apublish(community, "progression")  # 6
    await stream.wait_for_events(6)
    await settle()

    resets = stream.transport.controls("stream.reset")
    assert len(resets) == 1
    assert resets[0]["data"]["snapshots"] == snapshot_urls(community.slug)
    assert resets[0]["id"] == 5
    assert stream.transport.writes[0] == ("control", resets[0])
    assert stream.event_ids == [6]


async def test_resume_exactly_at_pruned_through_replays_without_a_reset(open_stream, community):
    await apublish_many(community, ["progression"] * 4)
    await database_sync_to_async(
        lambda: OutboxEvent.objects.filter(community=community, event_id__lte=2).update(
            created_at=timezone.now() - timedelta(days=2)
        )
    )()
    await database_sync_to_async(prune_outbox)(retention_seconds=3600)

    stream = await open_stream(community, {"progression"}, resume_from=2)

    assert stream.transport.controls() == []
    assert stream.event_ids == [3, 4]


async def test_last_id_ahead_of_the_stream_gets_a_reset(open_stream, community):
    await apublish(community, "progression")

    stream = await open_stream(community, {"progression"}, resume_from=99)

    assert [c["type"] for c in stream.transport.controls()] == ["stream.reset"]
    assert stream.event_ids == []


@pytest.fixture
def member(community):
    return MembershipFactory(community=community).user


async def test_removed_member_loses_member_topics_and_keeps_public_ones(
    open_stream, community, member
):
    grant = await grant_stream(
        scope_with(), community.slug, member, frozenset({"progression", "jobs"})
    )
    stream = await open_stream(
        community, set(grant.topics), authorize=authorizer(grant), access_group=grant.access_group
    )

    await database_sync_to_async(remove_membership)(community=community, user=member)
    await until(lambda: stream.transport.controls("stream.revoked"), what="stream.revoked")
    await apublish(community, "jobs", "jobs.job.created")  # 1
    await apublish(community, "progression")  # 2
    await stream.wait_for_events(2)
    await settle()

    revoked = stream.transport.controls("stream.revoked")
    assert [r["data"] for r in revoked] == [{"topics": ["jobs"], "remaining": ["progression"]}]
    assert stream.event_ids == [2]
    assert not stream.task.done()


async def test_revoked_token_loses_every_topic_of_a_private_stream_and_is_closed(
    open_stream, private_community
):
    issued = await database_sync_to_async(issue_token)(private_community, "read")
    grant = await grant_stream(
        scope_with(f"Bearer {issued.secret}"),
        private_community.slug,
        None,
        frozenset({"events", "board"}),
    )
    stream = await open_stream(
        private_community,
        set(grant.topics),
        authorize=authorizer(grant),
        access_group=grant.access_group,
    )

    await database_sync_to_async(revoke_api_token)(issued.token)

    assert await stream.result() == "revoked"
    assert [c["data"] for c in stream.transport.controls()] == [
        {"topics": ["board", "events"], "remaining": []}
    ]


async def test_token_revoked_between_grant_and_going_live_still_loses_its_stream_within_5s(
    open_stream, private_community
):
    """The access notice for a revocation that commits after the connect-time check but before
    the stream has joined its access group reaches no one; the stream must still notice."""
    issued = await database_sync_to_async(issue_token)(private_community, "read")
    grant = await grant_stream(
        scope_with(f"Bearer {issued.secret}"), private_community.slug, None, frozenset({"jobs"})
    )
    await database_sync_to_async(revoke_api_token)(issued.token)

    stream = await open_stream(
        private_community,
        set(grant.topics),
        authorize=authorizer(grant),
        access_group=grant.access_group,
        access_recheck=60.0,  # the production default
    )

    try:
        ended = await stream.result(timeout=5)
    except TimeoutError:
        pytest.fail("the revoked token's stream was still live 5 s later")
    assert ended == "revoked"


async def test_held_event_of_a_revoked_topic_is_never_written(
    hub, open_stream, community, member, fanout_recorder
):
    """A jobs event waiting for an earlier one when the member is removed must be dropped with
    the topic, not released by the next progression event. The long grace only widens the
    window; with the default 0.1 s any progression event in that window leaks it."""
    grant = await grant_stream(
        scope_with(), community.slug, member, frozenset({"progression", "jobs"})
    )
    stream = await open_stream(
        community,
        set(grant.topics),
        authorize=authorizer(grant),
        access_group=grant.access_group,
        gap_grace=30.0,
    )
    await apublish_many(community, ["jobs", "jobs", "progression"])
    hub.dispatch(await amessage_for(community.pk, 2))  # held: jobs event 1 has not arrived

    await database_sync_to_async(remove_membership)(community=community, user=member)
    hub.dispatch({"type": "access.changed", "group": grant.access_group})
    await until(lambda: stream.transport.controls("stream.revoked"), what="stream.revoked")
    hub.dispatch(await amessage_for(community.pk, 3))
    await stream.wait_for_events(3)
    await settle()

    topics = [body["topic"] for kind, body in stream.transport.writes if kind == "event"]
    assert topics == ["progression"]


async def test_shutdown_flushes_queued_events_then_ends_with_stream_shutdown(
    hub, open_stream, community, fanout_recorder
):
    stream = await open_stream(community, {"progression"})
    await apublish_many(community, ["progression"] * 3)
    await blocked_on_first_write(hub, community, stream)
    for event_id in (2, 3):
        hub.dispatch(await amessage_for(community.pk, event_id))

    hub.shutdown()
    stream.transport.gate.set()

    assert await stream.result() == "shutdown"
    assert stream.event_ids == [1, 2, 3]
    kind, last = stream.transport.writes[-1]
    assert (kind, last["type"]) == ("control", "stream.shutdown")


async def test_idle_stream_sends_keepalives(open_stream, community):
    stream = await open_stream(community, {"progression"}, keepalive=0.05)

    await until(lambda: sum(k == "keepalive" for k, _ in stream.transport.writes) >= 2)

    assert stream.event_ids == []


async def test_stream_leaves_the_hub_when_it_ends(hub, open_stream, community):
    stream = await open_stream(community, {"progression", "events"})
    assert stream.connection in hub.listeners

    stream.connection.on_shutdown()
    await stream.result()

    assert stream.connection not in hub.listeners
    assert all(stream.connection not in members for members in hub.groups.values())


def scope_with(authorization: str | None = None) -> dict:
    """The bits of an ASGI scope grant_stream reads: headers and the client address."""
    headers = [(b"authorization", authorization.encode())] if authorization else []
    return {"headers": headers, "client": ("127.0.0.1", 40000)}
