"""One consistent snapshot per read, on PostgreSQL with real threads (each its own connection).

- A writer records runs, each transaction one run on event A and the same on event B (two
  targets each), while readers list the events over and over: in every answer each event's
  overall figures agree with its own per-target rows, and A's yield by its target rows equals
  B's yield by its availability rows (a cross-event invariant between two statements, which
  only a single snapshot guarantees: with the isolation statement removed this test fails
  with about a hundred contradictions).
- The same interleaving held step by step: reads of A then B in separate transactions (the
  seed's way), or in one READ COMMITTED transaction, see a commit land between them and break
  the invariant; inside `read_snapshot` (REPEATABLE READ) they do not.
- A writer's own open transaction sees its own uncommitted runs; others do not until it commits.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection, transaction

from events_app.progress import EventFigures
from events_app.selectors import event_detail, figures_for_events, list_events, read_snapshot
from tests.events_app import builders as b
from tests.factories import CommunityFactory

pytestmark = [pytest.mark.real_services, pytest.mark.django_db(transaction=True)]

WRITES = 120
READERS = 3


@pytest.fixture
def pair():
    """Events A and B with the same two production targets (cookies: 40 batches, bracelets: 40)
    and an untouched event C."""
    assert connection.vendor == "postgresql"
    community = CommunityFactory()
    cookies, bracelets = b.item(community, "cookies"), b.item(community, "bracelets")
    events = [b.event(community, name) for name in ("A", "B", "C")]
    for ev in events:
        b.production_target(ev, cookies, 40)
        b.production_target(ev, bracelets, 40)
    return community, events, (cookies, bracelets)


def _in_thread(call: Callable[[], Any]) -> Any:
    """Runs `call` on another thread (so another connection) and returns its result."""
    out: dict[str, Any] = {}

    def run() -> None:
        try:
            out["value"] = call()
        except BaseException as exc:  # noqa: BLE001 - re-raised on the test's thread
            out["error"] = exc
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=60)
    if "error" in out:
        raise out["error"]
    return out.get("value")


def _write_pair(events, items, n: int) -> None:
    """One transaction: the same run on A and on B (alternating items, 1 to 3 batches)."""
    a, bb = events[0], events[1]
    what = items[n % 2]
    with transaction.atomic():
        for ev in (a, bb):
            b.production_run(ev, what, 1 + n % 3, actual_yield=(1 + n % 3) * 12)


def _produced(figures: EventFigures) -> int:
    return sum(p.produced_batches for p in figures.production)


def _target_yield(figures: EventFigures) -> int:
    return sum(p.produced_yield for p in figures.production)


def _available_yield(figures: EventFigures) -> int:
    return sum(a.produced_yield for a in figures.available)


def _self_consistent(figures: EventFigures) -> list[str]:
    """What an answer's overall figures say that its own per-target rows contradict."""
    problems = []
    rows = figures.production
    summary = figures.production_summary
    if summary.targets != len(rows) or summary.complete != sum(r.complete for r in rows):
        problems.append(f"summary {summary} vs rows {rows}")
    yields = {r.item_id: r.produced_yield for r in rows}
    for stock in figures.available:
        if stock.produced_yield != yields.get(stock.item_id, 0):
            problems.append(f"available {stock} vs target yield {yields.get(stock.item_id)}")
    if figures.complete != (len(rows) > 0 and all(r.complete for r in rows)):
        problems.append(f"complete={figures.complete} vs rows")
    return problems


