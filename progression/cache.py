"""Per-process caches that every process drops within a second of a change.

Each entry remembers the version it was built from; the version lives in the shared cache
(Redis in production) and is re-read at most every `CHECK_SECONDS`. A writer bumps the version
after commit, so a change reaches every process within that interval without a database read
per request.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from django.core.cache import cache
from django.db import transaction

T = TypeVar("T")
CHECK_SECONDS = 0.5
_entries: dict[str, tuple[Any, Any, float]] = {}  # key -> (version, value, checked_at)
_lock = threading.Lock()


def _version_key(key: str) -> str:
    return f"ver:{key}"


def cached(key: str, load: Callable[[], T]) -> T:
    now = time.monotonic()
    entry = _entries.get(key)
    if entry is not None and now - entry[2] < CHECK_SECONDS:
        return entry[1]
    version = cache.get(_version_key(key))
    if version is None:
        version = time.time_ns()
        cache.add(_version_key(key), version, timeout=None)
        version = cache.get(_version_key(key), version)
    if entry is not None and entry[0] == version:
        with _lock:
            _entries[key] = (version, entry[1], now)
        return entry[1]
    value = load()
    with _lock:
        _entries[key] = (version, value, now)
    return value


def invalidate_on_commit(key: str) -> None:
    def bump() -> None:
        cache.set(_version_key(key), time.time_ns(), timeout=None)
        with _lock:
            _entries.pop(key, None)

    transaction.on_commit(bump)


def clear_local() -> None:
    with _lock:
        _entries.clear()
