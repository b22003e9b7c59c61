"""record_engagement: chat engagement in, points credited once, threshold crossing detected.

A batch is written in one transaction with a fixed number of statements whatever its size:
read the viewer ids (creating first-seen viewers), insert the ledger rows (a repeated message
id inserts nothing), add to the viewers' totals, add to one shard of the season's counter (each
writer thread has its own; until the target is known full, the same statement reads the total,
and the write that fills it records the crossing line), then read the season's total after
commit. Concurrent batches
touch different shards, so there is no single row every message must queue on.
"""

from __future__ import annotations

import itertools
import logging
import math
import random
import threading
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from communities.models import Community
from progression import ratelimit, tasks_on_commit
from progression.accounting import is_full
from progression.models import SHARDS, PointsShard
from progression.services import ledger_writes
from progression.services.state import (
    ActiveState,
    active_state,
    active_state_with_total,
    note_crossing,
    season_total,
    settings_for,
)
from progression.tree_state import contribution_multiplier
from progression.weights import weights_for

logger = logging.getLogger(__name__)
REPEATED_IN_BATCH = "repeated in this batch"
ALREADY_CREDITED = "message already credited"


@dataclass(frozen=True)
class EngagementEvent:
    index: int  # position in the request, so outcomes line up with what the bot sent
    platform_user_id: str
    metric: str
    value: int = 1
    display_name: str = ""
    message_id: str | None = None
    occurred_at: datetime | None = None


@dataclass
class Outcome:
    index: int
    status: str  # accepted | duplicate | rate_limited | invalid
    points: int = 0
    reason: str = ""


@dataclass
class EngagementResult:
    outcomes: list[Outcome]
    credited: int
    progress_id: int
    accumulated: int | None  # None: committed, but the progress could not be read after
    cost: int | None
    counts: dict[str, int] = field(default_factory=dict)


def record_engagement(community: Community, events: list[EngagementEvent]) -> EngagementResult:
    weights = weights_for(community.pk)
    outcomes: dict[int, Outcome] = {}
    known = []
    for event in events:
        if event.metric not in weights:
            outcomes[event.index] = Outcome(
                event.index, "invalid", reason=f"unknown metric {event.metric!r}"
            )
        else:
            known.append(event)
    # Rate limits first, then repeats among what passed: a message whose first copy was over
    # its viewer's limit is still credited through a later copy that was not.
    passed, taken = _apply_rate_limits(community.pk, known, outcomes)
    allowed, repeats = _drop_repeats_in_batch(passed, outcomes)
    credited = 0
    try:
        state = active_state(community)
        multiplier = contribution_multiplier(community.pk, state.season_id)
        if allowed:
            with transaction.atomic():
                credited = _credit(community, state, allowed, weights, multiplier, outcomes)
                if credited:
                    tasks_on_commit.progress_changed(community.pk)
    except Exception:
        if taken is not None:  # nothing was credited: the retry must not pay twice
            try:
                ratelimit.give_back(taken)
            except Exception:
                logger.warning("could not give rate-limit tokens back", exc_info=True)
        raise
    for repeat, first in repeats.items():
        outcomes[repeat] = _repeat_outcome(repeat, outcomes[first])
    progress: tuple[int, int | None, int | None] = (state.progress_id, None, state.cost)
    try:
        # Read after commit: batches committing together each see the others' points here, so
        # whichever commits last notices the crossing (and an unlock meanwhile moved the target).
        state, total = active_state_with_total(community)
        progress = (state.progress_id, total - state.offset, state.cost)
        if is_full(total, state.offset, state.cost):
            if state.crossed_at_total is None:
                # Writes that filled the target together, neither seeing the other inside its
                # transaction: the first to read after commit draws the line.
                note_crossing(state.progress_id, total)
            tasks_on_commit.unlock_due(state.progress_id)
    except Exception:
        # The points are committed: the answer must say so. A crossing missed here is found by
        # the periodic reconcile (reconcile_task).
        logger.error(
            "engagement committed but the progress read after it failed community=%s credited=%d",
            community.pk,
            credited,
            exc_info=True,
        )
    ordered = [outcomes[event.index] for event in events]
    counts: dict[str, int] = defaultdict(int)
    for outcome in ordered:
        counts[outcome.status] += 1
    return EngagementResult(
        outcomes=ordered,
        credited=credited,
        progress_id=progress[0],
        accumulated=progress[1],
        cost=progress[2],
        counts=dict(counts),
    )


