"""The Celery app.

With a Redis broker, tasks go to the `worker` process. In the embedded default (no REDIS_URL)
tasks run in this process on a small thread pool: never on the caller's thread, so an API
answers before the work it enqueued runs, exactly as it would with a real worker.
"""

from __future__ import annotations

import logging
import os
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from celery import Celery, signals
from celery.contrib.django.task import DjangoTask
from celery.result import AsyncResult

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

logger = logging.getLogger(__name__)
_executor: ThreadPoolExecutor | None = None


def _in_process_executor() -> ThreadPoolExecutor:
    global _executor
    if _executor is None:
        from django.conf import settings

        _executor = ThreadPoolExecutor(
            max_workers=settings.TASKS_IN_PROCESS_THREADS, thread_name_prefix="task"
        )
    return _executor


def _run_in_process(task: Task, args: tuple, kwargs: dict, task_id: str) -> None:
    from django.db import close_old_connections

    from config.logging import current_context_id

    token = current_context_id.set(task_id)
    try:
        result = task.apply(args=args, kwargs=kwargs, task_id=task_id)
        if result.failed():
            logger.error("in-process task %s[%s] failed: %r", task.name, task_id, result.result)
    finally:
        current_context_id.reset(token)
        close_old_connections()


class Task(DjangoTask):
    """Project task base: routes to the in-process pool when there is no broker."""

    # Celery's positional producer/link/link_error/shadow are taken by keyword only here.
    def apply_async(  # type: ignore[override]
        self, args: Any = None, kwargs: Any = None, task_id: Any = None, **options: Any
    ) -> AsyncResult[Any]:
        from django.conf import settings

        if not settings.TASKS_IN_PROCESS or self.app.conf.task_always_eager:
            return super().apply_async(args, kwargs, task_id=task_id, **options)
        task_id = task_id or str(uuid.uuid4())
        job = (self, tuple(args or ()), dict(kwargs or {}), task_id)
        countdown = float(options.get("countdown") or 0)
        if countdown > 0:
            timer = threading.Timer(
                countdown, _in_process_executor().submit, (_run_in_process, *job)
            )
            timer.daemon = True
            timer.start()
        else:
            _in_process_executor().submit(_run_in_process, *job)
        return self.AsyncResult(task_id)


app = Celery("progression_hub", task_cls=Task)
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@signals.task_prerun.connect
def _bind_task_id(task_id: str | None = None, **_: Any) -> None:
    from config.logging import current_context_id

    current_context_id.set(task_id or "-")


@signals.task_postrun.connect
def _unbind_task_id(**_: Any) -> None:
    from config.logging import current_context_id

    current_context_id.set("-")
