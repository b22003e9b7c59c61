"""The hot path of jobs, in both modes (SQLite and PostgreSQL): a count inside the coalescing
interval, made as its own transaction the way a runner makes it, is one statement on the job
row, takes no stream lock, writes no event and still reaches the cache; a count whose event is
due locks the stream before the job row; both keep every rule of the advance service.

These tests commit for real (`transaction=True`): inside a test's wrapping transaction the
advance service takes the conservative path (the stream lock first), so the hot path is only
reachable here and in the concurrency and end-to-end suites."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from jobs.errors import ProgressRefused, Refusal
from jobs.events import job_payload
from jobs.kinds import JobCancelled
from jobs.models import Job
from jobs.progress_cache import progress_cache
from jobs.services import progress, request_cancel
from realtime.models import OutboxEvent

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("enqueued")]


@pytest.fixture
def counting(community, start_job, claimed, settings):
    """A claimed job in its `counting` stage of 10 units, its last event just left."""
    settings.JOBS_PROGRESS_EVENT_INTERVAL_MS = 60_000
    job = start_job(community, params={"units": 10})
    run = claimed(job)
    progress.begin_stage(run, "counting", 10)
    return job, run


def statements(captured: CaptureQueriesContext) -> list[str]:
    return [query["sql"] for query in captured.captured_queries]


def outbox_size() -> int:
    return OutboxEvent.objects.count()


def test_a_count_inside_the_interval_is_one_statement_without_the_stream_lock(counting):
    job, run = counting
    events_before = outbox_size()

    with CaptureQueriesContext(connection) as captured:
        published = progress.advance(run, "counting", 4, "four")

    sql = statements(captured)
    assert published is False
    assert len(sql) == 1 and sql[0].lstrip().startswith("UPDATE") and "jobs_job" in sql[0]
    assert "realtime_stream" not in sql[0]
    assert outbox_size() == events_before
    job.refresh_from_db()
    assert (job.current, job.message) == (4, "four")
    assert progress_cache.load(str(job.pk)) == job_payload(Job.objects.get(pk=job.pk))


def test_a_due_count_locks_the_stream_before_the_job_row_and_publishes(counting, settings):
    job, run = counting
    settings.JOBS_PROGRESS_EVENT_INTERVAL_MS = 0

    with CaptureQueriesContext(connection) as captured:
        published = progress.advance(run, "counting", 5)

    # The stage's begin told this process when the last event left, so the count knows its
    # event is due and makes no quiet attempt: the transaction that publishes reads the stream
    # row (locked, on PostgreSQL) before it writes the job row.
    sql = [s.lstrip() for s in statements(captured)]
    job_writes = [i for i, s in enumerate(sql) if s.startswith('UPDATE "jobs_job"')]
    stream = next(i for i, s in enumerate(sql) if "realtime_stream" in s)
    assert len(job_writes) == 1
    job_row = job_writes[0]
    assert published is True and stream < job_row
    event = OutboxEvent.objects.filter(topic="jobs").latest("event_id")
    job.refresh_from_db()
    assert event.type == "jobs.job.progressed"
    assert event.data == job_payload(job) and event.data["current"] == 5


def test_a_count_that_knows_its_event_is_due_skips_the_quiet_attempt(counting, settings):
    job, run = counting
    settings.JOBS_PROGRESS_EVENT_INTERVAL_MS = 0
    progress.advance(run, "counting", 5)  # its row says when its event left: now it knows

    with CaptureQueriesContext(connection) as captured:
        published = progress.advance(run, "counting", 6)

    job_writes = [s for s in statements(captured) if s.lstrip().startswith('UPDATE "jobs_job"')]
    assert published is True and len(job_writes) == 1  # the publishing count alone
    assert OutboxEvent.objects.filter(topic="jobs").latest("event_id").data["current"] == 6


def test_a_count_whose_hint_is_stale_publishes_nothing_early(counting):
    job, run = counting  # its stage began just now: that event left within the interval
    # This process believes the last event left an hour ago (another writer let one out since).
    progress._last_event_at[str(job.pk)] = timezone.now() - timedelta(hours=1)
    events_before = outbox_size()

    published = progress.advance(run, "counting", 6)

    assert published is False and outbox_size() == events_before  # the row's rule decided
    job.refresh_from_db()
    assert job.current == 6 and job.published_version < job.version


@pytest.mark.parametrize(
    ("stage", "current", "reason"),
    [
        ("counting", 11, Refusal.OUT_OF_RANGE),
        ("summing", 1, Refusal.STAGE_NOT_CURRENT),
        ("warming", 1, Refusal.STAGE_BACKWARDS),
        ("counting", -1, Refusal.OUT_OF_RANGE),
    ],
)
def test_a_count_on_the_hot_path_keeps_every_rule(counting, stage, current, reason):
    job, run = counting
    progress.advance(run, "counting", 6)
    before = Job.objects.values_list("version", "current").get(pk=job.pk)

    with pytest.raises(ProgressRefused) as refused:
        progress.advance(run, stage, current)

    assert refused.value.reason == reason
    assert Job.objects.values_list("version", "current").get(pk=job.pk) == before


def test_a_count_never_goes_backwards_on_the_hot_path(counting):
    job, run = counting
    progress.advance(run, "counting", 7)

    with pytest.raises(ProgressRefused) as refused:
        progress.advance(run, "counting", 3)

    assert refused.value.reason == Refusal.CURRENT_BACKWARDS
    job.refresh_from_db()
    assert job.current == 7


def test_a_count_after_a_cancel_request_stops_the_run(counting):
    job, run = counting
    request_cancel(job)

    with pytest.raises(JobCancelled):
        progress.advance(run, "counting", 2)

    job.refresh_from_db()
    assert job.current == 0


def test_the_cached_state_of_a_quiet_count_names_the_community_and_decodes_the_row(
    counting, community
):
    job, run = counting
    progress.advance(run, "counting", 3)

    cached = progress_cache.load(str(job.pk))

    assert cached is not None
    assert cached["community"] == community.slug and cached["params"]["units"] == 10
    assert cached["finished_stages"] == [] and cached["current"] == 3
