"""Work the engagement path hands to Celery after commit, deduplicated so a burst of requests
that all see the same crossing (or the same change) enqueues one task, not hundreds."""

from __future__ import annotations

import time

from django.core.cache import cache
from django.db import transaction

PROGRESS_EVENTS_PER_SECOND = 4
UNLOCK_DEDUPE_SECONDS = 30


def unlock_due(progress_id: int) -> None:
    def enqueue() -> None:
        if cache.add(f"unlock-due:{progress_id}", 1, timeout=UNLOCK_DEDUPE_SECONDS):
            from progression.tasks import unlock_target_task

            unlock_target_task.delay(progress_id)

    # robust: the points are committed by now; a failed enqueue is logged (and the periodic
    # reconcile finds the crossing), it must not turn the request's answer into an error.
    transaction.on_commit(enqueue, robust=True)


def snapshot_due(community_id: int, kind: str) -> None:
    """At most a few snapshot events per second per community, always including the last
    change: the task runs at the end of the current slot and reads the state then."""

    def enqueue() -> None:
        slot = 1.0 / PROGRESS_EVENTS_PER_SECOND
        now = time.time()
        bucket = int(now / slot)
        if cache.add(f"snapshot-due:{kind}:{community_id}:{bucket}", 1, timeout=5):
            from progression.tasks import publish_snapshot_task

            delay = (bucket + 1) * slot - now
            publish_snapshot_task.apply_async((community_id, kind), countdown=delay)

    transaction.on_commit(enqueue, robust=True)


def progress_changed(community_id: int) -> None:
    snapshot_due(community_id, "progress")


def votes_changed(community_id: int) -> None:
    snapshot_due(community_id, "vote")
