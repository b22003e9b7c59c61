"""StreamConnection: every event on the client's topics once, in id order, from its last id on."""

from __future__ import annotations

import pytest

from tests.realtime.helpers import (
    RecordingTransport,
    amessage_for,
    apublish,
    apublish_many,
    settle,
)

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]
MIXED = ["progression", "jobs", "events", "progression", "admin", "events"]  # ids 1..6


async def test_resume_replays_events_after_the_last_id_on_its_topics_in_order_then_live(
    open_stream, community
):
    await apublish_many(community, MIXED)

    stream = await open_stream(community, {"progression", "events"}, resume_from=2)
    assert stream.event_ids == [3, 4, 6]

    await apublish(community, "events")  # 7
    await apublish(community, "jobs")  # 8: not this stream's topic
    await apublish(community, "progression")  # 9
    await stream.wait_for_events(9)
    await settle()
    assert stream.event_ids == [3, 4, 6, 7, 9]


async def test_stream_without_last_id_starts_at_the_head_and_sends_only_new_events(
    open_stream, community
):
    await apublish_many(community, ["progression", "progression"])

    stream = await open_stream(community, {"progression"})
    await apublish(community, "progression")
    await stream.wait_for_events(3)
    await settle()

    assert stream.event_ids == [3]


async def test_events_published_during_the_replay_arrive_once_with_no_gap(
    hub, open_stream, community
):
    await apublish_many(community, ["progression"] * 5)
    transport = RecordingTransport()

    async def publish_while_replaying(first_page):
        await apublish(community, "progression")  # 6, live while the replay runs
        await apublish(community, "events")  # 7, another topic of this stream
        hub.dispatch(await amessage_for(community.pk, 4))  # a late fan-out of a replayed id

    transport.before_events = publish_while_replaying
    stream = await open_stream(
        community, {"progression", "events"}, resume_from=0, transport=transport, replay_page=2
    )
    await stream.wait_for_events(7)
    await settle()

    assert stream.event_ids == [1, 2, 3, 4, 5, 6, 7]


async def test_live_events_arriving_out_of_order_are_written_in_id_order(
    hub, open_stream, community, fanout_recorder
):
    await apublish(community, "progression")
    stream = await open_stream(community, {"progression"}, gap_grace=30.0)
    await apublish_many(community, ["progression", "progression"])  # 2, 3

    hub.dispatch(await amessage_for(community.pk, 3))
    await settle(0.1)
    assert stream.event_ids == []  # 3 waits for 2: a client must never see 3 then 2
    hub.dispatch(await amessage_for(community.pk, 2))
    await stream.wait_for_events(2, 3)

    assert stream.event_ids == [2, 3]


async def test_missing_live_event_is_filled_from_the_outbox_after_the_grace(
    hub, open_stream, community, fanout_recorder
):
    stream = await open_stream(community, {"progression"}, gap_grace=0.5)
    await apublish_many(community, ["progression", "progression"])  # 1 is never fanned out

    hub.dispatch(await amessage_for(community.pk, 2))
    await settle(0.1)
    assert stream.event_ids == []
    await stream.wait_for_events(1, 2, timeout=3)

    assert stream.event_ids == [1, 2]


async def test_duplicate_live_message_is_written_once(hub, open_stream, community, fanout_recorder):
    stream = await open_stream(community, {"progression"}, gap_grace=30.0)
    await apublish(community, "progression")
    message = await amessage_for(community.pk, 1)

    hub.dispatch(message)
    hub.dispatch(dict(message))
    await stream.wait_for_events(1)
    hub.dispatch(dict(message))
    await settle()

    assert stream.event_ids == [1]


async def test_events_on_other_topics_never_hold_a_stream_back(
    hub, open_stream, community, fanout_recorder
):
    stream = await open_stream(community, {"progression"}, gap_grace=30.0)
    await apublish_many(community, ["jobs", "admin", "progression"])  # 1, 2 never arrive

    hub.dispatch(await amessage_for(community.pk, 3))
    await stream.wait_for_events(3, timeout=1)

    assert stream.event_ids == [3]


async def test_backlog_arriving_during_a_long_replay_is_reread_from_the_outbox_not_held(
    hub, open_stream, community, fanout_recorder
):
    await apublish_many(community, ["progression"] * 3)
    transport = RecordingTransport()
    peak: list[int] = []

    async def flood_while_replaying(first_page):
        await apublish_many(community, ["progression"] * 10)  # 4..13
        for event_id in range(4, 14):
            hub.dispatch(await amessage_for(community.pk, event_id))
            peak.append(len(stream.connection.pending))

    transport.before_events = flood_while_replaying
    stream = await open_stream(
        community,
        {"progression"},
        resume_from=0,
        transport=transport,
        queue_size=4,
        wait_live=False,
    )

    await stream.wait_for_events(13)
    await settle()
    assert stream.event_ids == list(range(1, 14))
    assert max(peak) <= 4
    assert transport.controls() == []


async def test_live_events_reach_every_stream_of_the_process_in_the_same_order(
    open_stream, community
):
    first = await open_stream(community, {"progression", "events"}, resume_from=0)
    second = await open_stream(community, {"progression", "events"}, resume_from=0)

    for topic in ["progression", "events"] * 5:
        await apublish(community, topic)
    await first.wait_for_events(10)
    await second.wait_for_events(10)

    assert first.event_ids == second.event_ids == list(range(1, 11))
