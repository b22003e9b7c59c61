"""The Celery edge of the engine: the unlock task really retries when the database blips."""

from __future__ import annotations

import pytest
from django.db import InterfaceError, OperationalError

from progression import tasks
from progression.services import unlocks


@pytest.fixture
def flaky_unlock(monkeypatch):
    """unlock_target fails with the given errors, one per call, then unlocks."""
    calls: list[int] = []

    def install(*errors: BaseException) -> list[int]:
        pending = list(errors)

        def unlock_target(progress_id: int) -> bool:
            calls.append(progress_id)
            if pending:
                raise pending.pop(0)
            return True

        monkeypatch.setattr(unlocks, "unlock_target", unlock_target)
        return calls

    return install


def test_unlock_task_retries_after_transient_database_errors_then_succeeds(flaky_unlock):
    calls = flaky_unlock(OperationalError("server closed the connection"), InterfaceError("gone"))

    result = tasks.unlock_target_task.apply(args=(7,))

    assert result.successful(), result.traceback
    assert result.get() is True
    assert calls == [7, 7, 7]


def test_unlock_task_gives_up_after_its_retries(flaky_unlock):
    limit = tasks.unlock_target_task.max_retries
    calls = flaky_unlock(*[OperationalError("down")] * (limit + 5))

    result = tasks.unlock_target_task.apply(args=(7,))

    assert result.failed()
    assert isinstance(result.result, OperationalError)
    assert len(calls) == limit + 1


def test_unlock_task_does_not_retry_a_bug(flaky_unlock):
    calls = flaky_unlock(ValueError("a bug, not an outage"))

    result = tasks.unlock_target_task.apply(args=(7,))

    assert result.failed()
    assert calls == [7]
