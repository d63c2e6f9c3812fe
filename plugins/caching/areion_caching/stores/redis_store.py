"""A store on a Redis server, shared by every worker and host that points at it."""

from __future__ import annotations

import asyncio
import contextlib
import re
import secrets
from typing import TYPE_CHECKING, Any

from areion_core import ConfigError
from areion_core.plugin_api import expand_env

from ..record import CacheRecord, RecordError, decode_record, encode_record
from .base import CacheStore, StoreError

if TYPE_CHECKING:
    import redis.asyncio as aioredis

# SET with a TTL and add the key to each tag set, stretching a tag set's TTL to cover its
# longest-lived member so tag invalidation can never miss a live entry. One script makes
# it atomic: a concurrent delete_tag sees the entry with its tags or not at all.
_SET_TAGGED = """
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
local ttl = tonumber(ARGV[2])
for i = 2, #KEYS do
  redis.call('SADD', KEYS[i], KEYS[1])
  if redis.call('PTTL', KEYS[i]) < ttl then redis.call('PEXPIRE', KEYS[i], ttl) end
end
return 1
"""

# Remove a tag set and every member; atomic so an entry tagged meanwhile is not orphaned.
_DELETE_TAG = """
local members = redis.call('SMEMBERS', KEYS[1])
local n = 0
for i = 1, #members, 500 do
  n = n + redis.call('UNLINK', unpack(members, i, math.min(i + 499, #members)))
end
redis.call('UNLINK', KEYS[1])
return n
"""

# Release a lock only if it is still ours (it may have expired and been taken by another).
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

# Everything redis-py raises for a server that is down or slow (TimeoutError is an OSError).
# redis-py is imported when a RedisStore first connects (it costs ~10 MB of memory that an
# app on the memory or filesystem store should not pay); its RedisError joins this tuple
# then, before any Redis call can raise it.
_FAILURES: tuple[type[BaseException], ...] = (OSError,)
_GLOB_SPECIAL = re.compile(r"([*?\[\]\\])")
_BATCH = 500


def _glob_escape(text: str) -> str:
    return _GLOB_SPECIAL.sub(r"\\\1", text)


