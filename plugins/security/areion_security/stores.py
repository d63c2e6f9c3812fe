"""Where rate-limit counters live: this process's memory, or Redis shared by every worker and host.

Both stores implement the same two algorithms with the same arithmetic:

- **fixed window** — a counter per key that starts with the key's first hit and expires
  ``window`` seconds later; the ``limit + 1``-th hit in a window is refused until it ends;
- **token bucket** — GCRA (the generic cell rate algorithm, a token bucket kept as one
  timestamp, the "theoretical arrival time"): ``limit`` requests at once, then one every
  ``window / limit`` seconds; no window edge where twice the limit gets through.

The Redis store counts atomically, in Lua scripts run with EVALSHA, one round trip per
request at most: the hits of one event-loop turn (under load, every request of a batch of
connections) that share a scope go as one script call over all their keys, so the cost of a
call is paid once per batch, not once per request. A counter's key is
``prefix:{scope}:client``: the hash tag is the scope, so on a Redis Cluster all the counters
of one scope, and so every key of one script call, live in one slot. The clock is the Redis
server's (``TIME``), so hosts with skewed clocks still share one bucket.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
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

    def hit(self, scope: str, key: str, rate: Rate, algorithm: str) -> Any:
        """Count one request of ``key`` in ``scope``: a :class:`Decision`, or an awaitable of one."""


class MemoryStore:
    """Counters in this process only: exact for one worker, per worker with ``workers > 1``."""

    #: Entries are swept of expired ones each time the table grows past this many.
    SWEEP_AT = 10_000

    def __init__(self, clock: Any = time.monotonic) -> None:
        self.clock = clock
        self.windows: dict[str, tuple[int, float]] = {}
        self.buckets: dict[str, float] = {}
        self._sweep_at = self.SWEEP_AT

    def hit(self, scope: str, key: str, rate: Rate, algorithm: str) -> Decision:
        key = f"{scope}|{key}"
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


# KEYS: the counters of one scope; ARGV[1] the window in ms. Returns, per key in order, its
# count and the ms until its window ends. A key named twice counts twice, in order.
_FIXED_WINDOW = """
local out = {}
for i, key in ipairs(KEYS) do
  local count = redis.call('INCR', key)
  local ttl = redis.call('PTTL', key)
  if ttl < 0 then
    redis.call('PEXPIRE', key, ARGV[1])
    ttl = tonumber(ARGV[1])
  end
  out[2 * i - 1] = count
  out[2 * i] = ttl
end
return out
"""

# KEYS: the buckets (their theoretical arrival times, ms on the Redis clock); ARGV[1] window
# ms, ARGV[2] limit. Returns, per key: allowed (1/0), remaining, ms until a retry may pass,
# ms until the bucket is full.
_TOKEN_BUCKET = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local window = tonumber(ARGV[1])
local emission = window / tonumber(ARGV[2])
local out = {}
for i, key in ipairs(KEYS) do
  local tat = tonumber(redis.call('GET', key)) or now
  if tat < now then tat = now end
  local allow_at = tat + emission - window
  local j = 4 * (i - 1)
  if allow_at > now then
    out[j + 1] = 0
    out[j + 2] = 0
    out[j + 3] = math.ceil(allow_at - now)
    out[j + 4] = math.ceil(tat - now)
  else
    local new_tat = tat + emission
    redis.call('SET', key, string.format('%.3f', new_tat), 'PX', math.max(1, math.ceil(new_tat - now)))
    out[j + 1] = 1
    out[j + 2] = math.floor((now - allow_at) / emission)
    out[j + 3] = 0
    out[j + 4] = math.ceil(new_tat - now)
  end
end
return out
"""

_SCRIPTS = {"fixed-window": _FIXED_WINDOW, "token-bucket": _TOKEN_BUCKET}
#: What EVALSHA names each script by (Redis's own digest of the source).
_SHAS = {name: hashlib.sha1(source.encode()).hexdigest() for name, source in _SCRIPTS.items()}
#: One waiting hit: its key and the future its decision is delivered to.
_Waiting = tuple[str, "asyncio.Future[Decision]"]


