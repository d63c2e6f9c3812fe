"""Where rate-limit counters live: this process's memory, or Redis shared by every worker and host.

Both stores implement the same two algorithms with the same arithmetic:

- **fixed window** — a counter per key that starts with the key's first hit and expires
  ``window`` seconds later; the ``limit + 1``-th hit in a window is refused until it ends;
- **token bucket** — GCRA (the generic cell rate algorithm, a token bucket kept as one
  timestamp, the "theoretical arrival time"): ``limit`` requests at once, then one every
  ``window / limit`` seconds; no window edge where twice the limit gets through.

The Redis store counts atomically in one Lua script (EVALSHA), and batches: one call is in
flight at a time, and the hits that arrive meanwhile (under load, the requests of many
connections) go together in the next call — one script call over all their keys, one per
hash slot on a Redis Cluster — its reply split back to the waiting requests. A key hit n
times in one batch is counted once by n (``INCRBY``), its hits ranked in arrival order, so
the counts stay exact. A counter's key is ``prefix:{scope}:client``: the hash tag is the
scope, so on a Redis Cluster every counter of one scope lives in one slot and a batch costs
one call per slot its scopes hash to. The clock is the Redis server's (``TIME``), so hosts
with skewed clocks still share one bucket.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from areion_redis import RedisSettings, acquire_client, ready, release_client

from areion_core import ConfigError

from .rates import Rate

if TYPE_CHECKING:
    from redis.asyncio import Redis, RedisCluster


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


# One batch of counters in one hash slot. KEYS: the counters; ARGV, four per key: the
# algorithm (0 fixed window, 1 token bucket), the hits n (>= 1), the window (ms), the limit.
# Returns two integers per key:
# - fixed window: the count after the n hits (INCRBY n) and the ms until the window ends;
# - token bucket (GCRA, the theoretical arrival time kept in ms on the Redis clock): how many
#   of the n hits were allowed (always the first ones: a refusal changes nothing, so the rest
#   are refused too), and the microseconds from now to the TAT before the hits.
_COUNT = """
local out = {}
local now = nil
for i, key in ipairs(KEYS) do
  local j = 4 * (i - 1)
  local n = tonumber(ARGV[j + 2])
  local window = tonumber(ARGV[j + 3])
  if ARGV[j + 1] == '0' then
    local count = redis.call('INCRBY', key, n)
    local ttl = redis.call('PTTL', key)
    if ttl < 0 then
      redis.call('PEXPIRE', key, window)
      ttl = window
    end
    out[2 * i - 1] = count
    out[2 * i] = ttl
  else
    if now == nil then
      local t = redis.call('TIME')
      now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
    end
    local emission = window / tonumber(ARGV[j + 4])
    local tat = tonumber(redis.call('GET', key)) or now
    if tat < now then tat = now end
    local start = tat
    local allowed = 0
    while allowed < n and tat + emission - window <= now do
      tat = tat + emission
      allowed = allowed + 1
    end
    if allowed > 0 then
      redis.call('SET', key, string.format('%.3f', tat), 'PX', math.max(1, math.ceil(tat - now)))
    end
    out[2 * i - 1] = allowed
    out[2 * i] = math.floor((start - now) * 1000 + 0.5)
  end
