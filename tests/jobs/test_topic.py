"""The `jobs` topic: created, progressed (coalesced per job, a few per second at most),
succeeded | failed | cancelled (always delivered, each its own event), published in the
writer's transaction; readable by members, moderators and read tokens only, over SSE and
WebSocket, whatever the community's visibility."""

from __future__ import annotations

import json

import pytest
from django.db import transaction

from jobs.services import progress, request_cancel
from realtime.models import OutboxEvent

pytestmark = pytest.mark.django_db


def types(events) -> list[str]:
    return [t for t, _ in events]


def test_a_run_announces_creation_progress_and_success(
    community, start_job, run_job_now, job_events, settings
):
    settings.JOBS_PROGRESS_EVENT_INTERVAL_MS = 0
    job = start_job(community, params={"units": 3})
    run_job_now(job)

    events = job_events(community)
    assert types(events)[0] == "jobs.job.created"
    assert types(events)[-1] == "jobs.job.succeeded"
    assert set(types(events)[1:-1]) == {"jobs.job.progressed"}
    assert all(data["id"] == str(job.pk) for _, data in events)
    versions = [data["version"] for _, data in events]
    assert versions == sorted(versions)
    percents = [data["percent"] for _, data in events]
    assert percents == sorted(percents) and percents[-1] == 100.0


def test_progress_events_are_coalesced_per_job_but_stage_changes_always_leave(
    community, start_job, claimed, job_events, settings
):
    settings.JOBS_PROGRESS_EVENT_INTERVAL_MS = 60_000
    job = start_job(community, params={"units": 100})
    run = claimed(job)
    progress.begin_stage(run, "counting", 100)
    published = [progress.advance(run, "counting", n) for n in range(1, 101)]
    progress.begin_stage(run, "summing", 1)

    assert published.count(True) == 0  # the stage change just published: none due yet
    stages = [d["stage"] for t, d in job_events(community) if t == "jobs.job.progressed"]
    assert stages == ["warming", "counting", "summing"]  # claim, then each stage change


def test_progress_events_leave_at_most_once_per_interval(
    community, start_job, claimed, settings, monkeypatch
):
    from datetime import timedelta

    from django.utils import timezone

    settings.JOBS_PROGRESS_EVENT_INTERVAL_MS = 200
    clock = [timezone.now()]
    monkeypatch.setattr("jobs.services.progress.timezone.now", lambda: clock[0])
    job = start_job(community, params={"units": 50})
    run = claimed(job)
    progress.begin_stage(run, "counting", 50)

    published = []
    for n in range(1, 51):
        clock[0] += timedelta(milliseconds=50)  # 20 updates per second
        published.append(progress.advance(run, "counting", n))

    assert published.count(True) == 50 * 50 // 200  # one every 4th update: 5 per second
    assert published[3] and not any(published[:3])


def test_progress_events_carry_a_per_job_coalesce_key_and_terminal_events_none(
    community, start_job, run_job_now
):
    job = start_job(community, params={"units": 2})
    run_job_now(job)

    keys = dict(
        OutboxEvent.objects.filter(community=community, topic="jobs").values_list(
            "type", "coalesce_key"
        )
    )
    assert keys["jobs.job.progressed"] == f"job:{job.pk}"
    assert keys["jobs.job.created"] == "" and keys["jobs.job.succeeded"] == ""


def test_the_heartbeat_lets_out_a_progress_event_that_coalescing_held_back(
    community, start_job, claimed, job_events, settings
):
    settings.JOBS_PROGRESS_EVENT_INTERVAL_MS = 0
    job = start_job(community, params={"units": 10})
    run = claimed(job)
    progress.begin_stage(run, "counting", 10)
    settings.JOBS_PROGRESS_EVENT_INTERVAL_MS = 60_000
    progress.advance(run, "counting", 4)  # held back
    assert job_events(community)[-1][1]["current"] == 0

    settings.JOBS_PROGRESS_EVENT_INTERVAL_MS = 0
    progress.beat(run)

    assert job_events(community)[-1][1]["current"] == 4


