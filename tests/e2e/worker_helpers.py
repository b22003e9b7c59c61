"""Celery workers for end-to-end tests: the real one, and one that stops inside an unlock.

`start_worker` runs the Procfile's worker (`celery -A config worker`) on the test database and
returns once its `worker_ready` hook (the start-up reconcile) has fired.

`python -m tests.e2e.worker_helpers hang-unlock` is the same worker on the solo pool (the task
runs in the process itself, so SIGKILL really kills the task mid-flight), except that
`unlock_target` stops for good inside its transaction: after it has closed the progress and
inserted the Unlock row, just before it publishes. It prints HANG_MARKER when it gets there.

`python -m tests.e2e.worker_helpers slow-snapshots` is the Procfile's worker (prefork, three
processes) whose snapshot tasks take SNAPSHOT_PAUSE longer between reading the state and
publishing it: it widens the window in which an unlock or a vote's resolution can commit in
between, which is exactly when a snapshot must still not arrive as stale.
Nothing of this is imported by the application: the patches exist only in those processes.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable

from tests.e2e.processes import Launcher, Process

READY_MARKER = "worker ready: reconciling half-done unlocks"
HANG_MARKER = "TEST HOOK: unlock paused inside its transaction"
UNLOCKED_LOG = "unlocked community="
RECONCILE_LOG = "reconcile: progress"
WORKER_START_TIMEOUT = 40.0


def start_worker(launcher: Launcher, *extra: str) -> Process:
    """The worker as the Procfile runs it (prefork, concurrency 2 unless `extra` says else)."""
    worker = launcher.script(
        "celery",
        "-A",
        "config",
        "worker",
        "--loglevel=INFO",
        "--concurrency=2",
        "--without-mingle",  # mingle waits for replies from other workers: there are none
        *extra,
    )
    worker.wait_for_log(READY_MARKER, timeout=WORKER_START_TIMEOUT)
    return worker


def start_hanging_worker(launcher: Launcher) -> Process:
    worker = launcher.script("tests.e2e.worker_helpers", "hang-unlock")
    worker.wait_for_log(READY_MARKER, timeout=WORKER_START_TIMEOUT)
    return worker


def wait_until(predicate: Callable[[], object], timeout: float, what: str, step: float = 0.05):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"not within {timeout}s: {what}")
        time.sleep(step)


def _hang_unlock_worker() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from progression.services import unlocks

    def paused(community, progress, *, reason):  # noqa: ANN001, ANN202, ARG001
        print(f"{HANG_MARKER} progress={progress.pk}", flush=True)
        while True:
            time.sleep(3600)

    unlocks._publish_unlocked = paused  # noqa: SLF001
    from config.celery import app

    app.worker_main(
        [
            "worker",
            "--pool=solo",
            "--loglevel=INFO",
            "--without-mingle",
            "--without-gossip",
            "--without-heartbeat",
        ]
    )


SNAPSHOT_PAUSE = 0.1  # x 4 snapshots a second: the stream lock stays mostly free


def start_slow_snapshot_worker(launcher: Launcher) -> Process:
    worker = launcher.script("tests.e2e.worker_helpers", "slow-snapshots")
    worker.wait_for_log(READY_MARKER, timeout=WORKER_START_TIMEOUT)
    return worker


def _slow_snapshot_worker() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import threading

    import django

    django.setup()
    from progression import events
    from progression.services import unlocks, voting

    in_snapshot = threading.local()

    def slowed(build):  # noqa: ANN001, ANN202
        def payload(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
            built = build(*args, **kwargs)
            if getattr(in_snapshot, "active", False):
                time.sleep(SNAPSHOT_PAUSE)  # the state is read: now give others time to commit
            return built

        return payload

    def flagged(publish):  # noqa: ANN001, ANN202
        def run(community_id: int) -> None:
            in_snapshot.active = True
            try:
                publish(community_id)
            finally:
                in_snapshot.active = False

        return run

    events.progress_payload = slowed(events.progress_payload)
    events.vote_payload = slowed(events.vote_payload)
    unlocks.publish_progress_snapshot = flagged(unlocks.publish_progress_snapshot)
    voting.publish_vote_snapshot = flagged(voting.publish_vote_snapshot)
    from config.celery import app

    app.worker_main(
        ["worker", "--loglevel=INFO", "--concurrency=3", "--without-mingle", "--without-gossip"]
    )


if __name__ == "__main__":
    modes = {"hang-unlock": _hang_unlock_worker, "slow-snapshots": _slow_snapshot_worker}
    if len(sys.argv) != 2 or sys.argv[1] not in modes:
        raise SystemExit(f"usage: python -m tests.e2e.worker_helpers {{{','.join(modes)}}}")
    modes[sys.argv[1]]()
