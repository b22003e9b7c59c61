"""Building blocks for the concurrency proofs: small trees, real threads, the books' state.

Every thread started here lines up on a barrier first (so they really hit the database
together) and closes its database connection when it is done (which hands it back to the
pool).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from django.db import connection

from communities.models import Community
from progression.models import (
    Contribution,
    Node,
    PointsShard,
    Prerequisite,
    ProgressionSettings,
    UnlockProgress,
    Viewer,
)
from progression.services.engagement import EngagementEvent, EngagementResult, record_engagement
from progression.services.state import active_state


@dataclass
class Chain:
    """A two-node tree: `first` is the target at once (the lone candidate); `second` needs it,
    so it becomes the next target on its own (auto-selected) with the rollover."""

    first: Node
    second: Node
    progress: UnlockProgress


def build_chain(
    community: Community,
    *,
    first_cost: int,
    next_cost: int,
    rollover_cap: int = 200,
    viewer_rate: int = 10,
    viewer_burst: int = 20,
) -> Chain:
    ProgressionSettings.objects.create(
        community=community,
        rollover_cap=rollover_cap,
        viewer_rate=viewer_rate,
        viewer_burst=viewer_burst,
    )
    first = Node.objects.create(
        community=community, key="first_target", name="First target", cost_override=first_cost
    )
    second = Node.objects.create(
        community=community,
        key="second_target",
        name="Second target",
        tier=1,
        cost_override=next_cost,
    )
    Prerequisite.objects.create(node=second, required=first, min_level=1)
    state = active_state(community)  # opens the season and sets the lone candidate as target
    progress = UnlockProgress.objects.get(pk=state.progress_id)
    assert (progress.node_id, progress.level, progress.cost) == (first.pk, 1, first_cost)
    return Chain(first=first, second=second, progress=progress)


def build_open_vote(community: Community, *, nodes: int = 3) -> None:
    """`nodes` independent nodes: no lone candidate, so a vote on the first target opens."""
    ProgressionSettings.objects.create(community=community)
    for i in range(nodes):
        Node.objects.create(community=community, key=f"option_{i}", name=f"Option {i}")
    active_state(community)


def client_events(prefix: str, client: int, count: int, metric: str = "message") -> list[dict]:
    """One chat client's events, each with its own message id, all from one viewer."""
    return [
        {
            "platform_user_id": f"{prefix}-viewer-{client}",
            "display_name": f"Viewer {client}",
            "metric": metric,
            "value": 1,
            "message_id": f"{prefix}-{client}-{k}",
        }
        for k in range(count)
    ]


def as_events(items: list[dict]) -> list[EngagementEvent]:
    return [EngagementEvent(index=i, **item) for i, item in enumerate(items)]


@dataclass
class Ran:
    value: Any = None
    error: BaseException | None = None


def run_concurrently(jobs: list[Callable[[], Any]], *, start_timeout: float = 60.0) -> list[Ran]:
    """Runs every job on its own thread, all released at once; returns each one's result or
    exception, in order."""
    barrier = threading.Barrier(len(jobs))

    def run(job: Callable[[], Any]) -> Ran:
        try:
            barrier.wait(timeout=start_timeout)
            return Ran(value=job())
        except BaseException as exc:  # noqa: BLE001 - reported to the test, never swallowed
            return Ran(error=exc)
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        return list(pool.map(run, jobs))


def ingest_in_threads(
    community: Community, *, clients: int, per_client: int, prefix: str, metric: str = "message"
) -> list[EngagementResult]:
    """`clients` concurrent clients, each sending one batch through record_engagement."""
    ran = run_concurrently(
        [
            (
                lambda i=i: record_engagement(
                    community, as_events(client_events(prefix, i, per_client, metric))
                )
            )
            for i in range(clients)
        ]
    )
    errors = [r.error for r in ran if r.error is not None]
    assert not errors, f"{len(errors)} clients failed, first: {errors[0]!r}"
    return [r.value for r in ran]


def season_total(progress: UnlockProgress) -> int:
    from progression.services.state import season_total as total

    return total(progress.season_id)


@dataclass
class Books:
    """What the database says, read after the fact."""

    ledger_points: int
    ledger_rows: int
    shard_points: int
    shard_events: int
    viewer_points: int
    viewer_events: int


def books(community: Community) -> Books:
    from django.db.models import Count, Sum

    ledger = Contribution.objects.filter(community=community).aggregate(
        p=Sum("points"), n=Count("pk")
    )
    shards = PointsShard.objects.filter(season__community=community).aggregate(
        p=Sum("points"), n=Sum("events")
    )
    viewers = Viewer.objects.filter(community=community).aggregate(
        p=Sum("points_total"), n=Sum("events_total")
    )
    return Books(
        ledger_points=ledger["p"] or 0,
        ledger_rows=ledger["n"] or 0,
        shard_points=shards["p"] or 0,
        shard_events=shards["n"] or 0,
        viewer_points=viewers["p"] or 0,
        viewer_events=viewers["n"] or 0,
    )


def assert_rollover(chain: Chain, *, rollover_cap: int, credited: int) -> UnlockProgress:
    """The first target closed once with the right split (the cap cut only the overshoot of
    the write that filled it: everything after its crossing line rolled over in full), and the
    next progress holds the rollover plus every point that came after the close. Returns the
    next progress."""
    closed = UnlockProgress.objects.get(pk=chain.progress.pk)
    cost = chain.progress.cost
    assert closed.status == UnlockProgress.Status.CLOSED
    accumulated = closed.accumulated_at_close
    assert cost <= accumulated <= credited, (cost, accumulated, credited)
    assert closed.spent == cost
    assert closed.crossed_at_total is not None
    overshoot = closed.crossed_at_total - closed.offset - cost
    assert 0 <= overshoot <= accumulated - cost, (overshoot, accumulated, cost)
    assert closed.discarded == max(0, overshoot - rollover_cap)
    assert closed.rolled_over == accumulated - cost - closed.discarded
    successor = UnlockProgress.objects.get(
        community_id=closed.community_id, status=UnlockProgress.Status.ACTIVE
    )
    assert (successor.node_id, successor.level) == (chain.second.pk, 1)
    assert successor.auto_selected
    assert successor.offset == closed.offset + cost + closed.discarded
    late = credited - accumulated  # points committed after the unlock read the total
    assert season_total(successor) - successor.offset == closed.rolled_over + late
    return successor