class RedisStore:
    """Counters in Redis: one limit for every worker on every host that uses the same Redis."""

    def __init__(self, url: str, prefix: str, timeout: float) -> None:
        self.url = url
        self.prefix = prefix
        self.timeout = timeout
        self._client: aioredis.Redis | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        #: The hits of this turn, by (scope, rate, algorithm): one script call each.
        self._batch: dict[tuple[str, Rate, str], list[_Waiting]] = {}
        self._sending: set[asyncio.Task[None]] = set()

    def key(self, scope: str, client: str) -> str:
        """The Redis key of one counter; the hash tag is the scope (one Cluster slot per scope)."""
        return f"{self.prefix}:{{{scope}}}:{client}"

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
        return self._client

    def hit(self, scope: str, key: str, rate: Rate, algorithm: str) -> asyncio.Future[Decision]:
        """Join this turn's batch; the future resolves when Redis has counted the batch."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Decision] = loop.create_future()
        batch = self._batch
        if not batch:
            loop.call_soon(self._flush)  # after every hit of this turn has joined
        group = batch.get((scope, rate, algorithm))
        if group is None:
            batch[(scope, rate, algorithm)] = [(key, future)]
        else:
            group.append((key, future))
        return future

    def _flush(self) -> None:
        batch, self._batch = self._batch, {}
        task = asyncio.ensure_future(self._send(batch))
        self._sending.add(task)  # held: the loop keeps only weak references to tasks
        task.add_done_callback(self._sending.discard)

    async def _send(self, batch: dict[tuple[str, Rate, str], list[_Waiting]]) -> None:
        try:
            replies = await self._execute(batch)
        except Exception as exc:  # the store is down: every request of the batch decides alone
            for group in batch.values():
                for _, future in group:
                    if not future.done():
                        future.set_exception(exc)
            return
        for (_scope, rate, algorithm), reply in zip(batch, replies, strict=True):
            group = batch[(_scope, rate, algorithm)]
            for i, (_, future) in enumerate(group):
                if future.done():  # the request was cancelled meanwhile
                    continue
                if isinstance(reply, Exception):
                    future.set_exception(reply)
                else:
                    future.set_result(_decision(reply, i, rate, algorithm))

    async def _execute(self, batch: dict[tuple[str, Rate, str], list[_Waiting]]) -> list[Any]:
        from redis.exceptions import NoScriptError

        client = self._redis()
        replies: list[Any] = []
        for attempt in range(2):
            pipe = client.pipeline(transaction=False)
            for (scope, rate, algorithm), group in batch.items():
                keys = [self.key(scope, key) for key, _ in group]
                window_ms = rate.window * 1000
                args = (window_ms, rate.limit) if algorithm == "token-bucket" else (window_ms,)
                pipe.evalsha(_SHAS[algorithm], len(keys), *keys, *args)
            replies = await pipe.execute(raise_on_error=False)
            if attempt == 0 and any(isinstance(r, NoScriptError) for r in replies):
                # A new (or flushed) Redis: load the scripts once and send the batch again.
                for source in _SCRIPTS.values():
                    await client.script_load(source)
                continue
            break
        return replies

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None and self._loop is asyncio.get_running_loop():
            # Closing a client whose server is gone: nothing left to release.
            with contextlib.suppress(Exception):
                await client.aclose()


def _decision(reply: list[Any], i: int, rate: Rate, algorithm: str) -> Decision:
    """The decision for the ``i``-th key of a script's reply."""
    if algorithm == "token-bucket":
        allowed, remaining, retry_ms, reset_ms = reply[4 * i: 4 * i + 4]
        return Decision(bool(allowed), int(remaining), int(reset_ms) / 1000, int(retry_ms) / 1000)
    count, reset = int(reply[2 * i]), max(int(reply[2 * i + 1]), 0) / 1000
    if count <= rate.limit:
        return Decision(True, rate.limit - count, reset, 0.0)
    return Decision(False, 0, reset, reset)


def retry_seconds(value: float) -> int:
    """A ``Retry-After`` / ``t=`` value: whole seconds, rounded up, at least 1 when waiting."""
    return max(1, math.ceil(value)) if value > 0 else 0
