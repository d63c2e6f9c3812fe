"""Who runs the scheduler: one process out of many workers and hosts.

With Redis, every process campaigns for one lease key (``SET key token NX PX ttl``); the
holder renews it on a heartbeat with a compare-and-set script, steps down on its own once it
could not renew for 90% of the TTL, and deletes the key (only if it still holds it) on
shutdown. A follower polls on the same heartbeat and, when the key has little time left,
again just after it would expire, so a dead holder is replaced within one lease period.

The lease alone leaves a gap: a holder that ran a tick and died, and a successor that finds
the same tick still due (within ``misfire_grace_time``), would both run it. So each tick is
also claimed with ``SET <prefix>tick:<job>:<fire time ms> NX EX``; only the process that sets
the key runs the tick. Without Redis, a lock file elects one process per host (``lock_file.py``).

A Redis that restarts without persistence (or is flushed) forgets those claims. So a process
taking the lease also reads when Redis started, and skips ticks due before that: whether they
ran is no longer known, and a tick runs at most once.

Behind Sentinel a failover can lose the last writes the old primary had not yet passed on,
a tick claim among them, and the promoted replica would let the tick be claimed again. So
with ``replica_ack`` (the default behind Sentinel) a claim is followed, on the same
connection, by ``WAIT 1 <replica_ack_timeout>``: the tick runs only when a replica holds the
claim; when none acknowledged in time the tick is skipped. The rule is at most once: a
failover (or a replica that lags past the timeout) may cost a tick, never run one twice.

The client comes from ``areion_redis`` (standalone, Sentinel, Cluster), with the lease's own
options: no retry on a timeout, one on a broken connection, timeouts of one heartbeat.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from areion_redis import RedisSettings, acquire_client, close_clients, get_client, release_client

# 1: renewed; 0: another process holds the lease; -1: nobody does (the key is gone).
_RENEW = """
local holder = redis.call('get', KEYS[1])
if holder == ARGV[1] then
    return redis.call('pexpire', KEYS[1], ARGV[2])
end
if holder then return 0 end
return -1
"""
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('del', KEYS[1])
end
return 0
"""
#: A holder stops scheduling once this fraction of the TTL passed without a renewal, so it
#: has stepped down before the key expires in Redis and a follower can take it.
_SAFE_FRACTION = 0.9


class Leadership:
    """Whether this process runs the scheduler; subclasses decide and call back on changes."""

    is_leader: bool = False
    #: The tick guard (see ``executor.TickClaim``), when several processes may schedule.
    claim: Any = None

    async def start(self, elected: Callable[[], None], deposed: Callable[[], None]) -> None:
        """Begin; call ``elected()`` when this process becomes the scheduler, ``deposed()`` when
        it stops being it."""
        raise NotImplementedError

    def stop_campaign(self) -> None:
        """Do not try to become the scheduler any more (shutdown has begun)."""

    async def stop(self, keep_while: Callable[[], bool] | None = None) -> None:
        """Stop campaigning and give up leadership (releasing the lease), freeing resources.

        With ``keep_while`` (a job of this process still runs: shutdown abandoned its thread),
        a leader keeps the lease from a daemon thread until ``keep_while()`` turns false, then
        releases it; if the process exits first, the lease ends with it. So another process
        never starts the next tick beside a run of this one.
        """


