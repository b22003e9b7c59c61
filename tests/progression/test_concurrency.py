"""Concurrency proofs on PostgreSQL and Redis, with real concurrent clients (issue 4, point 16).

Two ways in for each claim: threads in this process calling the services (each thread its own
database connection from the pool), and the real stack, a uvicorn server and a Celery worker
on the test database, driven by concurrent HTTP requests.

- 200 concurrent clients push a target over its threshold: one unlock, every point accounted
  for, the rollover right, even with 20 more threads calling the unlock at the same time.
- 50 concurrent copies of one message id: credited once.
- 20 concurrent votes by one viewer: one vote, 19 conflicts.

Two more pin races found while writing these (held side by side with hooks, so they are
deterministic): two batches that cross the threshold together, and an unlock meeting a
moderator's close of the vote.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from django.conf import settings
from django.db import connection, transaction

from communities.errors import Conflict
from progression import events, tasks_on_commit
from progression.integrity import check_integrity
from progression.models import (
    Contribution,
    Node,
    ProgressionSettings,
    Unlock,
    UnlockProgress,
    Viewer,
    Vote,
    VoteOption,
    VoteSession,
)
from progression.services import engagement, unlocks, voting
from progression.services.engagement import record_engagement
from progression.services.reconcile import crossed_progress_ids
from progression.services.state import active_state, season_total
from progression.services.unlocks import unlock_target
from progression.services.voting import cast_vote
from realtime.models import OutboxEvent
from tests.e2e.processes import Launcher, Process, database_url_for, server_env
from tests.e2e.worker_helpers import READY_MARKER, WORKER_START_TIMEOUT, wait_until
from tests.factories import CommunityFactory, issue_token
from tests.progression.concurrency_helpers import (
    as_events,
    assert_rollover,
    books,
    build_chain,
    build_open_vote,
    client_events,
    run_concurrently,
)

CLIENTS = 200
PER_CLIENT = 3  # three chat messages per client, one point each: 600 points in all
COST = 400  # crossed about two thirds of the way: the rest arrives during and after the unlock
NEXT_COST = 1_000_000
ROLLOVER_CAP = 25
HAMMERS = 20
COPIES = 50
VOTERS = 20


# --- The real stack on the test database ---------------------------------------------------


@pytest.fixture(scope="module")
def stack_env(django_db_setup: None) -> dict[str, str]:
    name = settings.DATABASES["default"]["NAME"]
    return server_env(database_url_for(settings.DATABASE_URL, name), settings.REDIS_URL)


@pytest.fixture
def stack(stack_env: dict[str, str], tmp_path: Path) -> Iterator[Launcher]:
    """Processes for one test, stopped (by pid) when it ends."""
    launcher = Launcher(stack_env, tmp_path)
    yield launcher
    launcher.stop_all()


def web_and_worker(stack: Launcher) -> tuple[Process, Process]:
    """A uvicorn server and the Procfile's Celery worker, started side by side. The worker is
    ready before any request: it declares the queue the web process publishes to."""
    worker = stack.script(
        "celery", "-A", "config", "worker", "--loglevel=INFO", "--concurrency=2", "--without-mingle"
    )
    web = stack.server("uvicorn")
    worker.wait_for_log(READY_MARKER, timeout=WORKER_START_TIMEOUT)
    return web, worker


async def _post_all(
    url: str, token: str, bodies: list[dict], *, extra: list | None = None
) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=len(bodies), max_keepalive_connections=len(bodies))
    async with httpx.AsyncClient(limits=limits, timeout=60.0, trust_env=False) as http:
        headers = {"Authorization": f"Bearer {token}"}
        posts = [http.post(url, json=body, headers=headers) for body in bodies]
        return list(await asyncio.gather(*posts, *(extra or [])))[: len(bodies)]


def post_concurrently(url: str, token: str, bodies: list[dict], **kw) -> list[httpx.Response]:  # noqa: ANN003
    return asyncio.run(_post_all(url, token, bodies, **kw))


def _unlock_task_lines(worker: Process) -> list[str]:
    return [
        line
        for line in worker.log().splitlines()
        if "progression.tasks.unlock_target_task[" in line and "succeeded in" in line
    ]


# --- 1. 200 concurrent clients over the threshold ---------------------------------------


@pytest.mark.real_services
@pytest.mark.django_db(transaction=True)
def test_200_concurrent_clients_cross_the_threshold_once_with_20_threads_forcing_the_unlock(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    community = CommunityFactory()
    chain = build_chain(community, first_cost=COST, next_cost=NEXT_COST, rollover_cap=ROLLOVER_CAP)
    progress_id = chain.progress.pk
    answers: list[tuple[str, bool]] = []  # every unlock_target call's answer, from any thread

    def unlock_in_this_thread(due_id: int) -> None:
        """The unlock task, eager: run by the committing client thread itself."""
        transaction.on_commit(lambda: answers.append(("client", unlock_target(due_id))))

    monkeypatch.setattr(tasks_on_commit, "unlock_due", unlock_in_this_thread)
    lock = threading.Lock()
    finished = [0]
    clients_done = threading.Event()

    def client(i: int):  # noqa: ANN202
        try:
            return record_engagement(community, as_events(client_events("load", i, PER_CLIENT)))
        finally:
            with lock:
                finished[0] += 1
                if finished[0] == CLIENTS:
                    clients_done.set()

    def hammer() -> int:
        calls = 0
        while True:
            last = clients_done.is_set()
            answers.append(("hammer", unlock_target(progress_id)))
            connection.close()  # back to the pool: the clients need connections too
            calls += 1
            if last:
                return calls
            time.sleep(0.002)

    jobs = [lambda i=i: client(i) for i in range(CLIENTS)] + [hammer] * HAMMERS
    started = time.monotonic()
    ran = run_concurrently(jobs)
    elapsed = time.monotonic() - started
    errors = [r.error for r in ran if r.error is not None]
    assert not errors, f"{len(errors)} threads failed, first: {errors[0]!r}"
    results = [r.value for r in ran[:CLIENTS]]
    hammer_calls = sum(r.value for r in ran[CLIENTS:])
    statuses = Counter(o.status for result in results for o in result.outcomes)
    credited = sum(result.credited for result in results)
    did = [who for who, unlocked in answers if unlocked]
    print(
        f"\n{CLIENTS} clients + {HAMMERS} hammers in {elapsed:.2f}s; unlock_target called "
        f"{len(answers)} times ({hammer_calls} by hammers), unlocked by {did}; {statuses}"
    )

    assert statuses == {"accepted": CLIENTS * PER_CLIENT}
    assert credited == CLIENTS * PER_CLIENT
    assert len(did) == 1, f"unlock_target reported an unlock {len(did)} times"
    unlocks_made = list(Unlock.objects.filter(community=community))
    assert [(u.node_id, u.level, u.progress_id, u.reason) for u in unlocks_made] == [
        (chain.first.pk, 1, progress_id, Unlock.Reason.POINTS)
    ]
    ledger = books(community)
    assert ledger.ledger_points == ledger.shard_points == ledger.viewer_points == credited
    assert ledger.ledger_rows == ledger.shard_events == ledger.viewer_events == credited
    successor = assert_rollover(chain, rollover_cap=ROLLOVER_CAP, credited=credited)
    closed = UnlockProgress.objects.get(pk=progress_id)
    target_set = OutboxEvent.objects.filter(community=community, type=events.TARGET_SET).last()
    assert target_set.data["progress_id"] == successor.pk
    # It starts with the rollover and whatever was credited between the unlock's two readings.
    assert target_set.data["rollover"] == target_set.data["accumulated"] >= closed.rolled_over
    assert target_set.data["auto_selected"] is True
    assert OutboxEvent.objects.filter(community=community, type=events.NODE_UNLOCKED).count() == 1
    assert check_integrity(community) == []


@pytest.mark.real_services
@pytest.mark.django_db(transaction=True)
def test_200_concurrent_http_clients_cross_the_threshold_once_through_the_real_worker(
    stack: Launcher,
) -> None:
    community = CommunityFactory()
    chain = build_chain(community, first_cost=COST, next_cost=NEXT_COST, rollover_cap=ROLLOVER_CAP)
    progress_id = chain.progress.pk
    token = issue_token(community, "ingest").secret
    web, worker = web_and_worker(stack)
    url = f"{web.base_url}/api/communities/{community.slug}/engagement"
    bodies = [{"events": client_events("http", i, PER_CLIENT)} for i in range(CLIENTS)]

    async def extra_triggers() -> None:
        """Ten more unlock tasks for the same progress while the clients ingest: concurrent
        and redelivered triggers, as the worker would see them."""
        from progression.tasks import unlock_target_task

        for _ in range(10):
            await asyncio.to_thread(unlock_target_task.delay, progress_id)
            await asyncio.sleep(0.02)

    started = time.monotonic()
    responses = post_concurrently(url, token, bodies, extra=[extra_triggers()])
    elapsed = time.monotonic() - started
    codes = Counter(r.status_code for r in responses)
    assert codes == {200: CLIENTS}, (
        f"{codes}: {[r.text for r in responses if r.status_code != 200][:3]}"
    )
    answers = [r.json() for r in responses]
    assert all(a["accepted"] == PER_CLIENT for a in answers), answers[:3]
    credited = sum(a["credited_points"] for a in answers)
    assert credited == CLIENTS * PER_CLIENT

    wait_until(
        lambda: Unlock.objects.filter(community=community).exists(),
        30,
        f"the unlock; worker log:\n{worker.log()[-5000:]}",
    )
    # Every unlock task has run: the ten extra ones, and the one the web process enqueued if its
    # last write still saw the full target (an extra trigger may have unlocked it first; then
    # the web sees the next target and rightly enqueues nothing).
    wait_until(lambda: len(_unlock_task_lines(worker)) >= 10, 30, "all unlock tasks to finish")
    time.sleep(1.0)
    lines = _unlock_task_lines(worker)
    print(
        f"\n{CLIENTS} HTTP clients in {elapsed:.2f}s; worker ran {len(lines)} unlock tasks, "
        f"{sum(line.endswith(': True') for line in lines)} of them unlocked"
    )
    assert sum(line.endswith(": True") for line in lines) == 1, lines
    assert "Traceback" not in worker.log(), worker.log()[-5000:]
    assert list(
        Unlock.objects.filter(community=community).values_list("node_id", "level", "progress_id")
    ) == [(chain.first.pk, 1, progress_id)]
    ledger = books(community)
    assert ledger.ledger_points == ledger.shard_points == ledger.viewer_points == credited
    assert_rollover(chain, rollover_cap=ROLLOVER_CAP, credited=credited)
    assert check_integrity(community) == []


# --- 2. 50 concurrent copies of one message ----------------------------------------------


RETRIED = {
    "platform_user_id": "retrier",
    "display_name": "Retrier",
    "metric": "follow",  # 5 points: a double credit could not hide
    "value": 1,
    "message_id": "twitch:msg:42",
}


def assert_credited_once(community) -> None:  # noqa: ANN001
    assert list(
        Contribution.objects.filter(community=community).values_list("message_id", "points")
    ) == [("twitch:msg:42", 5)]
    ledger = books(community)
    assert (ledger.ledger_points, ledger.shard_points, ledger.viewer_points) == (5, 5, 5)
    assert (ledger.ledger_rows, ledger.shard_events, ledger.viewer_events) == (1, 1, 1)
    viewer = Viewer.objects.get(community=community, platform_user_id="retrier")
    assert (viewer.points_total, viewer.events_total) == (5, 1)
    assert check_integrity(community) == []


@pytest.mark.real_services
@pytest.mark.django_db(transaction=True)
def test_50_concurrent_copies_of_one_message_id_are_credited_once() -> None:
    community = CommunityFactory()
    # Limits high enough that every copy reaches the ledger: the proof is about the message id.
    build_chain(community, first_cost=1000, next_cost=10, viewer_rate=1000, viewer_burst=1000)
    ran = run_concurrently([lambda: record_engagement(community, as_events([RETRIED]))] * COPIES)
    errors = [r.error for r in ran if r.error is not None]
    assert not errors, f"{len(errors)} copies failed, first: {errors[0]!r}"
    outcomes = [r.value.outcomes[0] for r in ran]
    statuses = Counter(o.status for o in outcomes)
    assert statuses == {"accepted": 1, "duplicate": COPIES - 1}
    assert [o.points for o in outcomes if o.status == "accepted"] == [5]
    assert {o.reason for o in outcomes if o.status == "duplicate"} == {"message already credited"}
    assert sum(r.value.credited for r in ran) == 5
    assert_credited_once(community)


@pytest.mark.real_services
@pytest.mark.django_db(transaction=True)
def test_50_concurrent_http_copies_of_one_message_id_are_credited_once(stack: Launcher) -> None:
    """With the default per-viewer limit (burst 20) some copies are refused as rate limited
    (429): every copy is accounted for, and the message is credited once."""
    community = CommunityFactory()
    build_chain(community, first_cost=1000, next_cost=10)
    token = issue_token(community, "ingest").secret
    web = stack.server("uvicorn")
    url = f"{web.base_url}/api/communities/{community.slug}/engagement"
    responses = post_concurrently(url, token, [RETRIED] * COPIES)
    outcomes = Counter()
    for response in responses:
        if response.status_code == 429:
            outcomes["rate_limited"] += 1
            continue
        assert response.status_code == 200, response.text
        (result,) = response.json()["results"]
        outcomes[result["status"]] += 1
    print(f"\n{COPIES} HTTP copies: {dict(outcomes)}")
    assert outcomes["accepted"] == 1
    assert outcomes["duplicate"] + outcomes["rate_limited"] == COPIES - 1
    assert set(outcomes) <= {"accepted", "duplicate", "rate_limited"}
    assert_credited_once(community)


# --- 3. 20 concurrent votes by one viewer -----------------------------------------------


def assert_one_vote(community, option_position: int) -> None:  # noqa: ANN001
    session = VoteSession.objects.get(community=community, status=VoteSession.Status.OPEN)
    assert list(Vote.objects.filter(session=session).values_list("voter", flat=True)) == [
        "viewer:fan"
    ]
    counts = dict(VoteOption.objects.filter(session=session).values_list("position", "votes"))
    assert counts[option_position] == 1
    assert sum(counts.values()) == 1
    assert check_integrity(community) == []


@pytest.mark.real_services
@pytest.mark.django_db(transaction=True)
def test_20_concurrent_votes_by_one_viewer_count_once() -> None:
    community = CommunityFactory()
    build_open_vote(community)
    ran = run_concurrently([lambda: cast_vote(community, voter="viewer:fan", option=2)] * VOTERS)
    unexpected = [r.error for r in ran if r.error is not None and not isinstance(r.error, Conflict)]
    assert not unexpected, f"{len(unexpected)} votes failed otherwise, first: {unexpected[0]!r}"
    counted = [r.value for r in ran if r.error is None]
    conflicts = [r.error for r in ran if isinstance(r.error, Conflict)]
    assert len(counted) == 1
    assert counted[0].votes == 1
    assert len(conflicts) == VOTERS - 1
    assert {(c.status, tuple(c.fields["reason"])) for c in conflicts} == {(409, ("already_voted",))}
    assert_one_vote(community, 2)


@pytest.mark.real_services
@pytest.mark.django_db(transaction=True)
def test_20_concurrent_http_votes_by_one_viewer_count_once(stack: Launcher) -> None:
    community = CommunityFactory()
    build_open_vote(community)
    token = issue_token(community, "vote").secret
    web = stack.server("uvicorn")
    url = f"{web.base_url}/api/communities/{community.slug}/votes"
    responses = post_concurrently(url, token, [{"option": 2, "platform_user_id": "fan"}] * VOTERS)
    codes = Counter(r.status_code for r in responses)
    assert codes == {200: 1, 409: VOTERS - 1}, [r.text for r in responses]
    (ok,) = [r.json() for r in responses if r.status_code == 200]
    assert (ok["option"], ok["votes"]) == (2, 1)
    reasons = {
        tuple(r.json()["error"]["fields"]["reason"]) for r in responses if r.status_code == 409
    }
    assert reasons == {("already_voted",)}
    assert_one_vote(community, 2)


# --- Races found while writing the proofs ---------------------------------------------------


@pytest.mark.real_services
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_batches_that_cross_the_threshold_together_enqueue_the_unlock(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two batches that together make the cost, neither alone, on different shards. The
    crossing is checked after each batch commits, against committed totals, so whichever
    commits last sees both and asks for the unlock. Here both are held side by side after
    their commits, at the read, the schedule where each transaction alone saw `cost - 1`."""
    community = CommunityFactory()
    chain = build_chain(community, first_cost=10, next_cost=NEXT_COST)
    asked: list[int] = []
    monkeypatch.setattr(
        tasks_on_commit, "unlock_due", lambda pid: transaction.on_commit(lambda: asked.append(pid))
    )
    record_engagement(community, as_events(client_events("warm", 0, 8)))  # 8 of 10
    assert asked == []

    shards = iter(range(2))
    monkeypatch.setattr(
        engagement, "random", type("R", (), {"randrange": staticmethod(lambda n: next(shards))})
    )
    side_by_side = threading.Barrier(2)
    held: list[int] = []
    # The read of the total waits for the other batch, so both have credited (and committed)
    # their shard before either reads.
    monkeypatch.setattr(
        engagement,
        "active_state_with_total",
        _held(engagement.active_state_with_total, side_by_side, held),
    )
    ran = run_concurrently(
        [
            lambda i=i: record_engagement(community, as_events(client_events("pair", i, 1)))
            for i in range(2)
        ]
    )
    assert [r.error for r in ran] == [None, None]
    assert len(held) == 2, "the hook never ran: update this test"
    assert crossed_progress_ids() == [chain.progress.pk]  # 10 of 10: the target is full
    # Neither saw it full inside its transaction: the first to read after commit drew the line.
    assert UnlockProgress.objects.get(pk=chain.progress.pk).crossed_at_total == 10
    assert asked == [chain.progress.pk] or asked == [chain.progress.pk] * 2, (
        "the target is full but no unlock was asked for: it waits for the next event or the "
        "periodic reconcile"
    )


