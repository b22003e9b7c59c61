"""Reads of a job's progress are fast and never go back in time: the latest state is cached
(Redis in real mode, local memory embedded) with the database as the truth and fallback, and
every process answers the same."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from django.conf import settings

from jobs.events import job_payload
from jobs.progress_cache import ProgressCache, progress_cache
from jobs.selectors import job_state
from jobs.services import progress

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]


def versioned(job_id: str, version: int) -> dict:
    return {"id": job_id, "community": "c", "version": version, "current": version}


def test_an_older_state_never_replaces_a_newer_one():
    progress_cache.store(versioned("j1", 5))
    assert progress_cache.store(versioned("j1", 4)) is False
    assert progress_cache.store(versioned("j1", 5)) is False
    assert progress_cache.load("j1")["version"] == 5
    assert progress_cache.store(versioned("j1", 6)) is True
    assert progress_cache.load("j1")["version"] == 6


def test_after_commit_a_read_answers_from_the_cache_without_the_database(
    community, start_job, claimed, django_capture_on_commit_callbacks, django_assert_num_queries
):
    job = start_job(community, params={"units": 10})
    run = claimed(job)
    with django_capture_on_commit_callbacks(execute=True):
        progress.begin_stage(run, "counting", 10)
        progress.advance(run, "counting", 7)

    with django_assert_num_queries(0):
        state = job_state(community, str(job.pk))

    assert (state["stage"], state["current"], state["total"]) == ("counting", 7, 10)
    assert state["percent"] == 66.0


def test_a_cache_miss_reads_the_row_and_caches_it(community, start_job, django_assert_num_queries):
    job = start_job(community)
    progress_cache.forget(str(job.pk))

    with django_assert_num_queries(1):
        assert job_state(community, str(job.pk))["status"] == "queued"
    with django_assert_num_queries(0):
        assert job_state(community, str(job.pk))["status"] == "queued"


def test_a_cached_job_of_another_community_is_not_answered(community, start_job):
    from tests.factories import CommunityFactory

    job = start_job(CommunityFactory())
    progress_cache.store(job_payload(job))

    from jobs.errors import JobNotFound

    with pytest.raises(JobNotFound):
        job_state(community, str(job.pk))


def test_commit_callbacks_arriving_out_of_order_leave_the_newest(
    community, start_job, claimed, django_capture_on_commit_callbacks
):
    job = start_job(community, params={"units": 10})
    run = claimed(job)
    with django_capture_on_commit_callbacks() as callbacks:
        progress.begin_stage(run, "counting", 10)
        progress.advance(run, "counting", 3)
        progress.advance(run, "counting", 4)
    for callback in reversed(callbacks):  # the newest lands first, the older ones after
        callback()

    assert progress_cache.load(str(job.pk))["current"] == 4


def test_an_unreachable_cache_falls_back_to_the_database(community, start_job, monkeypatch, caplog):
    import redis

    broken = ProgressCache(client=redis.Redis(port=1, socket_connect_timeout=0.2))
    monkeypatch.setattr("jobs.selectors.progress_cache", broken)
    job = start_job(community)

    assert job_state(community, str(job.pk))["status"] == "queued"
    assert "cache read failed" in caplog.text


# --- real mode: Redis shared by every process -----------------------------------------------


@pytest.fixture
def two_clients():
    import redis

    first = redis.Redis.from_url(settings.REDIS_URL)
    second = redis.Redis.from_url(settings.REDIS_URL)
    yield ProgressCache(client=first), ProgressCache(client=second)
    first.close()
    second.close()


@pytest.mark.real_services
def test_two_clients_racing_leave_the_newest_version_and_read_the_same(two_clients):
    a, b = two_clients
    versions = list(range(1, 301))
    random.Random(7).shuffle(versions)
    halves = (versions[::2], versions[1::2])

    def write(cache: ProgressCache, mine: list[int]) -> None:
        for version in mine:
            cache.store(versioned("race", version))

    threads = [
        threading.Thread(target=write, args=pair) for pair in zip((a, b), halves, strict=False)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert a.load("race")["version"] == b.load("race")["version"] == 300


@pytest.mark.real_services
def test_another_process_reads_the_same_state(community, start_job):
    job = start_job(community)
    payload = job_payload(job)
    progress_cache.store({**payload, "version": payload["version"] + 10, "message": "from here"})
    program = (
        "import json, django; django.setup()\n"
        "from jobs.progress_cache import progress_cache\n"
        f"print(json.dumps(progress_cache.load({str(job.pk)!r})))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env.update(DJANGO_SETTINGS_MODULE="config.settings", DEBUG="1")
    done = subprocess.run(
        [sys.executable, "-c", program],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["message"] == "from here" and seen["version"] == payload["version"] + 10
