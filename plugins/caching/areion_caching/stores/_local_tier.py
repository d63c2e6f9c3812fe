"""A process-local copy of recent Redis hits that Redis itself keeps coherent.

Server-assisted client-side caching (Redis 6+, ``CLIENT TRACKING`` in broadcast mode): one
dedicated connection per primary (one on a single server or behind Sentinel, one per primary
of a Cluster) turns tracking on for the store's key prefixes, redirected to itself, and
subscribes to ``__redis__:invalidate``. From then on Redis sends it the name of every key
under those prefixes that changes for any reason — a write from any host, a delete, an
expiry, an eviction, a flush — and the copy is dropped. RESP2 is used on purpose: the
invalidations arrive as ordinary pub/sub messages, which redis-py reads without reaching
into its parser.

The copy is only trusted while that connection is known to be alive: when it breaks (or
stays silent past a heartbeat) the tier is emptied and serves nothing until tracking is on
again on a new connection, so a lost invalidation can never leave a stale hit behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..record import CacheRecord

if TYPE_CHECKING:
    from areion_redis import RedisSettings
    from redis.asyncio import Redis, RedisCluster

#: Seconds without a message before the connection is PINGed; twice that silent means lost.
HEARTBEAT = 0.5
_CHANNEL = b"__redis__:invalidate"


class LocalTier:
    """An LRU of at most ``max_entries`` records, emptied by Redis invalidations.

    ``epoch`` counts invalidations. A reader notes it before asking Redis and hands it back
    to ``put``, which keeps the record only if that key (or everything) was not invalidated
    meanwhile: the invalidation of a newer write may arrive, on the tracking connection,
    before the older value it replaced arrives on another. The last invalidation of each
    recently touched key is remembered (bounded; past the bound, ``_floor`` stands in).
    """

    def __init__(self, settings: RedisSettings, max_entries: int, *, prefixes: tuple[str, ...],
                 logger_name: str, max_bytes: int = 64 * 1024 * 1024) -> None:
        self.settings = settings
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        #: Bytes held (``CacheRecord.size``), kept under ``max_bytes``.
        self.bytes = 0
        self.prefixes = prefixes
        self.epoch = 0
        #: Whether tracking is on and its connections alive: only then is anything served.
        self.live = False
        self._entries: OrderedDict[str, tuple[CacheRecord, float, int]] = OrderedDict()
        self._touched: OrderedDict[str, int] = OrderedDict()
        self._floor = 0
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._connections: list[Any] = []
        self._key_of: Callable[[str], str | None] = lambda name: None
        self._logger = logging.getLogger(logger_name)
        #: Called after each invalidation message is applied (tests and the bench measure with it).
        self.on_invalidate: Callable[[], None] | None = None

    def __len__(self) -> int:
        return len(self._entries)

    # --- the copy ----------------------------------------------------------------------
    def get(self, key: str) -> CacheRecord | None:
        held = self._entries.get(key)
        if held is None:
            return None
        record, until, _ = held
        if until <= time.time():
            self._drop(key)
            return None
        self._entries.move_to_end(key)
        return record

    def put(self, key: str, record: CacheRecord, epoch: int) -> None:
        if not self.live or self._touched.get(key, self._floor) > epoch:
            return
        size = record.size()
        if size > self.max_bytes:
            return
        until = record.created + record.ttl + record.stale_while_revalidate + record.stale_if_error
        self._drop(key)
        self._entries[key] = (record, until, size)
        self.bytes += size
        while len(self._entries) > self.max_entries or self.bytes > self.max_bytes:
            _, (_, _, dropped) = self._entries.popitem(last=False)
            self.bytes -= dropped

    def _drop(self, key: str) -> None:
        held = self._entries.pop(key, None)
        if held is not None:
            self.bytes -= held[2]

    def discard(self, key: str) -> None:
        self.epoch += 1
        self._drop(key)
        self._touched[key] = self.epoch
        self._touched.move_to_end(key)
        if len(self._touched) > 4 * self.max_entries + 1024:
            _, seq = self._touched.popitem(last=False)
            self._floor = max(self._floor, seq)

    def _discard_where(self, drop: Callable[[str, CacheRecord], bool]) -> None:
        # A wide invalidation also blocks every read in flight from filling the tier.
        self.epoch += 1
        self._floor = self.epoch
        for key in [k for k, (r, _, _) in self._entries.items() if drop(k, r)]:
            self._drop(key)

    def discard_prefix(self, prefix: str) -> None:
        self._discard_where(lambda key, record: key.startswith(prefix))

    def discard_tag(self, tag: str) -> None:
        self._discard_where(lambda key, record: tag in record.tags)

    def clear(self) -> None:
        self._discard_where(lambda key, record: True)

    # --- tracking ----------------------------------------------------------------------
    def start(self, client: Redis | RedisCluster, key_of: Callable[[str], str | None]) -> None:
        """Track invalidations in the running loop (a no-op while a tracker already runs there)."""
        self._key_of = key_of
        if self._task is not None and not self._task.done() and self._task.get_loop() is asyncio.get_running_loop():
            return
        self.live = False
        self._closing = False
        self.clear()
        self._task = asyncio.get_running_loop().create_task(self._track(client), name="areion-caching-local-tier")

    async def stop(self) -> None:
        task, self._task = self._task, None
        self._closing = True
        self.live = False
        self.clear()
        if task is not None and task.get_loop() is asyncio.get_running_loop():
            for connection in self._connections:  # ends a read at once (the flag, within a HEARTBEAT)
                with contextlib.suppress(Exception):
                    await connection.disconnect(nowait=True)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _track(self, client: Redis | RedisCluster) -> None:
        delay = 0.05
        while not self._closing:
            connections: list[Any] = []
            self._connections = connections
            try:
                for connection in await _open(client, refresh=delay > 0.05):
                    connections.append(connection)
                    await self._subscribe(connection)
                self.clear()  # whatever was held before tracking was (re)established is suspect
                self.live = True
                delay = 0.05
                await _first_failure([self._listen(c) for c in connections])
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._logger.warning("caching local tier: invalidations lost (%r); serving from Redis until back", exc)
            finally:
                self.live = False
                self.clear()
                for connection in connections:
                    with contextlib.suppress(Exception):
                        await connection.disconnect()
            await asyncio.sleep(delay * (1 + random.random()))
            delay = min(delay * 2, 2.0)

    async def _subscribe(self, connection: Any) -> None:
        await connection.connect()
        await connection.send_command("CLIENT", "ID")
        client_id = await connection.read_response()
        args: list[Any] = ["CLIENT", "TRACKING", "ON", "REDIRECT", client_id, "BCAST"]
        for prefix in self.prefixes:
            args += ["PREFIX", prefix]
        await connection.send_command(*args)
        await connection.read_response()
        await connection.send_command("SUBSCRIBE", _CHANNEL)
        await connection.read_response()

    async def _listen(self, connection: Any) -> None:
        pinged = False
        while not self._closing:
            # redis-py's read timeout can turn a cancellation into a timed-out read, so the
            # loop also ends on the flag stop() sets (within one HEARTBEAT).
            message = await connection.read_response(timeout=HEARTBEAT)
            if message is None:
                if pinged:
                    raise ConnectionError("no answer to a PING on the invalidation connection")
                await connection.send_command("PING")
                pinged = True
                continue
            pinged = False
            if isinstance(message, list) and len(message) == 3 and message[0] == b"message":
                self._invalidate(message[2])

    def _invalidate(self, names: list[bytes] | None) -> None:
        if names is None:  # FLUSHDB / FLUSHALL
            self.clear()
        else:
            for raw in names:
                name = raw.decode("utf-8", "surrogateescape")
                key = self._key_of(name)
                if key is not None:
                    self.discard(key)
                else:  # the tag versions changed: every tagged copy may be stale
                    self._discard_where(lambda key, record: bool(record.tags))
        if self.on_invalidate is not None:
            self.on_invalidate()


async def _open(client: Redis | RedisCluster, *, refresh: bool) -> list[Any]:
    """New connections, outside any pool: one per primary on a cluster, else to the (current) primary."""
    from redis.asyncio import RedisCluster

    if isinstance(client, RedisCluster):
        await client.initialize()  # a no-op once the slots are known
        if refresh:
            # After a failure: ask for the slot map again (a failover replaced a primary).
            # Not on the first try: two discoveries at once break each other's connections.
            await client.nodes_manager.initialize()
        return [node.connection_class(**node.connection_kwargs) for node in client.get_primaries()]
    # A Sentinel pool's connections ask the sentinels for the primary as they connect.
    return [client.connection_pool.make_connection()]  # type: ignore[no-untyped-call]


async def _first_failure(readers: list[Any]) -> None:
    tasks = [asyncio.ensure_future(r) for r in readers]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        for task in done:
            task.result()
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