class RedisLease(Leadership):
    """A lease in Redis held by at most one process at a time (see the module docstring)."""

    def __init__(self, redis: RedisSettings | str, key_prefix: str, ttl: float, heartbeat: float,
                 logger: Callable[[], logging.Logger], *, replica_ack: bool = False,
                 replica_ack_timeout: float = 0.5) -> None:
        if isinstance(redis, str):
            redis = RedisSettings.from_url(redis)
        # No retry on a timeout: the heartbeat is the retry loop, and a call must fail within
        # one heartbeat so the expiry timer, not a hung socket, decides when to step down. One
        # immediate retry on a broken connection: after Redis restarts (or fails over) every
        # pooled connection is dead, and the first command on each would fail although Redis
        # is back (a lost beat, a tick skipped as "unreachable").
        self.settings = dataclasses.replace(
            redis, retries=1, retry_on_timeout=False, backoff_base=0.0, backoff_cap=0.0,
            socket_timeout=max(heartbeat, replica_ack_timeout + 0.5), connect_timeout=heartbeat)
        self.url = redis.describe()
        self.replica_ack = replica_ack
        self.replica_ack_timeout = replica_ack_timeout
        self.key = f"{key_prefix}lease"
        self.tick_prefix = f"{key_prefix}tick:"
        self.ttl = ttl
        self.heartbeat = heartbeat
        #: What the lease key holds while this process leads: ``host:pid:random``.
        self.token = f"{socket.gethostname()}:{os.getpid()}:{os.urandom(4).hex()}"
        self._log = logger
        self._redis: Any = None
        self._renew: Any = None
        self._release: Any = None
        self._task: asyncio.Task[None] | None = None
        self._expiry: asyncio.TimerHandle | None = None
        self._campaigning = True
        self._failing = False
        #: When (wall clock) the Redis server started, as read when this process took the lease.
        self._redis_started = 0.0
        self._elected: Callable[[], None] = lambda: None
        self._deposed: Callable[[], None] = lambda: None
        self.claim = self.claim_tick

    async def start(self, elected: Callable[[], None], deposed: Callable[[], None]) -> None:
        self._elected, self._deposed = elected, deposed
        self._redis = acquire_client(self.settings)
        self._renew = _script(self._redis, _RENEW)
        self._release = _script(self._redis, _RELEASE)
        delay = await self._beat()  # try at once, so a lone process schedules from the start
        self._task = asyncio.get_running_loop().create_task(self._heartbeat(delay),
                                                            name="areion scheduler lease")

    async def _heartbeat(self, delay: float) -> None:
        while True:
            await asyncio.sleep(delay)
            delay = await self._beat()

    async def _beat(self) -> float:
        """Renew or try to acquire once; returns how long to wait before the next beat."""
        from redis.exceptions import RedisClusterException, RedisError

        loop = asyncio.get_running_loop()
        try:
            if self.is_leader:
                sent = loop.time()
                renewed = await self._renew(keys=[self.key], args=[self.token, int(self.ttl * 1000)])
                self._recovered()
                if renewed == 1:
                    self._extend(sent)
                elif renewed == 0:
                    self._lose("another process holds the lease now")
                else:
                    self._lose("the lease key is gone from Redis: restarted without persistence, "
                               "flushed or evicted")
                return self.heartbeat
            if not self._campaigning:
                return self.heartbeat
            sent = loop.time()
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.set(self.key, self.token, nx=True, px=int(self.ttl * 1000))
                pipe.pttl(self.key)
                if self.settings.mode != "cluster":  # a cluster pipeline takes keyed commands only
                    pipe.info("server")
                # INFO may be disabled (some managed Redis services): then the start is unknown.
                acquired, pttl, *rest = await pipe.execute(raise_on_error=False)
            info = rest[0] if rest else None
            for result in (acquired, pttl):
                if isinstance(result, Exception):
                    raise result
            self._recovered()
            if acquired:
                # uptime_in_seconds is whole seconds, so this is a little late: on the safe side.
                uptime = info.get("uptime_in_seconds") if isinstance(info, dict) else None
                self._redis_started = time.time() - int(uptime) if uptime is not None else 0.0
                self._win(sent)
                return self.heartbeat
            # Look again just after the holder's lease would lapse, not a whole beat later.
            return min(self.heartbeat, pttl / 1000 + 0.005) if pttl > 0 else 0.005
        except (TimeoutError, RedisError, RedisClusterException, OSError) as exc:
            if not self._failing:
                self._failing = True
                self._log().warning("scheduler lease: Redis at %s unreachable (%r); retrying "
                                    "every %.3gs", self.url, exc, self.heartbeat)
            return self.heartbeat
        except Exception:
            self._log().exception("scheduler lease: heartbeat failed")
            return self.heartbeat

    def _recovered(self) -> None:
        if self._failing:
            self._failing = False
            self._log().info("scheduler lease: Redis reachable again")

    def _extend(self, sent: float) -> None:
        # Counted from when the request was sent: Redis set its expiry later than that.
        if self._expiry is not None:
            self._expiry.cancel()
        self._expiry = asyncio.get_running_loop().call_at(
            sent + self.ttl * _SAFE_FRACTION, self._lose, "the lease could not be renewed in time"
        )

    def _win(self, sent: float) -> None:
        self.is_leader = True
        self._extend(sent)
        self._log().info("scheduler lease %s acquired by %s: this process runs scheduled jobs",
                         self.key, self.token)
        self._elected()

    def _lose(self, reason: str) -> None:
        if self._expiry is not None:
            self._expiry.cancel()
            self._expiry = None
        if not self.is_leader:
            return
        self.is_leader = False
        self._log().warning("scheduler lease lost (%s): this process stops scheduling", reason)
        self._deposed()

    async def claim_tick(self, job_id: str, run_time: datetime, grace: int | None) -> bool:
        """Claim one tick of one job; False if another process ran it or Redis is unreachable.

        With ``replica_ack``, also False when no replica acknowledged the claim in time (the
        claim might not survive a failover: at most once, so the tick is skipped).
        """
        from redis.exceptions import RedisClusterException, RedisError

        if not self.is_leader:
            return False
        if run_time.timestamp() < self._redis_started:
            self._log().warning("job %s: skipping the %s run: Redis started after it was due, so "
                                "whether it already ran is not known", job_id, run_time.isoformat())
            return False
        key = f"{self.tick_prefix}{job_id}:{round(run_time.timestamp() * 1000)}"
        # The key must outlive the window in which any scheduler could still run that tick.
        ttl = int((grace if grace is not None else 86400) + 2 * self.ttl + 60)
        acked = 1
        try:
            if self.replica_ack:
                # One pipeline, one connection: WAIT counts the replicas that have this
                # connection's writes, the claim included.
                async with self._redis.pipeline(transaction=False) as pipe:
                    pipe.set(key, self.token, nx=True, ex=ttl)
                    pipe.execute_command("WAIT", 1, int(self.replica_ack_timeout * 1000))
                    claimed, acked = await pipe.execute()
            else:
                claimed = await self._redis.set(key, self.token, nx=True, ex=ttl)
        except (TimeoutError, RedisError, RedisClusterException, OSError) as exc:
            self._log().warning("job %s: skipping the %s run, the tick guard in Redis is "
                                "unreachable (%r)", job_id, run_time.isoformat(), exc)
            return False
        if not claimed:
            self._log().info("job %s: the %s run already happened on another process; skipped",
                             job_id, run_time.isoformat())
            return False
        if int(acked) < 1:
            self._log().warning("job %s: skipping the %s run, no replica acknowledged its claim "
                                "within %.3gs (a failover could lose it: at most once)",
                                job_id, run_time.isoformat(), self.replica_ack_timeout)
            return False
        return True

    def stop_campaign(self) -> None:
        self._campaigning = False

    async def stop(self, keep_while: Callable[[], bool] | None = None) -> None:
        from redis.exceptions import RedisClusterException, RedisError

        self._campaigning = False
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self._expiry is not None:
            self._expiry.cancel()
            self._expiry = None
        if self._redis is None:
            return
        keep = self.is_leader and keep_while is not None and keep_while()
        try:
            if self.is_leader and not keep:
                self.is_leader = False
                await self._release(keys=[self.key], args=[self.token])
                self._log().info("scheduler lease %s released", self.key)
        except (TimeoutError, RedisError, RedisClusterException, OSError) as exc:
            self._log().warning("scheduler lease: could not release %s (%r); it expires in "
                                "%.3gs", self.key, exc, self.ttl)
        finally:
            self._redis = None
            await release_client(self.settings)
        if keep and keep_while is not None:
            self._log().info("scheduler lease %s kept until the job(s) still running finish or "
                             "this process exits", self.key)
            # The loop may be gone by the time the job returns: a thread with its own client.
            threading.Thread(target=self._keep_while, args=(keep_while,), daemon=True,
                             name="areion scheduler lease keeper").start()

    def _keep_while(self, keep_while: Callable[[], bool]) -> None:
        """Renew the lease every heartbeat while ``keep_while()``; then release it (own loop, own client)."""
        asyncio.run(self._keep_while_async(keep_while))

    async def _keep_while_async(self, keep_while: Callable[[], bool]) -> None:
        from redis.exceptions import RedisClusterException, RedisError

        client = get_client(self.settings)
        renew, release = _script(client, _RENEW), _script(client, _RELEASE)
        renewed_at = 0.0  # renew at once: the loop's heartbeat has stopped
        try:
            while keep_while():
                await asyncio.sleep(0.05)
                if time.monotonic() - renewed_at < self.heartbeat:
                    continue
                try:
                    held = await renew(keys=[self.key], args=[self.token, int(self.ttl * 1000)])
                except (TimeoutError, RedisError, RedisClusterException, OSError) as exc:
                    self._log().warning("scheduler lease: could not renew %s while a job of "
                                        "this process still runs (%r)", self.key, exc)
                    held = 1  # unknown: try again next heartbeat
                renewed_at = time.monotonic()
                if held != 1:
                    self._log().warning("scheduler lease lost while a job of this process still "
                                        "runs: another process may start the next tick beside it")
                    return
            self.is_leader = False
            await release(keys=[self.key], args=[self.token])
            self._log().info("scheduler lease %s released: the job(s) still running at shutdown "
                             "have finished", self.key)
        except (TimeoutError, RedisError, RedisClusterException, OSError) as exc:
            self._log().warning("scheduler lease: could not release %s (%r); it expires in "
                                "%.3gs", self.key, exc, self.ttl)
        finally:
            await close_clients()


def _script(client: Any, source: str) -> Callable[..., Any]:
    """``source`` as a callable ``(keys=..., args=...)`` run with EVAL (no NOSCRIPT round trips)."""
    async def run(keys: list[str], args: list[Any]) -> Any:
        return await client.eval(source, len(keys), *keys, *args)

    return run
