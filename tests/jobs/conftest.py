"""Fixtures shared by the jobs suites (the machinery's and the pipelines').

- `moderator`, `member`, `outsider`: users with that role in `community` (none for outsider).
- `start_job(community, kind="selftest", params=None, actor=None)`: creates a job through the
  service (validated, announced, queued); nothing runs until you run it.
- `run_job_now(job)`: runs the job's current attempt through the Celery task, synchronously
  on this thread (`task.apply`, a fresh task id); returns the outcome string of
  `jobs.runner.run_job` ("succeeded", "failed", "cancelled", "dropped", "lost").
- `claimed(job)`: claims the job's current attempt for a test runner and returns the
  `jobs.services.progress.Run` to drive the advance service by hand.
- `enqueued`: stops jobs from being sent to Celery (the embedded default would run them on a
  task thread at commit); the list of (job id, attempt) that would have been sent.
- `hub`: the realtime hub of the test's event loop, for SSE/WebSocket tests (from
  tests/realtime/conftest.py).
- `job_events(community)`: the `jobs` topic's outbox rows of a community, oldest first, as
  (type, data) pairs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from communities.models import Community, Role
from communities.permissions import Actor
from jobs.models import Job
from jobs.services import claim_run, create_job
from jobs.services.progress import Run
from realtime.models import OutboxEvent
from tests.factories import MembershipFactory, UserFactory
from tests.realtime.conftest import _no_signal_handlers, hub  # noqa: F401  (stream tests)


@pytest.fixture
def moderator(community: Community) -> Any:
    return MembershipFactory(community=community, role=Role.MODERATOR).user


@pytest.fixture
def member(community: Community) -> Any:
    return MembershipFactory(community=community, role=Role.MEMBER).user


@pytest.fixture
def outsider(db: None) -> Any:
    return UserFactory()


@pytest.fixture
def start_job() -> Callable[..., Job]:
    def start(
        community: Community,
        kind: str = "selftest",
        params: dict[str, Any] | None = None,
        actor: Actor | None = None,
    ) -> Job:
        return create_job(community, kind, params or {}, actor=actor)

    return start


@pytest.fixture
def run_job_now() -> Callable[[Job], str]:
    def run(job: Job) -> str:
        from jobs.tasks import run_job_task

        job.refresh_from_db()
        outcome = run_job_task.apply(args=(str(job.pk), job.attempt))
        if outcome.failed():
            raise outcome.result
        job.refresh_from_db()
        return str(outcome.result)

    return run


@pytest.fixture
def claimed() -> Callable[..., Run]:
    def claim(job: Job, runner: str = "test-runner") -> Run:
        job.refresh_from_db()
        run = claim_run(str(job.pk), job.attempt, runner)
        assert run is not None, f"job {job.pk} could not be claimed ({job.status})"
        return run

    return claim


@pytest.fixture
def job_events() -> Callable[[Community], list[tuple[str, dict[str, Any]]]]:
    def read(community: Community) -> list[tuple[str, dict[str, Any]]]:
        rows = OutboxEvent.objects.filter(community=community, topic="jobs").order_by("event_id")
        return [(row.type, row.data) for row in rows]

    return read


@pytest.fixture
def probe() -> Any:
    """The `probe` kind's module (tests/jobs/probe_kind.py), registered; its records cleared."""
    from tests.jobs import probe_kind

    probe_kind.EXECUTED.clear()
    probe_kind.TRANSIENT_SEEN.clear()
    probe_kind.HEARTBEATS.clear()
    return probe_kind


@pytest.fixture
def enqueued(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    from jobs.tasks import run_job_task

    messages: list[tuple[str, int]] = []

    def record(job_id: str, attempt: int) -> None:
        messages.append((job_id, attempt))

    monkeypatch.setattr(run_job_task, "delay", record)
    return messages


# --- the proposals board (issue 10) -----------------------------------------------------------

# The board's tests also stream (the realtime suite's hub) and earn points (progression's).
from tests.progression.conftest import _eager_tasks, earn  # noqa: E402, F401


@pytest.fixture
def make_cards() -> Callable[..., list[Any]]:
    """`make_cards(community, "new", 3, "accepted", 2)`: cards appended at the end of each
    column (dense positions), titled "<column> <n>"; returns them in the order made."""

    def make(community: Community, *spec: Any, **fields: Any) -> list[Any]:
        from jobs.suggestions_models import Proposal

        made = []
        pairs = list(zip(spec[::2], spec[1::2], strict=True))
        for column, count in pairs:
            start = Proposal.objects.filter(
                community=community, column=column, position__isnull=False
            ).count()
            for n in range(count):
                made.append(
                    Proposal.objects.create(
                        community=community,
                        column=column,
                        position=start + n,
                        title=f"{column} {start + n}",
                        **fields,
                    )
                )
        return made

    return make


@pytest.fixture
def board_events() -> Callable[[Community], list[tuple[str, dict[str, Any]]]]:
    def read(community: Community) -> list[tuple[str, dict[str, Any]]]:
        rows = OutboxEvent.objects.filter(community=community, topic="board").order_by("event_id")
        return [(row.type, row.data) for row in rows]

    return read


def positions(community: Community) -> dict[str, list[int]]:
    """Card ids by column, in position order, after checking each column is dense from 0."""
    from jobs.suggestions_models import Proposal

    columns: dict[str, list[int]] = {}
    places: dict[str, list[int]] = {}
    for pk, column, position in (
        Proposal.objects.filter(community=community, position__isnull=False)
        .order_by("column", "position")
        .values_list("pk", "column", "position")
    ):
        columns.setdefault(column, []).append(pk)
        places.setdefault(column, []).append(position)
    for column, found in places.items():
        assert found == list(range(len(found))), f"{column} not dense: {found}"
    return columns