end
return out
"""
#: What EVALSHA names the script by (Redis's own digest of the source).
_SHA = hashlib.sha1(_COUNT.encode()).hexdigest()


def _bulk(value: bytes) -> bytes:
    """One RESP bulk string."""
    return b"$%d\r\n%s\r\n" % (len(value), value)


#: The packed ``EVALSHA <sha>`` that opens every call (RESP: the array's length comes first).
_EVALSHA = _bulk(b"EVALSHA") + _bulk(_SHA.encode())
#: The cancellation message of a call that ran past the store's timeout (see _call_bounded).
_TIMED_OUT = "rate-limit store timeout"


# redis-py's errors the store tells apart, imported with the client on first use (an app with
# the memory store never imports redis-py).
NoScriptError: Any = None
ResponseError: Any = None
BrokenConnection: Any = None


def _load_errors() -> None:
    global NoScriptError, ResponseError, BrokenConnection
    from redis import exceptions

    NoScriptError, ResponseError = exceptions.NoScriptError, exceptions.ResponseError
    BrokenConnection = exceptions.ConnectionError


#: What turns a hit's outcome (its Decision, or the store's failure) into its future's result:
#: ``answer(request, rule, outcome)`` (see ``RedisStore.hit_answer``).
Answer = Callable[[Any, Any, "Decision | Exception"], Any]
#: One waiting hit: its future, and its answer with the two values it is called with (None: the
#: future gets the Decision itself, or the failure as its exception).
_Waiting = tuple["asyncio.Future[Any]", Answer | None, Any, Any]


class _Counter:
    """The hits of one batch on one counter: one key (and rule), the waiting hits in arrival order."""

    __slots__ = ("algorithm", "key", "rate", "waiting")

    def __init__(self, key: str, rate: Rate, algorithm: str) -> None:
        self.key = key
        self.rate = rate
        self.algorithm = algorithm
        self.waiting: list[_Waiting] = []

    def args(self) -> tuple[int, ...]:
        rate = self.rate
        return (int(self.algorithm == "token-bucket"), len(self.waiting), rate.window * 1000, rate.limit)

    def packed_args(self) -> bytes:
        """``args()`` as the script's four RESP bulk strings (all but the hits made once per rule)."""
        rate = self.rate
        rule = (self.algorithm, rate.window, rate.limit)
        packed = _PACKED_RULES.get(rule)
        if packed is None:
            if len(_PACKED_RULES) >= 1024:  # rules are few; a store fed made-up ones stays bounded
                _PACKED_RULES.clear()
            algorithm, window, limit = (_bulk(b"%d" % value) for value in (
                self.algorithm == "token-bucket", rate.window * 1000, rate.limit))
            packed = _PACKED_RULES[rule] = (algorithm, window + limit)
        return packed[0] + _bulk(b"%d" % len(self.waiting)) + packed[1]

    def deliver(self, first: int, second: int) -> None:
        """Hand each waiting hit its decision, from the script's two integers for this key."""
        rate = self.rate
        waiting = self.waiting
        if self.algorithm == "token-bucket":
            decisions = _bucket_decisions(rate, len(waiting), first, second)
        else:
            decisions = _window_decisions(rate, len(waiting), first, max(second, 0) / 1000)
        for hit, decision in zip(waiting, decisions, strict=True):
            _settle(hit, decision)

    def fail(self, exc: Exception) -> None:
        for hit in self.waiting:
            _settle(hit, exc)


#: (algorithm, window, limit) → the packed algorithm flag, and the packed window and limit.
_PACKED_RULES: dict[tuple[str, int, int], tuple[bytes, bytes]] = {}


def _packed_call(group: list[_Counter]) -> bytes:
    """The whole ``EVALSHA`` of one batch as RESP, made at once (redis-py encodes each argument
    in a call of its own: most of a batch's cost before this)."""
    head = b"*%d\r\n" % (3 + 5 * len(group)) + _EVALSHA + _bulk(b"%d" % len(group))
    return b"".join((head, *(_bulk(c.key.encode()) for c in group), *(c.packed_args() for c in group)))


def _settle(hit: _Waiting, outcome: Decision | Exception) -> None:
    future, answer, request, rule = hit
    if future.done():  # the request was cancelled meanwhile
        return
    if answer is None:
        if isinstance(outcome, Exception):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)
        return
    try:
        future.set_result(answer(request, rule, outcome))
    except Exception as exc:  # the answer failed: that request's error, not the batch's
        future.set_exception(exc)


def _window_decisions(rate: Rate, n: int, count: int, reset: float) -> list[Decision]:
    """The decisions of n hits that took a fixed window's counter to ``count``, in order."""
    limit = rate.limit
    refused = _tuple_new(Decision, (False, 0, reset, reset))
    # tuple.__new__ makes each Decision in C (the NamedTuple's own __new__ is a Python call).
    return [_tuple_new(Decision, (True, limit - seen, reset, 0.0)) if seen <= limit else refused
            for seen in range(count - n + 1, count + 1)]


_tuple_new = tuple.__new__


