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

# Viewer buckets (all with the same rate and burst) then, last, the community's bucket, asked
# for what the viewers were granted. ARGV: viewer rate, burst, community rate, burst, wants...
_LUA_VIEWERS_THEN_COMMUNITY = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) * 1000 + math.floor(tonumber(now_parts[2]) / 1000)
local states = {}
for first = 1, #KEYS, 1000 do  -- one MGET per 1,000 buckets (Lua's unpack has a limit)
  local chunk = redis.call('MGET', unpack(KEYS, first, math.min(first + 999, #KEYS)))
  for j = 1, #chunk do states[first + j - 1] = chunk[j] end
end
local function take(i, rate, burst, want)
  local tokens, ts = burst, now
  local state = states[i]
  if state then  -- "tokens:timestamp_ms"
    local sep = string.find(state, ':', 1, true)
    tokens = tonumber(string.sub(state, 1, sep - 1))
    ts = tonumber(string.sub(state, sep + 1))
  end
  tokens = math.min(burst, tokens + math.max(0, now - ts) * rate / 1000)
  local give = math.min(want, math.floor(tokens))
  redis.call('SET', KEYS[i], tostring(tokens - give) .. ':' .. tostring(now),
             'PX', math.ceil(burst * 1000 / rate) + 1000)
  return give
end
local vrate, vburst = tonumber(ARGV[1]), tonumber(ARGV[2])
local granted, total = {}, 0
for i = 1, #KEYS - 1 do
  granted[i] = take(i, vrate, vburst, tonumber(ARGV[i + 4]))
  total = total + granted[i]
end
granted[#KEYS] = take(#KEYS, tonumber(ARGV[3]), tonumber(ARGV[4]), total)
return granted
"""


_LUA_GIVE_BACK = """
for i = 1, #KEYS do
  local n = tonumber(ARGV[i + 2])
  if n > 0 then
    local state = redis.call('GET', KEYS[i])
    local ttl = redis.call('PTTL', KEYS[i])
    if state and ttl > 0 then  -- an expired bucket is full already
      local sep = string.find(state, ':', 1, true)
      local burst = tonumber(ARGV[i == #KEYS and 2 or 1])
      local tokens = math.min(burst, tonumber(string.sub(state, 1, sep - 1)) + n)
      redis.call('SET', KEYS[i], tostring(tokens) .. ':' .. string.sub(state, sep + 1), 'PX', ttl)
    end
  end
end
return 1
"""

# One bucket, one token: returns {granted (0 or 1), tokens left as a string}.
# ARGV: rate (tokens per second), burst.
_LUA_TAKE_ONE = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) * 1000 + math.floor(tonumber(now_parts[2]) / 1000)
local rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local tokens, ts = burst, now
local state = redis.call('GET', KEYS[1])
if state then
  local sep = string.find(state, ':', 1, true)
  tokens = tonumber(string.sub(state, 1, sep - 1))
  ts = tonumber(string.sub(state, sep + 1))
end
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate / 1000)
local give = 0
if tokens >= 1 then
  give = 1
  tokens = tokens - 1
end
redis.call('SET', KEYS[1], tostring(tokens) .. ':' .. tostring(now),
           'PX', math.ceil(burst * 1000 / rate) + 1000)
return {give, tostring(tokens)}
"""


@dataclass(frozen=True)
class Taken:
    """What one batch took, so a write that fails can give it back."""

    community_key: str
    viewer_keys: list[str]
    viewer_counts: list[int]
    community_count: int
    viewer_burst: int
    community_burst: int


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

    def take_one(self, bucket: Bucket) -> tuple[bool, float]:
        now = time.monotonic()
        with self._lock:
            tokens, ts = self._state.get(bucket.key, (float(bucket.burst), now))
            tokens = min(bucket.burst, tokens + max(0.0, now - ts) * bucket.rate)
            granted = tokens >= 1
            if granted:
                tokens -= 1
            self._state[bucket.key] = (tokens, now)
            if len(self._state) > 100_000:  # addresses come and go: keep only live buckets
                self._forget_full(now)
        return granted, tokens

    def _forget_full(self, now: float) -> None:
        for key, (_tokens, ts) in list(self._state.items()):
            if now - ts > 3600:
                del self._state[key]

    def give_back(self, key: str, count: int, burst: int) -> None:
        with self._lock:
            if key in self._state:
                tokens, ts = self._state[key]
                self._state[key] = (min(float(burst), tokens + count), ts)

    def clear(self) -> None:
        with self._lock:
            self._state.clear()


_local = _LocalBuckets()
_chained_script = None
_give_back_script = None
_take_one_script = None


def take_one(key: str, *, rate: float, burst: int) -> tuple[bool, float]:
    """One token from one bucket (shared by every process through Redis): (granted, tokens
    left), so a caller can tell how long until the next token (`(1 - left) / rate`)."""
    if settings.REDIS_URL is None:
        return _local.take_one(Bucket(key, rate, burst, 1))
    global _take_one_script
    from django_redis import get_redis_connection

    client = get_redis_connection("default")
    if _take_one_script is None:
        _take_one_script = client.register_script(_LUA_TAKE_ONE)
    granted, left = _take_one_script(keys=[f"ph:rl2:{key}"], args=[rate, burst], client=client)
    return bool(int(granted)), float(left)


def take_for_viewers(
    community_key: str,
    viewer_keys: list[str],
    wants: list[int],
    *,
    viewer_rate: float,
    viewer_burst: int,
    community_rate: float,
    community_burst: int,
) -> tuple[list[int], int]:
    """Each viewer's bucket first, then the community's bucket for the sum they granted; one
    round trip. Returns (granted per viewer, granted by the community)."""
    if settings.REDIS_URL is None:
        granted = _local.take(
            [
                Bucket(k, viewer_rate, viewer_burst, w)
                for k, w in zip(viewer_keys, wants, strict=True)
            ]
        )
        (shared,) = _local.take(
            [Bucket(community_key, community_rate, community_burst, sum(granted))]
        )
        return granted, shared
    global _chained_script
    from django_redis import get_redis_connection

    client = get_redis_connection("default")
    if _chained_script is None:
        _chained_script = client.register_script(_LUA_VIEWERS_THEN_COMMUNITY)
    keys = [f"ph:rl2:{key}" for key in viewer_keys]
    keys.append(f"ph:rl2:{community_key}")
    args = [viewer_rate, viewer_burst, community_rate, community_burst, *wants]
    result = _chained_script(keys=keys, args=args, client=client)
    return [int(n) for n in result[:-1]], int(result[-1])


def give_back(taken: Taken) -> None:
    """Returns a failed write's tokens, so the retry of events that were never credited is not
    refused for the first attempt's sake."""
    if settings.REDIS_URL is None:
        for key, count in zip(taken.viewer_keys, taken.viewer_counts, strict=True):
            _local.give_back(key, count, taken.viewer_burst)
        _local.give_back(taken.community_key, taken.community_count, taken.community_burst)
        return
    global _give_back_script
    from django_redis import get_redis_connection

    client = get_redis_connection("default")
    if _give_back_script is None:
        _give_back_script = client.register_script(_LUA_GIVE_BACK)
    keys = [f"ph:rl2:{key}" for key in [*taken.viewer_keys, taken.community_key]]
    args = [taken.viewer_burst, taken.community_burst, *taken.viewer_counts, taken.community_count]
    _give_back_script(keys=keys, args=args, client=client)


def reset_local() -> None:
    _local.clear()
