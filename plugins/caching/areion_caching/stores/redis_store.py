"""A store on Redis (one server, Sentinel or Cluster), shared by every worker and host that points at it.

Keys are Cluster-correct: every command, script or transaction touches keys of one hash
slot. Entries live one per key (``<ns>:k:<key>``, spread over the cluster); everything about
tags lives under the hash tag ``{<ns>}`` (``{<ns>}:tv``, a hash of tag versions, and
``{<ns>}:tm:<tag>``, the entries stored with a tag). An entry remembers the versions of its
tags it saw when it was written; ``delete_tag`` bumps the tag's version, so an entry written
before reads as a miss from then on, whichever slot it is in. The member sets only let
``delete_tag`` remove those entries eagerly (memory) and count them.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import secrets
import struct
from typing import TYPE_CHECKING, Any

import orjson
from areion_redis import (
    RedisSettings,
    acquire_client,
    escape_glob,
    hash_tag,
    ready,
    release_client,
    scan_prefix,
)

from areion_core import ConfigError
from areion_core.plugin_api import expand_env

from ..record import CacheRecord, RecordError, decode_record, encode_record
from ._local_tier import LocalTier
from .base import CacheStore, StoreError

if TYPE_CHECKING:
    from redis.asyncio import Redis, RedisCluster

# Add the entry to each tag's member set (stretching the set's TTL to cover it) and return
# the tags' current versions, which the entry then stores. All keys share the slot {<ns>}.
_TAG_ENTRY = """
local ttl = tonumber(ARGV[2])
local versions = {}
for i = 2, #KEYS do
  redis.call('SADD', KEYS[i], ARGV[1])
  if redis.call('PTTL', KEYS[i]) < ttl then redis.call('PEXPIRE', KEYS[i], ttl) end
  versions[i - 1] = tonumber(redis.call('HGET', KEYS[1], ARGV[i + 1]) or '0')