def _bucket_decisions(rate: Rate, n: int, allowed: int, start_us: int) -> list[Decision]:
    """The decisions of n hits on a GCRA bucket whose TAT was ``start_us`` ahead of now."""
    window = rate.window * 1000.0
    emission = window / rate.limit
    start = start_us / 1000
    out = []
    for i in range(n):
        if i < allowed:
            after = start + (i + 1) * emission  # the TAT once this hit is counted, ms from now
            out.append(Decision(True, int((window - after) // emission), after / 1000, 0.0))
        else:
            tat = start + allowed * emission
            out.append(Decision(False, 0, math.ceil(tat) / 1000, math.ceil(tat + emission - window) / 1000))
    return out


class RedisStore:
    """Counters in Redis: one limit for every worker on every host that uses the same Redis.

    ``redis`` is an ``areion_redis.RedisSettings`` (standalone, Sentinel or Cluster) or a URL;
    the client comes from ``areion_redis`` with the store's fail-fast options (``timeout``
    seconds to connect or answer, one retry of a broken connection, none of a timeout), so a
    Redis that is down costs a request one timeout at most.
    """

    def __init__(self, redis: str | RedisSettings, prefix: str = "areion:ratelimit", timeout: float = 0.5) -> None:
        if isinstance(redis, str):
            try:
                redis = RedisSettings.from_url(redis)
            except (ConfigError, ValueError) as exc:
                raise ValueError(f"redis url {redis!r}: {exc}") from None
        if "{" in prefix or "}" in prefix:
            raise ValueError(f"prefix {prefix!r}: without braces (the scope is the keys' hash tag)")
        self.settings = dataclasses.replace(
            redis, retries=1, retry_on_timeout=False, socket_timeout=timeout, connect_timeout=timeout)
        self.prefix = prefix
        self.timeout = timeout
        self._client: Redis | RedisCluster | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        #: Hits waiting for the next call, by counter (key, rate, algorithm).
        self._queue: dict[tuple[str, int, int, str], _Counter] = {}
        self._scheduled = False
        #: The task sending batches while one is in flight (None: idle).
        self._sender: asyncio.Task[None] | None = None
        #: scope → its keys' prefix (the hash tag made once).
        self._tags: dict[str, str] = {}
        #: Cluster only: each key prefix's hash slot.
        self._slots: dict[str, int] = {}
        #: One server: the sender task while a call is in flight, when that call started, and
        #: the watchdog timer bounding it (see _call_bounded).
        self._calling: asyncio.Task[None] | None = None
        self._call_started = 0.0
        self._watchdog: asyncio.TimerHandle | None = None
        #: One server: the pooled connection the store keeps for its calls (see _call_direct),
        #: and its socket timeout as the pool made it (off while the store holds it).
        self._conn: Any = None
        self._conn_timeout: float | None = None
        #: The client's cluster slots are known (``areion_redis.ready``).
        self._ready = False

    @property
    def url(self) -> str:
        """Where the store points, without credentials (logs and errors)."""
        return self.settings.describe()

    def key(self, scope: str, client: str) -> str:
        """The Redis key of one counter; the hash tag is the scope (one Cluster slot per scope)."""
        tag = self._tags.get(scope)
        if tag is None:
            # Braces in a scope (a route template /users/{id}) would end the tag early: escape them.
            escaped = scope.replace("%", "%25").replace("{", "%7B").replace("}", "%7D") or "%"
            tag = self._tags[scope] = f"{self.prefix}:{{{escaped}}}:"
        return tag + client

    def _redis(self) -> Redis | RedisCluster:
        loop = asyncio.get_running_loop()
        # A client's connections belong to the loop that made them: a store used from a new
        # loop (a test, a CLI command) acquires that loop's client rather than use a broken one.
        if self._client is None or self._loop is not loop:
            self._client = acquire_client(self.settings)
            self._loop = loop
            self._conn = None  # a connection of another loop's client
            self._watchdog = None  # (a timer of the other loop)
            self._ready = False
            _load_errors()
        return self._client

    def hit(self, scope: str, key: str, rate: Rate, algorithm: str) -> asyncio.Future[Decision]:
        """Join the next batch; the future resolves when Redis has counted it (or fails with the store)."""
        return self.hit_answer(scope, key, rate, algorithm, None, None, None)

    def hit_answer(self, scope: str, key: str, rate: Rate, algorithm: str, answer: Answer | None,
                   request: Any, rule: Any) -> asyncio.Future[Any]:
        """``hit``, its future resolved with ``answer(request, rule, outcome)`` instead: the outcome
        is the Decision or the store's failure (an exception). The limiter answers this way, so a
        waiting request resumes with its response made, without a coroutine of its own."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        name = self.key(scope, key)
        # Keyed by the rate's numbers: hashing the Rate itself is a Python-level call.
        queued = (name, rate.limit, rate.window, algorithm)
        counter = self._queue.get(queued)
        if counter is None:
            counter = self._queue[queued] = _Counter(name, rate, algorithm)
        counter.waiting.append((future, answer, request, rule))
        if self._sender is None and not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._start)  # after every hit of this turn has joined
        return future

    def _start(self) -> None:
        self._scheduled = False
        if self._sender is None and self._queue:
            self._sender = asyncio.get_running_loop().create_task(self._send())

    async def _send(self) -> None:
        """Send the queue, then what queued meanwhile, until nothing waits: one call in flight."""
        try:
            while self._queue:
                batch, self._queue = list(self._queue.values()), {}
                failed = await self._count(batch)
                if failed is not None:
                    # Hits that queued behind a failed call would wait for another failure:
                    # they decide now, as the batch did.
                    queued, self._queue = list(self._queue.values()), {}
                    for counter in queued:
                        counter.fail(failed)
        finally:
            self._sender = None

    async def _count(self, batch: list[_Counter]) -> Exception | None:
        """Count ``batch`` (one script call per hash slot) and deliver; the failure, if any."""
        try:
            client = self._redis()
            if not self._ready:
                await ready(client)
                self._ready = True
            groups = self._by_slot(client, batch)
            if len(groups) == 1:
                outcomes: list[Any] = [await self._call(client, groups[0])]
            else:
                outcomes = await asyncio.gather(*(self._call(client, g) for g in groups), return_exceptions=True)
        except Exception as exc:  # the store is down: every request of the batch decides alone
            for counter in batch:
                counter.fail(exc)
            return exc
        except asyncio.CancelledError:  # closed with a call in flight: its requests decide alone
            closed = ConnectionError(f"the rate-limit store at {self.url} was closed")
            for counter in batch:
                counter.fail(closed)
            raise
        failed: Exception | None = None
        for group, reply in zip(groups, outcomes, strict=True):
            if isinstance(reply, BaseException):
                if not isinstance(reply, Exception):
                    raise reply  # a cancellation: the loop is closing
                failed = reply
                for counter in group:
                    counter.fail(reply)
                continue
            for i, counter in enumerate(group):
                counter.deliver(int(reply[2 * i]), int(reply[2 * i + 1]))
        return failed

    def _by_slot(self, client: Redis | RedisCluster, batch: list[_Counter]) -> list[list[_Counter]]:
        if self.settings.mode != "cluster":
            return [batch]
        groups: dict[int, list[_Counter]] = {}
        slots = self._slots
        for counter in batch:
            tag = counter.key[: counter.key.index("}") + 1]
            slot = slots.get(tag)
            if slot is None:
                slot = slots[tag] = client.keyslot(tag)  # type: ignore[union-attr]  # a cluster client
            group = groups.get(slot)
            if group is None:
                groups[slot] = [counter]
            else:
                group.append(counter)
        return list(groups.values())

    async def _call(self, client: Redis | RedisCluster, group: list[_Counter]) -> Any:
        if self.settings.mode != "cluster":
            return await self._call_bounded(client, group)  # type: ignore[arg-type]  # not a cluster
        keys = [counter.key for counter in group]
        args = [value for counter in group for value in counter.args()]
        try:
            return await client.evalsha(_SHA, len(keys), *keys, *args)
        except NoScriptError:
            # A new (or flushed) Redis: EVAL runs the script and caches it there for EVALSHA.
            return await client.eval(_COUNT, len(keys), *keys, *args)

    async def _call_bounded(self, client: Redis, group: list[_Counter]) -> Any:
        """``_call_direct`` within the store's timeout, for the whole call (writing, reading, the
        retry on a new connection), instead of redis-py's timeout per read and per write (a task
        and a timeout context per call). Past it, the call is cancelled, its connection dropped,
        and the batch fails with a TimeoutError.

        The bound is a watchdog (``_watch``), not a timer per call: a loop timer costs about
        9k instructions to arm and cancel, and calls follow each other back to back under load.
        """
        task = asyncio.current_task()
        assert task is not None  # the store's sender task
        loop = task.get_loop()
        self._calling = task
        self._call_started = started = loop.time()
        if self._watchdog is None:
            self._watchdog = loop.call_at(started + self.timeout, self._watch)
        try:
            return await self._call_direct(client, group)
        except asyncio.CancelledError as exc:
            if not (exc.args and exc.args[0] is _TIMED_OUT):
                raise
            task.uncancel()
            raise TimeoutError(f"the rate-limit store at {self.url} did not answer within {self.timeout:g}s") from None
        finally:
            self._calling = None

    def _watch(self) -> None:
        """Cancel the call in flight once it has run for the store's timeout; else look again
        when the one in flight (if any) would run out."""
        self._watchdog = None
        task = self._calling
        if task is None:
            return  # idle: the next call sets the watchdog again
        deadline = self._call_started + self.timeout
        loop = task.get_loop()
        if loop.time() >= deadline:
            task.cancel(_TIMED_OUT)
        else:
            self._watchdog = loop.call_at(deadline, self._watch)

    async def _call_direct(self, client: Redis, group: list[_Counter]) -> Any:
        """The script on the store's own pooled connection (one server: standalone or Sentinel).

        Only one call is ever in flight, so the store keeps one connection from the client's
        pool instead of taking one and giving it back per call, and skips the client's
        per-command machinery: the call is packed whole (``_packed_call``) and bounded by the
        caller's one timer (the connection's own per-read timeout is off while the store
        holds it). A broken connection is given back, disconnected, and the call tried once
        more on a new one (a restarted server; behind Sentinel, a new connection asks for the
        new primary); a timeout is not retried.
        """
        for attempt in (0, 1):
            conn = self._conn
            if conn is None:
                conn = await client.connection_pool.get_connection()  # type: ignore[no-untyped-call]
                self._conn, self._conn_timeout = conn, conn.socket_timeout
                conn.socket_timeout = None
            try:
                try:
                    await conn.send_packed_command(_packed_call(group))
                    return await conn.read_response()
                except NoScriptError:
                    # A new (or flushed) Redis: EVAL runs the script and caches it there for EVALSHA.
                    keys = [counter.key for counter in group]
                    await conn.send_command("EVAL", _COUNT, len(keys), *keys,
                                            *(value for counter in group for value in counter.args()))
                    return await conn.read_response()
            except ResponseError:
                raise  # an error reply: the connection is fine
            except BaseException as exc:
                await self._drop_connection(client)
                if attempt == 0 and isinstance(exc, BrokenConnection):
                    continue
                raise
        raise AssertionError("unreachable")  # pragma: no cover

    async def _drop_connection(self, client: Redis) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.socket_timeout = self._conn_timeout  # as the pool made it, for its next holder
            with contextlib.suppress(Exception):
                await conn.disconnect()
            with contextlib.suppress(Exception):
                await client.connection_pool.release(conn)

    async def close(self) -> None:
        """Stop sending (a call in flight is cancelled, its requests failed) and give the client back."""
        sender = self._sender
        if sender is not None and not sender.done() and sender.get_loop() is asyncio.get_running_loop():
            sender.cancel()
            await asyncio.gather(sender, return_exceptions=True)
        queued, self._queue = list(self._queue.values()), {}
        for counter in queued:
            counter.fail(ConnectionError(f"the rate-limit store at {self.url} was closed"))
        client, self._client = self._client, None
        if client is not None and self._loop is asyncio.get_running_loop():
            if self.settings.mode != "cluster":
                await self._drop_connection(client)  # type: ignore[arg-type]  # one server
            # Closing a client whose server is gone: nothing left to release.
            with contextlib.suppress(Exception):
                await release_client(self.settings)


def retry_seconds(value: float) -> int:
    """A ``Retry-After`` / ``t=`` value: whole seconds, rounded up, at least 1 when waiting."""
    return max(1, math.ceil(value)) if value > 0 else 0