def _repeat_outcome(index: int, first: Outcome) -> Outcome:
    """A repeat of a message that an earlier copy in the batch carries (past the rate limits)
    is a duplicate: "repeated in this batch" if that copy was credited now, the copy's own
    reason if it had been credited before. A repeat is never answered for a copy that was
    refused: refused copies are not candidates, so a later copy can still be credited."""
    if first.status == "accepted":
        return Outcome(index, "duplicate", reason=REPEATED_IN_BATCH)
    if first.status == "duplicate":
        return Outcome(index, "duplicate", reason=first.reason)
    return Outcome(index, first.status, reason=first.reason)


def record_engagement_together(
    community: Community, requests: list[list[EngagementEvent]]
) -> list[EngagementResult]:
    """Several requests' events credited as one batch (one transaction, one shard update),
    each request answered with its own outcomes. Requests are taken in order, so when two
    carry the same message id the earlier one is credited."""
    if len(requests) == 1:
        return [record_engagement(community, requests[0])]
    merged: list[EngagementEvent] = []
    owners: list[tuple[int, int]] = []  # merged position -> (request, index in the request)
    for number, events in enumerate(requests):
        for e in events:
            owners.append((number, e.index))
            merged.append(
                EngagementEvent(
                    len(merged),
                    e.platform_user_id,
                    e.metric,
                    e.value,
                    e.display_name,
                    e.message_id,
                    e.occurred_at,
                )
            )
    result = record_engagement(community, merged)
    per_request: list[list[Outcome]] = [[] for _ in requests]
    credited_by = {  # message id -> the request whose copy was credited
        e.message_id: owners[o.index][0]
        for o, e in zip(result.outcomes, merged, strict=True)
        if o.status == "accepted" and e.message_id is not None
    }
    for o, e in zip(result.outcomes, merged, strict=True):
        number, index = owners[o.index]
        reason = o.reason
        if o.reason == REPEATED_IN_BATCH and credited_by.get(e.message_id or "") != number:
            reason = ALREADY_CREDITED  # another request's copy counted: to this one, a repeat
        per_request[number].append(Outcome(index, o.status, o.points, reason))
    answers = []
    for outcomes in per_request:
        counts: dict[str, int] = defaultdict(int)
        for outcome in outcomes:
            counts[outcome.status] += 1
        answers.append(
            EngagementResult(
                outcomes=outcomes,
                credited=sum(o.points for o in outcomes if o.status == "accepted"),
                progress_id=result.progress_id,
                accumulated=result.accumulated,
                cost=result.cost,
                counts=dict(counts),
            )
        )
    return answers


def _drop_repeats_in_batch(
    events: list[EngagementEvent], outcomes: dict[int, Outcome]
) -> tuple[list[EngagementEvent], dict[int, int]]:
    """The events to credit, and each repeat's index -> the index of its message's first copy
    (the repeat's outcome is settled once the first copy's is known)."""
    first: dict[str, int] = {}
    repeats: dict[int, int] = {}
    kept = []
    for event in events:
        if event.message_id is not None:
            if event.message_id in first:
                repeats[event.index] = first[event.message_id]
                continue
            first[event.message_id] = event.index
        kept.append(event)
    return kept, repeats


def _apply_rate_limits(
    community_id: int, events: list[EngagementEvent], outcomes: dict[int, Outcome]
) -> tuple[list[EngagementEvent], ratelimit.Taken | None]:
    if not events:
        return [], None
    limits = settings_for(community_id)
    per_viewer: dict[str, list[EngagementEvent]] = defaultdict(list)
    for event in events:
        per_viewer[event.platform_user_id].append(event)
    viewers = list(per_viewer)
    viewer_keys = [f"v:{community_id}:{pid}" for pid in viewers]
    granted, community_granted = ratelimit.take_for_viewers(
        f"c:{community_id}",
        viewer_keys,
        [len(per_viewer[pid]) for pid in viewers],
        viewer_rate=limits.viewer_rate,
        viewer_burst=limits.viewer_burst,
        community_rate=limits.community_rate,
        community_burst=limits.community_burst,
    )
    passed: set[int] = set()
    for pid, count in zip(viewers, granted, strict=True):
        passed.update(event.index for event in per_viewer[pid][:count])
    candidates = [event for event in events if event.index in passed]
    allowed = candidates[:community_granted]
    allowed_ids = {event.index for event in allowed}
    for event in events:
        if event.index not in allowed_ids:
            scope = "viewer" if event.index not in passed else "community"
            outcomes[event.index] = Outcome(
                event.index, "rate_limited", reason=f"{scope} rate limit"
            )
    if len(allowed) < len(events):
        logger.warning(
            "engagement rate limited community=%s refused=%d of %d",
            community_id,
            len(events) - len(allowed),
            len(events),
        )
    taken = ratelimit.Taken(
        community_key=f"c:{community_id}",
        viewer_keys=viewer_keys,
        viewer_counts=list(granted),
        community_count=min(community_granted, len(candidates)),
        viewer_burst=limits.viewer_burst,
        community_burst=limits.community_burst,
    )
    return allowed, taken


