"""Where rate-limit counters live: this process's memory, or Redis shared by every worker and host.

Both stores implement the same two algorithms with the same arithmetic:

- **fixed window** — a counter per key that starts with the key's first hit and expires
  ``window`` seconds later; the ``limit + 1``-th hit in a window is refused until it ends;
- **token bucket** — GCRA (the generic cell rate algorithm, a token bucket kept as one
  timestamp, the "theoretical arrival time"): ``limit`` requests at once, then one every
  ``window / limit`` seconds; no window edge where twice the limit gets through.

The Redis store does each hit in one round trip and atomically, as a Lua script run with
EVALSHA (redis-py's ``register_script``); a key holds its whole identity inside a hash tag
(``prefix:{scope|client}``), so on a Redis Cluster each counter lives in one slot. Its clock
is the Redis server's (``TIME``), so hosts with skewed clocks still share one bucket.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from .rates import Rate

if TYPE_CHECKING:
    import redis.asyncio as aioredis


class Decision(NamedTuple):
    """The outcome of one hit: allowed or not, what is left, and when it comes back (seconds)."""

    allowed: bool
    remaining: int
    #: Seconds until the quota is whole again (the window's end; a full bucket).
    reset: float
    #: Seconds until a refused request may be retried (0 when allowed).
    retry_after: float


class RateLimitStore(Protocol):
    """What a store offers the limiter (``MemoryStore`` answers at once, ``RedisStore`` awaits)."""

    def hit(self, key: str, rate: Rate, algorithm: str) -> Any:
        """Count one request against ``key``: a :class:`Decision`, or an awaitable of one."""


class MemoryStore:
    """Counters in this process only: exact for one worker, per worker with ``workers > 1``."""

    #: Entries are swept of expired ones each time the table grows past this many.
    SWEEP_AT = 10_000

    def __init__(self, clock: Any = time.monotonic) -> None:
        self.clock = clock
        self.windows: dict[str, tuple[int, float]] = {}
        self.buckets: dict[str, float] = {}
        self._sweep_at = self.SWEEP_AT

    def hit(self, key: str, rate: Rate, algorithm: str) -> Decision:
        now = self.clock()
        if algorithm == "token-bucket":
            return self._bucket(key, rate, now)
        count, end = self.windows.get(key, (0, 0.0))
        if now >= end:
            count, end = 0, now + rate.window
            if len(self.windows) >= self._sweep_at:
                self._sweep(now)
        count += 1
        self.windows[key] = (count, end)
        if count <= rate.limit:
            return Decision(True, rate.limit - count, end - now, 0.0)
        return Decision(False, 0, end - now, end - now)

    def _bucket(self, key: str, rate: Rate, now: float) -> Decision:
        emission = rate.window / rate.limit
        tat = max(self.buckets.get(key, now), now)
        allow_at = tat + emission - rate.window
        if allow_at > now:
            return Decision(False, 0, tat - now, allow_at - now)
        if len(self.buckets) >= self._sweep_at:
            self._sweep(now)
        self.buckets[key] = tat + emission
        return Decision(True, int((now - allow_at) / emission), tat + emission - now, 0.0)

    def _sweep(self, now: float) -> None:
        self.windows = {k: v for k, v in self.windows.items() if v[1] > now}
        self.buckets = {k: v for k, v in self.buckets.items() if v > now}
        # Many live keys: sweep again only when the table has doubled.
        self._sweep_at = max(self.SWEEP_AT, 2 * (len(self.windows) + len(self.buckets)))


# KEYS[1] the counter; ARGV[1] the window in ms. Returns {count, ms until the window ends}.
_FIXED_WINDOW = """
local count = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {count, ttl}
"""

# KEYS[1] the bucket's theoretical arrival time (ms, Redis clock); ARGV[1] window ms, ARGV[2]
# limit. Returns {allowed, remaining, ms until retry, ms until the bucket is full}.
_TOKEN_BUCKET = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local window = tonumber(ARGV[1])
local emission = window / tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
local allow_at = tat + emission - window
if allow_at > now then
  return {0, 0, math.ceil(allow_at - now), math.ceil(tat - now)}
end
local new_tat = tat + emission
redis.call('SET', KEYS[1], string.format('%.3f', new_tat), 'PX', math.max(1, math.ceil(new_tat - now)))
return {1, math.floor((now - allow_at) / emission), 0, math.ceil(new_tat - now)}
"""


class RedisStore:
    """Counters in Redis: one limit for every worker on every host that uses the same Redis."""

    def __init__(self, url: str, prefix: str, timeout: float) -> None:
        self.url = url
        self.prefix = prefix
        self.timeout = timeout
        self._client: aioredis.Redis | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._scripts: dict[str, Any] = {}

    def key(self, identity: str) -> str:
        """The Redis key of one counter: its identity in a hash tag (one Cluster slot per counter)."""
        return f"{self.prefix}:{{{identity}}}"

    def _redis(self) -> aioredis.Redis:
        loop = asyncio.get_running_loop()
        # Connections belong to the loop that opened them: a new loop (a test, a CLI command)
        # gets a new client instead of a broken one.
        if self._client is None or self._loop is not loop:
            import redis.asyncio as aioredis
            from redis.asyncio.retry import Retry
            from redis.backoff import NoBackoff
            from redis.exceptions import ConnectionError as BrokenConnection

            pool = aioredis.BlockingConnectionPool.from_url(
                self.url, max_connections=64, timeout=self.timeout,
                socket_timeout=self.timeout, socket_connect_timeout=self.timeout,
                # One immediate retry replaces a pooled connection a restarted server closed;
                # a timeout is not retried, so an outage costs one timeout per request at most.
                retry=Retry(NoBackoff(), 1, supported_errors=(BrokenConnection,)),
            )
            self._client = aioredis.Redis.from_pool(pool)
            self._loop = loop
            self._scripts = {
                "fixed-window": self._client.register_script(_FIXED_WINDOW),
                "token-bucket": self._client.register_script(_TOKEN_BUCKET),
            }
        return self._client

    async def hit(self, key: str, rate: Rate, algorithm: str) -> Decision:
        client = self._redis()
        window_ms = rate.window * 1000
        if algorithm == "token-bucket":
            allowed, remaining, retry_ms, reset_ms = await self._scripts[algorithm](
                keys=[self.key(key)], args=[window_ms, rate.limit], client=client)
            return Decision(bool(allowed), int(remaining), int(reset_ms) / 1000, int(retry_ms) / 1000)
        count, ttl_ms = await self._scripts[algorithm](keys=[self.key(key)], args=[window_ms], client=client)
        reset = max(int(ttl_ms), 0) / 1000
        if int(count) <= rate.limit:
            return Decision(True, rate.limit - int(count), reset, 0.0)
        return Decision(False, 0, reset, reset)

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None and self._loop is asyncio.get_running_loop():
            # Closing a client whose server is gone: nothing left to release.
            with contextlib.suppress(Exception):
                await client.aclose()


def retry_seconds(value: float) -> int:
    """A ``Retry-After`` / ``t=`` value: whole seconds, rounded up, at least 1 when waiting."""
    return max(1, math.ceil(value)) if value > 0 else 0
