"""Celery edges of the progression engine: thin wrappers around services."""

from __future__ import annotations

import logging

from celery import shared_task
from celery.signals import worker_ready
from django.db import InterfaceError, OperationalError
from psycopg_pool import PoolTimeout
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger(__name__)


# Errors that say "the database or Redis was briefly away", not "this unlock is wrong": a failover,
# a dropped pooled connection, a pool exhausted for a moment, a deadlock victim. The unlock is
# idempotent, so running it again is always safe; anything else is a bug and fails loudly.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    OperationalError,
    InterfaceError,
    PoolTimeout,
    RedisConnectionError,
    RedisTimeoutError,
)


@shared_task(
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=TRANSIENT_ERRORS,
    max_retries=5,
    retry_backoff=1,  # 1, 2, 4, 8, 16 s (jittered): rides out a failover of ~30 s
    retry_backoff_max=30,
    retry_jitter=True,
)
def unlock_target_task(progress_id: int) -> bool:
    """Runs the unlock; on a transient error Celery runs it again later (up to 5 times, with
    backoff). If every try fails, the periodic reconcile finds the full target."""
    from django.core.cache import cache

    from progression.services.unlocks import unlock_target

    try:
        return unlock_target(progress_id)
    finally:
        cache.delete(f"unlock-due:{progress_id}")


@shared_task(acks_late=True, ignore_result=True)
def publish_snapshot_task(community_id: int, kind: str) -> None:
    if kind == "progress":
        from progression.services.unlocks import publish_progress_snapshot

        publish_progress_snapshot(community_id)
    elif kind == "vote":
        from progression.services.voting import publish_vote_snapshot

        publish_vote_snapshot(community_id)


@shared_task(ignore_result=True)
def reconcile_task() -> int:
    """Finds crossed thresholds with no unlock (a lost task, a crash) and enqueues them."""
    from progression.services.reconcile import enqueue_crossed

    return enqueue_crossed()


@shared_task(ignore_result=True)
def resolve_due_votes_task() -> int:
    from progression.services.voting import resolve_due_votes

    return resolve_due_votes()


@worker_ready.connect
def _reconcile_on_start(**_: object) -> None:
    logger.info("worker ready: reconciling half-done unlocks")
    reconcile_task.delay()