end
return versions
"""

# Bump a tag's version (every entry that saw the old one is a miss from now on) and hand
# back its member set for eager removal. KEYS: {<ns>}:tv, {<ns>}:tm:<tag>; ARGV: the tag.
_BUMP_TAG = """
redis.call('HINCRBY', KEYS[1], ARGV[1], 1)
local members = redis.call('SMEMBERS', KEYS[2])
redis.call('UNLINK', KEYS[2])
return members
"""

# Release a lock only if it is still ours (it may have expired and been taken by another).
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

# A tagged entry is framed as TAGGED | u32 length | JSON list of tag versions | record.
_TAGGED = b"ATV\x01"
_LEN = struct.Struct(">I")
_BATCH = 500

# Everything redis-py raises for a server that is down or slow (TimeoutError is an OSError).
# redis-py is imported when a RedisStore first connects (memory and filesystem apps should
# not pay for it); its exceptions join this tuple then, before any Redis call can raise them.
_FAILURES: tuple[type[BaseException], ...] = (OSError,)


def _load_failures() -> None:
    global _FAILURES
    from redis.exceptions import RedisClusterException, RedisError

    # A cluster's own errors (no node reachable, slots uncovered) are not RedisErrors.
    _FAILURES = (RedisError, RedisClusterException, OSError)


class RedisStore(CacheStore):
    """Records in Redis under ``<namespace>:k:<key>``; tag versions and members under ``{<namespace>}``.

    The client comes from ``areion_redis`` (one pool per process for each distinct settings,
    shared with other plugins that name the same Redis, through a failover on Sentinel,
    sharded on Cluster), with the store's own fail-fast options: one retry of a broken
    connection, none of a timeout, ``timeout`` seconds to connect or answer — when Redis is
    down, requests go on uncached at once rather than wait for it. Prefix deletion walks
    keys with ``SCAN`` on every primary and removes them with ``UNLINK`` (never ``KEYS``).
    Memory is bounded by Redis itself: set ``maxmemory`` and an eviction policy
    (``volatile-lru`` suits, since every record has a TTL).

    ``local_cache`` keeps up to ``local_cache_max_entries`` records (``local_cache_max_bytes``
    in all) in this process as well, kept coherent by Redis (see ``LocalTier``): a warm hit costs no round trip.
    """

    shared_between_processes = True

    def __init__(
        self,
        redis: str | RedisSettings = "redis://127.0.0.1:6379/0",
        namespace: str = "areion:cache",
        *,
        timeout: float = 0.5,
        local_cache: bool = False,
        local_cache_max_entries: int = 10_000,
        local_cache_max_bytes: int = 64 * 1024 * 1024,
    ) -> None:
        if isinstance(redis, str):
            try:
                redis = RedisSettings.from_url(str(expand_env(redis, "url")))
            except (ConfigError, ValueError) as exc:
                raise ValueError(f"redis url {redis!r}: {exc}") from None
        if not namespace or "{" in namespace or "}" in namespace:
            raise ValueError(f"namespace {namespace!r}: not empty, without braces (they make hash tags)")
        # The store's own settings, hence its own pool: a cache that can serve uncached
        # should fail fast, and tracking invalidations need RESP2 pub/sub messages.
        self.settings = dataclasses.replace(
            redis, retries=1, retry_on_timeout=False, socket_timeout=timeout, connect_timeout=timeout, protocol=2
        )
        self.namespace = namespace
        self.timeout = timeout
        self._tags = hash_tag(namespace)
        self._client: Redis | RedisCluster | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.local: LocalTier | None = None
        if local_cache:
            self.local = LocalTier(self.settings, local_cache_max_entries, max_bytes=local_cache_max_bytes,
                                   prefixes=(self._k(""), f"{self._tags}:tv"), logger_name="areion.caching")
            self.supports_nowait = True

    @property
    def url(self) -> str:
        """Where the store points, without credentials (logs and errors)."""
        return str(self.settings.describe())

    # --- connection --------------------------------------------------------------------
    def _redis(self) -> Redis | RedisCluster:
        loop = asyncio.get_running_loop()
        # A client's connections belong to the loop that made them; a store used from a new
        # loop (a CLI command, a test) acquires that loop's client rather than use a broken one.
        if self._client is None or self._loop is not loop:
            _load_failures()
            client = self._client = acquire_client(self.settings)
            self._loop = loop
            if self.local is not None:
                self.local.start(client, self.key_of)
        return self._client

    async def _enter(self) -> Redis | RedisCluster:
        """The client, its cluster slots discovered once (``areion_redis.ready``: the first burst
        of requests must not start one discovery each)."""
        return await ready(self._redis())

    def _k(self, key: str) -> str:
        return f"{self.namespace}:k:{key}"

    def key_of(self, redis_key: str) -> str | None:
        """The store key of a Redis entry key, or None for a key that is no entry."""
        prefix = f"{self.namespace}:k:"
        return redis_key[len(prefix):] if redis_key.startswith(prefix) else None

    def _lock(self, key: str) -> str:
        return f"{self.namespace}:l:{key}"

    def _fail(self, exc: BaseException) -> StoreError:
        return StoreError(f"redis cache at {self.url}: {exc!r}")

    # --- the interface -----------------------------------------------------------------
    def get_nowait(self, key: str) -> CacheRecord | None:
        """The local tier's copy, if it holds one (never I/O); None sends the caller to ``get``."""
        return self.local.get(key) if self.local is not None else None

    async def get(self, key: str) -> CacheRecord | None:
        local = self.local
        if local is not None:
            held = local.get(key)
            if held is not None:
                return held
        try:
            client = await self._enter()
            epoch = local.epoch if local is not None else 0
            data = await client.get(self._k(key))
            if data is None:
                return None
            if isinstance(data, str):  # only with decode_responses, which areion_redis never sets
                data = data.encode("latin-1")
            versions, start = _split(data)
            record = decode_record(data[start:] if start else data)
            if record.tags:
                seen = await client.hmget(f"{self._tags}:tv", list(record.tags))
                if [int(v or 0) for v in seen] != versions:
                    return None  # a tag it carries was invalidated since it was written
        except RecordError:
            await self.delete(key)
            return None
        except _FAILURES as exc:
            raise self._fail(exc) from exc
        if local is not None:
            local.put(key, record, epoch)
        return record

    async def set(self, key: str, record: CacheRecord, ttl: float) -> None:
        ms = int(ttl * 1000)
        if self.local is not None:
            self.local.discard(key)
        try:
            client = await self._enter()
            if ms <= 0:
                await client.unlink(self._k(key))
                return
            value = encode_record(record, key)
            if record.tags:
                keys = [f"{self._tags}:tv", *(f"{self._tags}:tm:{t}" for t in record.tags)]
                versions = await _eval(client, _TAG_ENTRY, keys, [self._k(key), ms, *record.tags])
                meta = orjson.dumps([int(v) for v in versions])
                value = b"".join((_TAGGED, _LEN.pack(len(meta)), meta, value))
            await client.set(self._k(key), value, px=ms)
        except _FAILURES as exc:
            raise self._fail(exc) from exc

    async def delete(self, key: str) -> bool:
        if self.local is not None:
            self.local.discard(key)
        try:
            return bool(await (await self._enter()).unlink(self._k(key)))
        except _FAILURES as exc:
            raise self._fail(exc) from exc

    async def delete_prefix(self, prefix: str) -> int:
        if self.local is not None:
            self.local.discard_prefix(prefix)
        return await self._unlink_matching(f"{escape_glob(self._k(prefix))}*")

    async def delete_tag(self, tag: str) -> int:
        if self.local is not None:
            self.local.discard_tag(tag)
        try:
            client = await self._enter()
            keys = [f"{self._tags}:tv", f"{self._tags}:tm:{tag}"]
            members = await _eval(client, _BUMP_TAG, keys, [tag])
            removed = 0
            # Entries spread over slots: UNLINK them in batches (split by slot on a cluster).
            for i in range(0, len(members), _BATCH):
                removed += int(await client.unlink(*members[i:i + _BATCH]))
            return removed
        except _FAILURES as exc:
            raise self._fail(exc) from exc

    async def clear(self) -> None:
        if self.local is not None:
            self.local.clear()
        await self._unlink_matching(f"{escape_glob(self.namespace)}:*")
        await self._unlink_matching(f"{escape_glob(self._tags)}:*")

    async def close(self) -> None:
        client, self._client = self._client, None
        if self.local is not None:
            await self.local.stop()
        if client is not None and self._loop is asyncio.get_running_loop():
            with contextlib.suppress(*_FAILURES):
                await release_client(self.settings)

    async def acquire_lock(self, key: str, ttl: float) -> str | None:
        token = secrets.token_hex(8)
        try:
            ok = await (await self._enter()).set(self._lock(key), token, nx=True, px=max(1, int(ttl * 1000)))
        except _FAILURES as exc:
            raise self._fail(exc) from exc
        return token if ok else None

    async def release_lock(self, key: str, token: str) -> None:
        try:
            await _eval(await self._enter(), _RELEASE, [self._lock(key)], [token])
        except _FAILURES as exc:
            raise self._fail(exc) from exc

    # --- internals -----------------------------------------------------------------------
    async def _unlink_matching(self, pattern: str) -> int:
        removed = 0
        try:
            client = await self._enter()
            batch: list[Any] = []
            async for name in scan_prefix(client, pattern, count=_BATCH):
                batch.append(name)
                if len(batch) >= _BATCH:
                    removed += int(await client.unlink(*batch))
                    batch = []
            if batch:
                removed += int(await client.unlink(*batch))
        except _FAILURES as exc:
            raise self._fail(exc) from exc
        return removed


async def _eval(client: Redis | RedisCluster, script: str, keys: list[str], args: list[Any]) -> Any:
    # EVAL, not EVALSHA: the scripts are a few hundred bytes, and a burst of first EVALSHAs
    # answered NOSCRIPT made redis-py's cluster client drop connections under load.
    return await client.eval(script, len(keys), *keys, *args)


def _split(data: bytes) -> tuple[list[int], int]:
    """The tag versions framed before a record, and where the record starts (0: no frame)."""
    if not data.startswith(_TAGGED):
        return [], 0
    if len(data) < len(_TAGGED) + _LEN.size:
        raise RecordError("truncated tag versions")
    (length,) = _LEN.unpack_from(data, len(_TAGGED))
    start = len(_TAGGED) + _LEN.size
    try:
        versions = orjson.loads(data[start:start + length])
    except orjson.JSONDecodeError as exc:
        raise RecordError(f"bad tag versions: {exc}") from None
    if not isinstance(versions, list) or not all(isinstance(v, int) for v in versions):
        raise RecordError("bad tag versions: not a list of integers")
    return versions, start + length