def _points(event: EngagementEvent, weights: dict[str, Decimal], multiplier: Decimal) -> int:
    return math.floor(Decimal(event.value) * weights[event.metric] * multiplier)


def _credit(
    community: Community,
    state: ActiveState,
    events: list[EngagementEvent],
    weights: dict[str, Decimal],
    multiplier: Decimal,
    outcomes: dict[int, Outcome],
) -> int:
    now = timezone.now()
    memo: dict[tuple[str, int], int] = {}  # most events are (message, 1): one Decimal sum each
    points = {}
    for event in events:
        key = (event.metric, event.value)
        if key not in memo:
            memo[key] = _points(event, weights, multiplier)
        points[event.index] = memo[key]
    # Order matters for concurrent writers: nothing below locks an existing viewer row until the
    # totals are added, last, just before commit; so batches sharing viewers overlap their
    # ledger inserts and queue only for that short final statement (sorted: no deadlocks).
    viewer_ids = ledger_writes.viewer_ids(community.pk, events, now)
    inserted = ledger_writes.insert_ledger(
        community.pk, state.season_id, state.progress_id, events, points, viewer_ids, now
    )
    credited = 0
    accepted: list[EngagementEvent] = []
    for event in events:
        if event.message_id is None or event.message_id in inserted:
            outcomes[event.index] = Outcome(event.index, "accepted", points=points[event.index])
            credited += points[event.index]
            accepted.append(event)
        else:
            outcomes[event.index] = Outcome(event.index, "duplicate", reason=ALREADY_CREDITED)
    if accepted:
        ledger_writes.add_to_viewers(community.pk, accepted, points, now)
        # Last, so the shard row is held only for the commit; one shard per writer thread, so
        # this process's concurrent writes never queue on the same row.
        _add_to_shard(state, credited, len(accepted))
    return credited


_ADD_AND_READ_TOTAL_PG = (
    "UPDATE progression_pointsshard SET points = points + %s, events = events + %s "
    "WHERE season_id = %s AND shard = %s RETURNING points + (SELECT COALESCE(SUM(o.points), 0) "
    "FROM progression_pointsshard o WHERE o.season_id = %s AND o.shard <> %s)"
)


def _add_to_shard(state: ActiveState, credited: int, count: int) -> None:
    """Adds the write's points to its shard. While the target is not yet known to be full, the
    same statement reads the season total as this transaction sees it (its own points plus
    everything committed before it); if that fills the target, this write is the crossing and
    records the line the rollover cap is drawn at (once per progress: never a hot row)."""
    shard = _writer_shard()
    if state.cost is None or state.crossed_at_total is not None:
        PointsShard.objects.filter(season_id=state.season_id, shard=shard).update(
            points=F("points") + credited, events=F("events") + count
        )
        return
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                _ADD_AND_READ_TOTAL_PG,
                [credited, count, state.season_id, shard, state.season_id, shard],
            )
            row = cursor.fetchone()
        seen = int(row[0]) if row else 0
    else:  # SQLite: writers take turns, so this transaction sees every committed point
        PointsShard.objects.filter(season_id=state.season_id, shard=shard).update(
            points=F("points") + credited, events=F("events") + count
        )
        seen = season_total(state.season_id)
    if is_full(seen, state.offset, state.cost):
        note_crossing(state.progress_id, seen)


_shards = threading.local()
_next_shard = itertools.count(random.randrange(SHARDS))  # noqa: S311 - spreads processes


def _writer_shard() -> int:
    shard = getattr(_shards, "number", None)
    if shard is None:
        shard = _shards.number = next(_next_shard) % SHARDS
    return shard
