"""Liveness and readiness. Readiness checks each real dependency with its latency."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.core.cache import caches
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

logger = logging.getLogger(__name__)
_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="readyz")


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


def _check_database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return connection.vendor


def _check_cache() -> str:
    cache = caches["default"]
    key = f"readyz:{uuid.uuid4().hex}"
    cache.set(key, "1", timeout=5)
    if cache.get(key) != "1":
        raise RuntimeError("value written was not read back")
    cache.delete(key)
    return _backend_name(settings.CACHES["default"]["BACKEND"])


def _check_channel_layer() -> str:
    layer = get_channel_layer()
    if layer is None:
        raise RuntimeError("no channel layer configured")

    async def round_trip() -> None:
        # Redis and in-memory layers take a prefix; the stubs' base class does not.
        channel = await layer.new_channel("readyz.")  # type: ignore[call-arg]
        await layer.send(channel, {"type": "readyz.probe"})
        message = await layer.receive(channel)
        if message.get("type") != "readyz.probe":
            raise RuntimeError("probe message was not received back")

    async_to_sync(round_trip)()
    return _backend_name(settings.CHANNEL_LAYERS["default"]["BACKEND"])


def _check_broker() -> str:
    if settings.TASKS_IN_PROCESS:
        return "in-process"
    from kombu import Connection

    with Connection(
        settings.CELERY_BROKER_URL, connect_timeout=settings.READYZ_TIMEOUT_SECONDS
    ) as conn:
        conn.ensure_connection(max_retries=0)
        conn.default_channel  # noqa: B018 - opens a channel to prove the broker answers
    return "redis"


def _backend_name(path: str) -> str:
    lowered = path.lower()
    if "redis" in lowered:
        return "redis"
    return "memory" if "memory" in lowered or "locmem" in lowered else path


CHECKS: dict[str, Callable[[], str]] = {
    "database": _check_database,
    "cache": _check_cache,
    "channel_layer": _check_channel_layer,
    "broker": _check_broker,
}


def _run_check(name: str, check: Callable[[], str]) -> dict[str, Any]:
    started = time.perf_counter()
    future = _pool.submit(_close_after, check) if name != "database" else None
    try:
        backend = future.result(settings.READYZ_TIMEOUT_SECONDS) if future else check()
        ok, detail = True, {"backend": backend}
    except FutureTimeout:
        ok, detail = False, {"error": f"timed out after {settings.READYZ_TIMEOUT_SECONDS}s"}
    except Exception as exc:  # noqa: BLE001 - readiness reports every failure, never raises
        ok, detail = False, {"error": f"{type(exc).__name__}: {exc}"}
    latency_ms = round((time.perf_counter() - started) * 1000, 2)
    return {"ok": ok, "latency_ms": latency_ms, **detail}


def _close_after(check: Callable[[], str]) -> str:
    from django.db import close_old_connections

    try:
        return check()
    finally:
        close_old_connections()


@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    results = {name: _run_check(name, check) for name, check in CHECKS.items()}
    failing = [name for name, result in results.items() if not result["ok"]]
    for name in failing:
        logger.warning("readiness check failed part=%s detail=%s", name, results[name]["error"])
    body: dict[str, Any] = {"status": "fail" if failing else "ok", "checks": results}
    if failing:
        body["failing"] = failing
        body["message"] = "Not ready: " + ", ".join(
            f"{name} ({_configured_backend(name)})" for name in failing
        )
    return JsonResponse(body, status=503 if failing else 200)


def _configured_backend(name: str) -> str:
    if name == "database":
        return connection.vendor
    if name == "cache":
        return _backend_name(settings.CACHES["default"]["BACKEND"])
    if name == "channel_layer":
        return _backend_name(settings.CHANNEL_LAYERS["default"]["BACKEND"])
    return "in-process" if settings.TASKS_IN_PROCESS else "redis"
