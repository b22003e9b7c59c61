"""Token buckets for engagement: per viewer and per community, checked a whole batch at a time.

One round trip to Redis per batch (a Lua script takes every viewer bucket the batch touches, then
the community bucket for what the viewers were granted, and may grant part of a request), so a
1,000-event batch costs the same as one event. Without Redis the buckets live in this process.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from django.conf import settings

_LUA = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) * 1000 + math.floor(tonumber(now_parts[2]) / 1000)
local granted = {}
for i, key in ipairs(KEYS) do
  local base = (i - 1) * 3
  local rate = tonumber(ARGV[base + 1])
  local burst = tonumber(ARGV[base + 2])
  local want = tonumber(ARGV[base + 3])
  local state = redis.call('HMGET', key, 't', 'ts')
  local tokens = tonumber(state[1])
  local ts = tonumber(state[2])
  if tokens == nil then tokens = burst; ts = now end
  tokens = math.min(burst, tokens + math.max(0, now - ts) * rate / 1000)
  local give = math.min(want, math.floor(tokens))
  tokens = tokens - give
  redis.call('HSET', key, 't', tostring(tokens), 'ts', tostring(now))
  redis.call('PEXPIRE', key, math.ceil(burst * 1000 / rate) + 1000)
  granted[i] = give
end
return granted
"""
# The last key is the community's bucket: it is asked for what the viewer buckets granted.
_LUA_CHAINED = _LUA.replace(
    "local want = tonumber(ARGV[base + 3])",
    "local want = tonumber(ARGV[base + 3])\n"
    "  if i == #KEYS and want < 0 then want = 0; for j = 1, i - 1 do want = want + granted[j] end end",
)


@dataclass(frozen=True)
class Bucket:
    key: str
    rate: float  # tokens per second
    burst: int
    want: int


class _LocalBuckets:
    def __init__(self) -> None:
        self._state: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, buckets: list[Bucket]) -> list[int]:
        now = time.monotonic()
        granted = []
        with self._lock:
            for bucket in buckets:
                tokens, ts = self._state.get(bucket.key, (float(bucket.burst), now))
                tokens = min(bucket.burst, tokens + max(0.0, now - ts) * bucket.rate)
                give = min(bucket.want, int(tokens))
                self._state[bucket.key] = (tokens - give, now)
                granted.append(give)
        return granted

    def clear(self) -> None:
        with self._lock:
            self._state.clear()


_local = _LocalBuckets()
_script = None
_chained_script = None


def take(buckets: list[Bucket]) -> list[int]:
    """How many of the wanted tokens each bucket grants, in order."""
    if not buckets:
        return []
    if settings.REDIS_URL is None:
        return _local.take(buckets)
    global _script
    from django_redis import get_redis_connection

    client = get_redis_connection("default")
    if _script is None:
        _script = client.register_script(_LUA)
    args: list[float | int] = []
    for bucket in buckets:
        args += [bucket.rate, bucket.burst, bucket.want]
    keys = [f"ph:rl:{bucket.key}" for bucket in buckets]
    return [int(n) for n in _script(keys=keys, args=args, client=client)]


def take_chained(viewers: list[Bucket], community: Bucket) -> tuple[list[int], int]:
    """Viewer buckets first, then the community bucket for the sum they granted; one round trip.
    `community.want` is ignored."""
    if settings.REDIS_URL is None:
        granted = _local.take(viewers)
        (shared,) = _local.take(
            [Bucket(community.key, community.rate, community.burst, sum(granted))]
        )
        return granted, shared
    global _chained_script
    from django_redis import get_redis_connection

    client = get_redis_connection("default")
    if _chained_script is None:
        _chained_script = client.register_script(_LUA_CHAINED)
    args: list[float | int] = []
    for bucket in viewers:
        args += [bucket.rate, bucket.burst, bucket.want]
    args += [community.rate, community.burst, -1]
    keys = [f"ph:rl:{bucket.key}" for bucket in [*viewers, community]]
    result = [int(n) for n in _chained_script(keys=keys, args=args, client=client)]
    return result[:-1], result[-1]


def reset_local() -> None:
    _local.clear()