def test_every_list_answer_is_one_moment_while_a_writer_records_runs(pair):
    community, events, items = pair
    start = threading.Barrier(READERS + 1)
    stop = threading.Event()
    answers: list[dict[str, EventFigures]] = []
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            start.wait()
            for n in range(WRITES):
                _write_pair(events, items, n)
        except BaseException as exc:  # noqa: BLE001 - reported by the test thread
            errors.append(exc)
        finally:
            stop.set()
            connection.close()

    def reader() -> None:
        try:
            start.wait()
            while not stop.is_set():
                page = list_events(community, when="all")
                answers.append({e.name: e.figures for e in page.events})
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=writer)] + [
        threading.Thread(target=reader) for _ in range(READERS)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    assert len(answers) >= 10, "the readers hardly ran: the test proves nothing"
    moments = {_produced(answer["A"]) for answer in answers}
    assert len(moments) > 3, f"the readers saw too few moments of the writes: {moments}"
    unequal = [(_produced(a["A"]), _produced(a["B"])) for a in answers]
    assert [pair for pair in unequal if pair[0] != pair[1]] == []
    # Across events AND across queries (targets vs availability are two statements): A's
    # yield by its targets equals B's yield by its availability in every answer.
    crossed = [(_target_yield(a["A"]), _available_yield(a["B"])) for a in answers]
    assert [pair for pair in crossed if pair[0] != pair[1]] == []
    contradictions = [p for a in answers for f in a.values() for p in _self_consistent(f)]
    assert contradictions == []
    assert all(_produced(a["C"]) == 0 for a in answers)
    final = list_events(community, when="all").events
    assert (
        _produced(final[0].figures)
        == _produced(final[1].figures)
        == sum(1 + n % 3 for n in range(WRITES))
    )


def _a_then_b(events, items, *, between: Callable[[], None]) -> tuple[int, int]:
    a = _produced(figures_for_events([events[0].pk])[events[0].pk])
    between()
    return a, _produced(figures_for_events([events[1].pk])[events[1].pk])


def test_separate_reads_see_a_commit_land_between_them_and_a_snapshot_does_not(pair):
    """The same interleaving three ways: A is read, another connection commits a run on A
    and B, B is read."""
    _community, events, items = pair
    commits = iter(range(3))

    def commit_a_pair() -> None:
        _in_thread(lambda: _write_pair(events, items, next(commits)))

    # The seed's way: each event's figures in a transaction of their own.
    separate = _a_then_b(events, items, between=commit_a_pair)
    assert separate[0] != separate[1]

    # One transaction is not enough at READ COMMITTED: each statement sees the latest commit.
    with transaction.atomic():
        read_committed = _a_then_b(events, items, between=commit_a_pair)
    assert read_committed[0] != read_committed[1]

    # The selectors' snapshot: REPEATABLE READ from the first query to the last.
    with read_snapshot():
        snapshot = _a_then_b(events, items, between=commit_a_pair)
    assert snapshot[0] == snapshot[1]


def test_the_snapshot_is_read_only(pair):
    from django.db import InternalError

    _community, events, items = pair
    with pytest.raises(InternalError, match="read-only transaction"), read_snapshot():
        _write_pair(events, items, 0)


def test_a_writer_sees_its_own_uncommitted_runs_and_nobody_else_does(pair):
    community, events, items = pair
    a = events[0]
    inside = threading.Event()
    may_commit = threading.Event()
    seen: dict[str, Any] = {}

    def writer() -> None:
        with transaction.atomic():
            b.production_run(a, items[0], 40, actual_yield=480)
            seen["list"] = _produced(list_events(community, when="all").events[0].figures)
            seen["detail"] = event_detail(community, a.pk).figures.production
            seen["figures"] = figures_for_events([a.pk])[a.pk].production_summary.complete
            inside.set()
            assert may_commit.wait(timeout=30)

    thread = threading.Thread(target=lambda: (_safe(writer)))
    thread.start()
    assert inside.wait(timeout=30)
    try:
        assert seen["list"] == 40
        assert [r.complete for r in seen["detail"]] == [False, True]  # bracelets, cookies
        assert seen["figures"] == 1
        # Another connection does not see the uncommitted run.
        assert _produced(event_detail(community, a.pk).figures) == 0
    finally:
        may_commit.set()
        thread.join(timeout=30)
    assert _produced(event_detail(community, a.pk).figures) == 40


def _safe(call: Callable[[], None]) -> None:
    try:
        call()
    finally:
        connection.close()
