"""The embedded task runner: in-process, never on the caller's thread, after commit only."""

from __future__ import annotations

import threading

import pytest
from django.conf import settings
from django.db import transaction

from config.celery import app as celery_app

pytestmark = pytest.mark.skipif(
    not settings.TASKS_IN_PROCESS, reason="only the embedded default runs tasks in-process"
)

WAIT = 5.0
_release = threading.Event()
_finished: dict[str, threading.Event] = {}
_runs: dict[str, dict] = {}


@celery_app.task
def wait_for_release(key: str) -> None:
    """Blocks until the test releases it, then records what it saw."""
    released = _release.wait(WAIT)
    _runs[key] = {"thread": threading.get_ident(), "released_before_run_ended": released}
    _finished[key].set()


@celery_app.task
def record_run(key: str) -> None:
    _runs[key] = {"thread": threading.get_ident()}
    _finished[key].set()


@pytest.fixture(autouse=True)
def _fresh_state():
    _release.clear()
    _runs.clear()
    _finished.clear()
    yield
    _release.set()  # never leave a worker thread blocked


def _expect(key: str) -> threading.Event:
    _finished[key] = threading.Event()
    return _finished[key]


def test_delay_returns_before_the_task_runs_and_the_task_runs_on_another_thread():
    finished = _expect("slow")

    wait_for_release.delay("slow")

    assert not finished.is_set(), "the caller waited for the task"
    _release.set()
    assert finished.wait(WAIT), "the task never ran"
    assert _runs["slow"]["released_before_run_ended"] is True
    assert _runs["slow"]["thread"] != threading.get_ident()


@pytest.mark.django_db(transaction=True)
def test_delay_on_commit_in_a_rolled_back_atomic_block_never_runs_the_task():
    rolled_back = _expect("rolled-back")
    sentinel = _expect("sentinel")

    with pytest.raises(RuntimeError), transaction.atomic():
        record_run.delay_on_commit("rolled-back")
        raise RuntimeError("abort the transaction")
    record_run.delay("sentinel")

    assert sentinel.wait(WAIT), "the in-process runner is not running tasks at all"
    assert not rolled_back.wait(0.3)
    assert "rolled-back" not in _runs


@pytest.mark.django_db(transaction=True)
def test_delay_on_commit_runs_the_task_once_the_atomic_block_commits():
    committed = _expect("committed")

    with transaction.atomic():
        record_run.delay_on_commit("committed")
        assert not committed.wait(0.3), "the task ran before the commit"

    assert committed.wait(WAIT)
    assert _runs["committed"]["thread"] != threading.get_ident()
