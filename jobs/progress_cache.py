"""The latest public state of each job, cached so reads are fast and every process answers the
same: Redis in real mode (shared by every process), local memory in the embedded default (one
process). The database stays the truth: a miss, or an unreachable Redis, reads the row.

A cached value never goes back in time: each carries the job's `version` (grown by one on every
write of the row) and a write lands only if it is newer than what is there. With Redis the
compare-and-set is one Lua script, atomic on the server, so two processes racing to cache
version 7 and version 8 always leave 8, whatever order their writes arrive in.
"""

from __future__ import annotations

import json
import logging
import threading
from typing import Any

from django.conf import settings
from django.core.cache import cache

logger = logging.getLogger(__name__)

_CAS = """
local held = redis.call('HGET', KEYS[1], 'v')
if held and tonumber(held) >= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'v', ARGV[1], 'd', ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1
"""
_local_lock = threading.Lock()


def _key(job_id: str) -> str:
    return f"jobs:progress:{job_id}"


class ProgressCache:
    """`client`: a redis client to use (tests pass a second, independent one); by default the
    client behind Django's cache when it is django-redis, else Django's local-memory cache."""

    def __init__(self, client: Any = None) -> None:
        self._client = client

    def _redis(self) -> Any:
        if self._client is not None:
            return self._client
        if "django_redis" not in settings.CACHES["default"]["BACKEND"]:
            return None
        from django_redis import get_redis_connection

        return get_redis_connection("default")

    def store(self, payload: dict[str, Any]) -> bool:
        """Caches `payload` unless a newer version is already there; True if it landed."""
        try:
            return self._store(payload)
        except Exception:
            logger.warning("job progress cache write failed job=%s", payload["id"], exc_info=True)
            return False

    def _store(self, payload: dict[str, Any]) -> bool:
        client = self._redis()
        if client is None:
            with _local_lock:
                held = cache.get(_key(payload["id"]))
                if held is not None and held["version"] >= payload["version"]:
                    return False
                cache.set(_key(payload["id"]), payload, settings.JOBS_CACHE_SECONDS)
                return True
        key = cache.make_key(_key(payload["id"]))
        ttl = settings.JOBS_CACHE_SECONDS
        return bool(client.eval(_CAS, 1, key, payload["version"], json.dumps(payload), ttl))

    def load(self, job_id: str) -> dict[str, Any] | None:
        """The cached state, or None (missing, or Redis did not answer: read the database)."""
        try:
            client = self._redis()
            if client is None:
                found: dict[str, Any] | None = cache.get(_key(job_id))
                return found
            raw = client.hget(cache.make_key(_key(job_id)), "d")
        except Exception:
            logger.warning("job progress cache read failed job=%s", job_id, exc_info=True)
            return None
        return json.loads(raw) if raw else None

    def forget(self, job_id: str) -> None:
        try:
            client = self._redis()
            if client is None:
                cache.delete(_key(job_id))
            else:
                client.delete(cache.make_key(_key(job_id)))
        except Exception:
            logger.warning("job progress cache delete failed job=%s", job_id, exc_info=True)


progress_cache = ProgressCache()