@pytest.mark.real_services
@pytest.mark.django_db(transaction=True)
def test_an_unlock_racing_a_moderator_closing_the_vote_neither_deadlocks_nor_drops_the_winner(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """unlock_target locks progress -> stream (its publish) -> vote session (choose_target);
    close_vote (and the deadline resolution) locks session -> stream (its publish) -> progress
    (apply_winner). Here the unlock has published and the close has the session: each waits for
    the other. Expected: both finish (the close may find the vote already resolved: 409), one
    unlock, and the vote's winner becomes the next target."""
    community = CommunityFactory()
    ProgressionSettings.objects.create(community=community)
    for i in range(4):
        Node.objects.create(
            community=community, key=f"option_{i}", name=f"Option {i}", cost_override=10
        )
    active_state(community)  # four candidates: a vote on the first target
    voting.close_vote(community)  # first target chosen; a vote on the next one opens
    progress = UnlockProgress.objects.get(community=community, status="active")
    session = VoteSession.objects.get(community=community, status="open")
    cast_vote(community, voter="viewer:fan", option=1)
    favourite = VoteOption.objects.get(session=session, position=1).node_id
    monkeypatch.setattr(tasks_on_commit, "unlock_due", lambda pid: None)
    record_engagement(community, as_events(client_events("fill", 0, 10)))  # the target is full

    published = threading.Event()
    close_waiting = threading.Event()
    real_cycle_completed = unlocks._publish_cycle_completed  # noqa: SLF001

    def cycle_completed_then_hold(c, p):  # noqa: ANN001, ANN202
        real_cycle_completed(c, p)  # the unlock now holds the progress and the stream rows
        published.set()
        close_waiting.wait(timeout=10)

    monkeypatch.setattr(unlocks, "_publish_cycle_completed", cycle_completed_then_hold)

    def close() -> object:
        published.wait(timeout=10)
        return voting.close_vote(community)

    def watch() -> None:
        published.wait(timeout=10)
        try:
            wait_until(_someone_waits_on_a_lock, 3, "the close to wait on a lock")
        except TimeoutError:
            pass
        close_waiting.set()

    ran = run_concurrently([lambda: unlock_target(progress.pk), close, watch])
    unlock_ran, close_ran, _ = ran
    print(f"\nunlock: {unlock_ran}; close: {close_ran}")
    assert unlock_ran.error is None, f"the unlock failed: {unlock_ran.error!r}"
    assert close_ran.error is None or isinstance(close_ran.error, Conflict), (
        f"the moderator's close failed: {close_ran.error!r}"
    )
    assert Unlock.objects.filter(community=community, reason="points").count() == 1
    successor = UnlockProgress.objects.get(community=community, status="active")
    resolved = VoteSession.objects.get(pk=session.pk)
    assert resolved.status == VoteSession.Status.RESOLVED
    assert favourite == resolved.winner.node_id
    assert successor.node_id == favourite, "the vote's winner did not become the next target"
    assert check_integrity(community) == []


def _held(read, barrier: threading.Barrier, held: list):  # noqa: ANN001, ANN202
    def wrapper(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        held.append(1)
        barrier.wait(timeout=10)
        return read(*args, **kwargs)

    return wrapper


def _someone_waits_on_a_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        (waiting,) = cursor.fetchone()
    return waiting > 0


# --- points after the crossing are not overflow (issue 7, A1) ------------------------------


def _raid(community, prefix: str, clients: int, per_client: int, *, hammer: int = 0) -> list:  # noqa: ANN001
    """`clients` concurrent batches of `per_client` one-point messages; `hammer` more threads
    call the unlock of the active progress over and over meanwhile (the worker coming back)."""
    progress_id = active_state(community).progress_id
    done = threading.Event()

    def client(i: int):  # noqa: ANN202
        return record_engagement(community, as_events(client_events(prefix, i, per_client)))

    def hammering() -> list[bool]:
        answers = []
        while not done.is_set():
            answers.append(unlock_target(progress_id))
            connection.close()
            time.sleep(0.002)
        answers.append(unlock_target(progress_id))
        return answers

    def clients_then_stop(i: int):  # noqa: ANN202
        try:
            return client(i)
        finally:
            if i == clients - 1:
                done.set()

    jobs = [lambda i=i: clients_then_stop(i) for i in range(clients)]
    jobs += [hammering] * hammer
    if not hammer:
        done.set()
    ran = run_concurrently(jobs)
    errors = [r.error for r in ran if r.error is not None]
    assert not errors, f"{len(errors)} threads failed, first: {errors[0]!r}"
    return [r.value for r in ran]


def _quick_chain(community, *, cap: int):  # noqa: ANN001, ANN202
    return build_chain(
        community,
        first_cost=1_000,
        next_cost=NEXT_COST,
        rollover_cap=cap,
        viewer_rate=10_000,
        viewer_burst=10_000,
    )


@pytest.mark.real_services
@pytest.mark.django_db(transaction=True)
def test_25_concurrent_writers_filling_a_target_then_25_more_racing_its_unlock_lose_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Cap 0: any point counted as overflow would be discarded. 25 concurrent batches of 40
    make exactly the cost (1,000), so the crossing line is 1,000 whichever of them draws it;
    25 more batches race 10 threads forcing the unlock: all 1,000 go to the next target."""
    community = CommunityFactory()
    chain = _quick_chain(community, cap=0)
    monkeypatch.setattr(tasks_on_commit, "unlock_due", lambda progress_id: None)

    _raid(community, "fill", 25, 40)
    assert UnlockProgress.objects.get(pk=chain.progress.pk).crossed_at_total == 1_000
    _raid(community, "after", 25, 40, hammer=10)
    unlock_target(chain.progress.pk)  # if every hammer ran before the target was full

    closed = UnlockProgress.objects.get(pk=chain.progress.pk)
    assert (closed.spent, closed.discarded) == (1_000, 0)
    successor = assert_rollover(chain, rollover_cap=0, credited=2_000)
    assert season_total(successor.season_id) - successor.offset == 1_000
    assert Unlock.objects.filter(community=community).count() == 1
    assert check_integrity(community) == []


@pytest.mark.real_services
@pytest.mark.django_db(transaction=True)
def test_the_cap_cuts_the_filling_writes_overshoot_and_nothing_of_25_concurrent_writers_after(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    community = CommunityFactory()
    chain = _quick_chain(community, cap=10)
    monkeypatch.setattr(tasks_on_commit, "unlock_due", lambda progress_id: None)

    _raid(community, "fill", 24, 40)  # 960 of 1,000
    record_engagement(  # the filling write: 100 points, 60 over the cost
        community,
        as_events([{"platform_user_id": "whale", "metric": "message", "value": 100}]),
    )
    _raid(community, "after", 25, 40, hammer=10)
    unlock_target(chain.progress.pk)

    closed = UnlockProgress.objects.get(pk=chain.progress.pk)
    assert closed.crossed_at_total == 1_060
    assert (closed.spent, closed.discarded) == (1_000, 50)
    successor = assert_rollover(chain, rollover_cap=10, credited=2_060)
    assert season_total(successor.season_id) - successor.offset == 1_010
    assert check_integrity(community) == []