class RedisStore(CacheStore):
    """Records in Redis under ``<namespace>:k:<key>``, tags as sets under ``<namespace>:t:<tag>``.

    Uses redis-py's asyncio client with a connection pool of ``max_connections``. ``url``
    may contain ``${VAR}`` (read from the environment when the store is made), so passwords
    stay out of config files. Timeouts are short and retries minimal on purpose: when Redis
    is down, requests should go on uncached at once rather than wait for it. Prefix
    deletion walks keys with ``SCAN`` and removes them with ``UNLINK`` (never ``KEYS``).
    Memory is bounded by Redis itself: set ``maxmemory`` and an eviction policy
    (``volatile-lru`` suits, since every record has a TTL).
    """

    shared_between_processes = True

    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379/0",
        namespace: str = "areion:cache",
        *,
        max_connections: int = 64,
        timeout: float = 0.5,
    ) -> None:
        try:
            self.url = str(expand_env(url, "url"))
        except ConfigError as exc:
            raise ValueError(f"redis url {url!r}: {exc}") from None
        self.namespace = namespace
        self.max_connections = max_connections
        self.timeout = timeout
        self._client: aioredis.Redis | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._scripts: dict[str, Any] = {}

    # --- connection --------------------------------------------------------------------
    async def _enter(self) -> aioredis.Redis:
        """The client (the server runs every request inside a task, as redis-py's timeouts need)."""
        return self._redis()

    def _redis(self) -> aioredis.Redis:
        loop = asyncio.get_running_loop()
        # A client's connections belong to the loop that made them; a store used from a new
        # loop (a CLI command, a test) gets a new client rather than a broken one.
        if self._client is None or self._loop is not loop:
            global _FAILURES
            import redis.asyncio as aioredis
            from redis.asyncio.retry import Retry
            from redis.backoff import NoBackoff
            from redis.exceptions import ConnectionError as BrokenConnection
            from redis.exceptions import RedisError

            _FAILURES = (RedisError, OSError)
            # A blocking pool makes a burst wait (up to ``timeout``) for a free connection
            # instead of failing with MaxConnectionsError.
            pool = aioredis.BlockingConnectionPool.from_url(
                self.url,
                max_connections=self.max_connections,
                timeout=self.timeout,
                socket_timeout=self.timeout,
                socket_connect_timeout=self.timeout,
                # One retry replaces a pooled connection that died with a restarted server. A
                # timeout is not retried: that would double the wait on a slow server.
                retry=Retry(NoBackoff(), 1, supported_errors=(BrokenConnection,)),
            )
            self._client = aioredis.Redis.from_pool(pool)
            self._loop = loop
            self._scripts = {
                "set": self._client.register_script(_SET_TAGGED),
                "delete_tag": self._client.register_script(_DELETE_TAG),
                "release": self._client.register_script(_RELEASE),
            }
        return self._client

    def _k(self, key: str) -> str:
        return f"{self.namespace}:k:{key}"

    def _t(self, tag: str) -> str:
        return f"{self.namespace}:t:{tag}"

    def _lock(self, key: str) -> str:
        return f"{self.namespace}:l:{key}"

    def _fail(self, exc: BaseException) -> StoreError:
        return StoreError(f"redis cache at {self.url.rpartition('@')[2]}: {exc!r}")

    # --- the interface -----------------------------------------------------------------
    async def get(self, key: str) -> CacheRecord | None:
        try:
            client = await self._enter()
            data = await client.get(self._k(key))
        except _FAILURES as exc:
            raise self._fail(exc) from exc
        if data is None:
            return None
        try:
            return decode_record(data if isinstance(data, bytes) else data.encode("latin-1"))
        except RecordError:
            await self.delete(key)
            return None

    async def set(self, key: str, record: CacheRecord, ttl: float) -> None:
        ms = int(ttl * 1000)
        try:
            client = await self._enter()
            if ms <= 0:
                await client.unlink(self._k(key))
                return
            value = encode_record(record, key)
            if record.tags:
                keys = [self._k(key), *(self._t(t) for t in record.tags)]
                await self._scripts["set"](keys=keys, args=[value, ms], client=client)
            else:
                await client.set(self._k(key), value, px=ms)
        except _FAILURES as exc:
            raise self._fail(exc) from exc

    async def delete(self, key: str) -> bool:
        try:
            client = await self._enter()
            return bool(await client.unlink(self._k(key)))
        except _FAILURES as exc:
            raise self._fail(exc) from exc

    async def delete_prefix(self, prefix: str) -> int:
        return await self._unlink_matching(f"{_glob_escape(self._k(prefix))}*")

    async def delete_tag(self, tag: str) -> int:
        try:
            client = await self._enter()
            return int(await self._scripts["delete_tag"](keys=[self._t(tag)], client=client))
        except _FAILURES as exc:
            raise self._fail(exc) from exc

    async def clear(self) -> None:
        await self._unlink_matching(f"{_glob_escape(self.namespace)}:*")

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None and self._loop is asyncio.get_running_loop():
            with contextlib.suppress(*_FAILURES):
                await client.aclose()

    async def acquire_lock(self, key: str, ttl: float) -> str | None:
        token = secrets.token_hex(8)
        try:
            client = await self._enter()
            ok = await client.set(self._lock(key), token, nx=True, px=max(1, int(ttl * 1000)))
        except _FAILURES as exc:
            raise self._fail(exc) from exc
        return token if ok else None

    async def release_lock(self, key: str, token: str) -> None:
        try:
            client = await self._enter()
            await self._scripts["release"](keys=[self._lock(key)], args=[token], client=client)
        except _FAILURES as exc:
            raise self._fail(exc) from exc

    # --- internals -----------------------------------------------------------------------
    async def _unlink_matching(self, pattern: str) -> int:
        removed = 0
        try:
            client = await self._enter()
            batch: list[bytes] = []
            async for name in client.scan_iter(match=pattern, count=_BATCH):
                batch.append(name)
                if len(batch) >= _BATCH:
                    removed += await client.unlink(*batch)
                    batch = []
            if batch:
                removed += await client.unlink(*batch)
        except _FAILURES as exc:
            raise self._fail(exc) from exc
        return removed