def test_failure_and_cancel_each_leave_their_own_event(
    community, start_job, run_job_now, job_events
):
    failing = start_job(community, params={"units": 3, "fail_at": 2})
    run_job_now(failing)
    cancelled = start_job(community)
    request_cancel(cancelled)

    last = {data["id"]: (kind, data) for kind, data in job_events(community)}
    assert last[str(failing.pk)][0] == "jobs.job.failed"
    assert last[str(failing.pk)][1]["error"]["stage"] == "counting"
    assert last[str(cancelled.pk)][0] == "jobs.job.cancelled"
    assert last[str(cancelled.pk)][1]["status"] == "cancelled"


def test_a_rolled_back_write_publishes_nothing(community, start_job, claimed, job_events):
    job = start_job(community, params={"units": 5})
    run = claimed(job)
    before = len(job_events(community))

    with pytest.raises(RuntimeError), transaction.atomic():
        progress.begin_stage(run, "counting", 5)
        raise RuntimeError("the stage's own write failed")

    assert len(job_events(community)) == before
    job.refresh_from_db()
    assert job.stage == "warming"


# --- who may listen: SSE and WebSocket ------------------------------------------------------

WS_CLOSE = {401: 4401, 403: 4403, 404: 4404}


@pytest.fixture(params=["public", "private"])
def place(request, db):
    from tests.factories import CommunityFactory

    return CommunityFactory(visibility=request.param)


async def _setup(place, who):
    from channels.db import database_sync_to_async

    from jobs.services import create_job
    from tests.jobs.actors import credentials
    from tests.realtime.asgi_client import session_cookie

    def prepare():
        user, token = credentials(place, who)
        create_job(place, "selftest", {})
        headers = {}
        if user is not None:
            headers["Cookie"] = session_cookie(user)
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return headers

    return await database_sync_to_async(prepare)()


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("hub", "enqueued")
@pytest.mark.parametrize(
    "who",
    [
        "anonymous",
        "member",
        "moderator",
        "outsider",
        "token_read",
        "token_admin",
        "token_ingest",
        "other_token",
    ],
)
async def test_the_jobs_topic_over_sse_is_for_members_and_read_tokens_only(place, who):
    from tests.jobs.actors import READ
    from tests.realtime.asgi_client import get_stream

    headers = await _setup(place, who)
    expected = READ[place.visibility][who]

    response = await get_stream(place.slug, {"topics": "jobs", "last_event_id": "0"}, headers)
    if expected == 200:
        try:
            await response.wait_for_ids(1)
        finally:
            await response.disconnect()
        created = [f for f in response.frames() if f.get("event") == "jobs.job.created"]
        assert response.status == 200 and len(created) == 1
        assert json.loads(created[0]["data"])["data"]["status"] == "queued"
    else:
        await response.finish()
        assert response.status == expected, response.text
        assert "jobs.job" not in response.text


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("hub", "enqueued")
@pytest.mark.parametrize(
    "who",
    [
        "anonymous",
        "member",
        "moderator",
        "outsider",
        "token_read",
        "token_admin",
        "token_ingest",
        "other_token",
    ],
)
async def test_the_jobs_topic_over_websocket_is_for_members_and_read_tokens_only(place, who):
    from config.asgi import application
    from tests.jobs.actors import READ
    from tests.realtime.test_consumers import Communicator

    headers = await _setup(place, who)
    expected = READ[place.visibility][who]
    raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    ws = Communicator(application, f"/ws/communities/{place.slug}/", raw)
    connected, _ = await ws.connect()
    assert connected
    try:
        await ws.send_json_to({"action": "subscribe", "topics": ["jobs"], "last_event_id": 0})
        first = await ws.receive_output(timeout=3)
        second = await ws.receive_output(timeout=3)
    finally:
        await ws.disconnect()

    if expected == 200:
        assert json.loads(first["text"])["type"] == "stream.ready"
        envelope = json.loads(second["text"])
        assert envelope["type"] == "jobs.job.created" and envelope["topic"] == "jobs"
    else:
        assert json.loads(first["text"])["type"] == "error"
        assert second["type"] == "websocket.close" and second["code"] == WS_CLOSE[expected]
