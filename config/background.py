"""Embedded mode runs what would be separate processes (relay, beat) on threads of the web
process, started by the first request the ASGI app sees. With Redis they are Procfile processes
and nothing starts here."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from django.conf import settings

logger = logging.getLogger(__name__)
_started = False
_lock = threading.Lock()


def ensure_started() -> None:
    global _started
    if _started:
        return
    with _lock:
        if _started:
            return
        _started = True
        from realtime.relay import ensure_in_process_relay

        ensure_in_process_relay()
        if settings.BEAT_IN_PROCESS:
            threading.Thread(target=_beat_forever, name="in-process-beat", daemon=True).start()


def beat_tasks() -> dict[str, Any]:
    """The scheduled tasks by entry name. Celery's autodiscovery is lazy (a worker triggers it
    at start); a web process must import the apps' task modules itself or nothing is found."""
    from config.celery import app

    app.loader.import_default_modules()
    schedule: dict[str, Any] = settings.CELERY_BEAT_SCHEDULE
    return {name: app.tasks[entry["task"]] for name, entry in schedule.items()}


def _beat_forever() -> None:
    schedule: dict[str, Any] = settings.CELERY_BEAT_SCHEDULE
    try:
        tasks = beat_tasks()
    except Exception:
        logger.error("in-process beat cannot start: a scheduled task is unknown", exc_info=True)
        return
    next_run = {name: time.monotonic() for name in schedule}
    logger.info("in-process beat started with %d entries", len(schedule))
    while True:
        now = time.monotonic()
        for name, entry in schedule.items():
            if now >= next_run[name]:
                next_run[name] = now + float(entry["schedule"])
                try:
                    tasks[name].delay()
                except Exception:
                    logger.error("in-process beat could not start %s", name, exc_info=True)
        time.sleep(0.5)


class StartBackground:
    """ASGI wrapper: starts the embedded background threads on the first scope."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if not _started and scope["type"] in ("http", "websocket", "lifespan"):
            ensure_started()
        await self.app(scope, receive, send)
