"""The Redis channel backend: a message published on any worker or host reaches every subscriber.

The client comes from ``areion_redis`` (standalone, Sentinel or Cluster; one pool per process
for each distinct settings). Publishing is one round trip: a Lua script appends the message
to the channel's stream (``XADD ... MAXLEN ~ history_size``: the history, and the message's
id) and ``PUBLISH``\\es ``id + "\\n" + text`` on the channel's pub/sub channel, atomically.
The stream of channel ``c`` is ``<prefix>{c}``: a hash tag per channel, so on a Cluster each
channel's history lives in one slot and every command (the script, ``XRANGE``) touches one
key of one slot; there is no multi-key command.

Each process keeps one pub/sub connection, pattern-subscribed to every channel of the prefix
(one ``PSUBSCRIBE``, no subscribe/unsubscribe traffic as subscribers come and go; a process
receives the messages of channels it has no subscriber on, and drops them):

- standalone: to the server; Sentinel: to the primary the sentinels name when it connects, so
  after a failover the reconnection lands on the new primary;
- Cluster: classic ``PUBLISH`` is broadcast by the cluster to every node, so the connection
  goes to one primary, picked at random (processes spread over the primaries), and after a
  failure to any other node that answers. Sharded pub/sub (``SSUBSCRIBE``) was not chosen:
  it needs one subscription per channel on the node that owns its slot, to be moved when the
  slot moves (redis-py 8.1's asyncio client does it only on a slot-map refresh, which a
  process that only listens never triggers) and polled node by node.

When the connection breaks (Redis restarted, a failover, a network cut: a silent connection is
PINGed every ``HEARTBEAT`` seconds and given up after two), the listener reconnects with
backoff; once back, it reads from each subscribed channel's stream what was added after the
last id it delivered (``XRANGE``), so a subscriber misses nothing Redis kept, then listens
again. Ids are compared, so a message comes once even when it arrives both ways.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import random
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from areion_redis import RedisSettings, acquire_client, escape_glob, ready, release_client
from redis.exceptions import (
    ClusterDownError,
    ReadOnlyError,
    RedisClusterException,
    RedisError,
    ResponseError,
    TryAgainError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from .channels import ChannelMessage, ChannelUnavailable

if TYPE_CHECKING:
    from redis.asyncio import Redis, RedisCluster
    from redis.asyncio.client import PubSub

logger = logging.getLogger("areion.realtime")

# KEYS[1]: the stream; ARGV: history size, text, pub/sub channel.
_PUBLISH = """
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'd', ARGV[2])
redis.call('PUBLISH', ARGV[3], id .. '\\n' .. ARGV[2])
return id
"""
#: Redis cannot be reached, or cannot take writes right now (a failover in progress).
_DOWN: tuple[type[BaseException], ...] = (
    RedisConnectionError, RedisTimeoutError, OSError, ClusterDownError, TryAgainError, ReadOnlyError,
    RedisClusterException,
)
#: Anything Redis or redis-py raises.
_FAILURES: tuple[type[BaseException], ...] = (*_DOWN, RedisError)
#: What ends a listening connection: those, and a catch-up's ``ChannelUnavailable``.
_LISTEN_FAILURES: tuple[type[BaseException], ...] = (*_FAILURES, ChannelUnavailable)
#: Seconds of silence on the pub/sub connection before it is PINGed; twice that: given up on.
HEARTBEAT = 5.0
_STREAM_ID = re.compile(r"[0-9]{1,20}(-[0-9]{1,20})?")


class RedisBackend:
    """Channels through Redis pub/sub, with a Redis stream per channel as its history."""

    def __init__(self, redis: RedisSettings | str, history_size: int, prefix: str) -> None:
        if isinstance(redis, str):
            redis = RedisSettings.from_url(redis)
        # RESP2: pub/sub messages as replies (the settings' other options are kept, and a
        # plugin naming the same Redis shares the pool).
        self.settings = dataclasses.replace(redis, protocol=2)
        #: Where Redis is, without credentials (logs and errors).
        self.url = self.settings.describe()
        self._history_size = history_size
        self._prefix = prefix
        self._pattern = escape_glob(prefix) + "*"
        self._client: Redis | RedisCluster | None = None
        self._listener: asyncio.Task[None] | None = None
        self._deliver: Callable[[ChannelMessage], None] | None = None
        #: Channels with subscribers in this process -> the newest id of their stream when the
        #: first one joined (None: unknown, Redis was down): where a catch-up starts when
        #: nothing was delivered since.
        self._joined: dict[str, str | None] = {}
        #: The last message delivered per joined channel: its id and ``id_key``.
        self._delivered: dict[str, tuple[str, tuple[int, ...]]] = {}
        #: Set by a reconnection of the pub/sub connection made inside redis-py (a catch-up is due).
        self._reconnected = False
        #: Set while the pub/sub connection is subscribed (tests and readiness wait on it).
        self.listening = asyncio.Event()
        #: ``host:port`` of the node the pub/sub connection is on (Cluster), for logs and tests.
        self.node: str | None = None

    def _stream(self, channel: str) -> str:
        return f"{self._prefix}{{{channel}}}"

    # --- the backend interface ----------------------------------------------------------------
    async def start(self, deliver: Callable[[ChannelMessage], None]) -> None:
        self._deliver = deliver
        self._client = acquire_client(self.settings)
        self._listener = asyncio.get_running_loop().create_task(self._listen(), name="areion-realtime-channels")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.listening.wait(), 2)  # down at startup: the listener keeps trying

    async def publish(self, channel: str, data: str) -> str:
        try:
            client = await self._ready()
            raw = await client.eval(_PUBLISH, 1, self._stream(channel), self._history_size, data,
                                    self._prefix + channel)
        except _FAILURES as exc:
            raise self._unavailable(exc, f"channel {channel!r}: message not published") from exc
        return _text(raw)

    async def history(self, channel: str, after: str | None) -> list[ChannelMessage]:
        # An id that is no stream id (a memory-backend id, garbage): the whole history.
        start = f"({after}" if after is not None and _STREAM_ID.fullmatch(after) else "-"
        try:
            client = await self._ready()
            try:
                entries = await client.xrange(self._stream(channel), min=start, max="+")
            except ResponseError:  # an id out of range
                entries = await client.xrange(self._stream(channel), min="-", max="+")
        except _FAILURES as exc:
            raise self._unavailable(exc, f"channel {channel!r}: history not read") from exc
        return [ChannelMessage(_text(entry_id), channel, _text((fields or {}).get(b"d", b"")))
                for entry_id, fields in entries or ()]

    async def join(self, channel: str) -> None:
        """The first subscriber of ``channel`` in this process: note where its stream ends."""
        if channel in self._joined:
            return
        self._joined[channel] = None
        if not self.listening.is_set():
            return  # Redis down: do not wait for it; the catch-up after the reconnection notes it
        with contextlib.suppress(*_FAILURES):
            await self._mark(channel)

    async def _mark(self, channel: str) -> None:
        """Note the newest id of ``channel``'s stream as where a catch-up starts (one round trip)."""
        client = await self._ready()
        newest = await client.xrevrange(self._stream(channel), max="+", min="-", count=1)
        if channel in self._joined and self._joined[channel] is None:
            self._joined[channel] = _text(newest[0][0]) if newest else "0-0"

    def leave(self, channel: str) -> None:
        """The last subscriber of ``channel`` in this process left."""
        self._joined.pop(channel, None)
        self._delivered.pop(channel, None)

    async def close(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener
        if self._client is not None:
            self._client = None
            await release_client(self.settings)

    # --- the client ---------------------------------------------------------------------------
    async def _ready(self) -> Redis | RedisCluster:
        """The client, a Cluster's slots discovered once (``areion_redis.ready``: a burst of
        first publishes must not start one discovery each)."""
        client = self._client
        if client is None:
            raise RedisConnectionError("the channel backend is closed")
        return await ready(client)

    def _unavailable(self, exc: BaseException, what: str) -> ChannelUnavailable:
        if isinstance(exc, _DOWN):
            return ChannelUnavailable(f"{what}, Redis at {self.url} is unreachable: {exc!r}")
        return ChannelUnavailable(f"{what}, Redis at {self.url} refused the command: {exc!r}")

    # --- the listener -------------------------------------------------------------------------
    async def _listen(self) -> None:
        delay = 0.1
        refresh = False
        while True:
            pubsub: PubSub | None = None
            try:
                pubsub = await self._subscribe(refresh)
                await self._catch_up()
                if refresh:
                    logger.info("channels: listening again on Redis at %s", self.url)
                self.listening.set()
                delay = 0.1
                await self._read(pubsub)
            except asyncio.CancelledError:
                raise
            except _LISTEN_FAILURES as exc:
                if self.listening.is_set():
                    logger.warning("channels: lost Redis at %s (%r); retrying", self.url, exc)
                self.listening.clear()
                refresh = True
                # Jitter: every worker of every host does not reconnect in step after a failover.
                await asyncio.sleep(delay * (0.5 + random.random()))
                delay = min(delay * 2, 2.0)
            finally:
                if pubsub is not None:
                    await self._close_pubsub(pubsub)

    async def _subscribe(self, refresh: bool) -> PubSub:
        """A pub/sub connection with the prefix's pattern subscribed (on a Cluster: to one node)."""
        client = await self._ready()
        from redis.asyncio import RedisCluster

        if not isinstance(client, RedisCluster):
            pubsub = client.pubsub()
            try:
                await pubsub.psubscribe(self._pattern)
            except BaseException:
                await self._close_pubsub(pubsub)  # its connection goes back to the pool
                raise
            self._watch(pubsub)
            return pubsub
        if refresh:  # after a failure: the slot map may have changed (a failover)
            await client.nodes_manager.initialize()
        primaries = client.get_primaries()
        others = [node for node in client.get_nodes() if node not in primaries]
        random.shuffle(primaries)
        random.shuffle(others)
        failure: BaseException | None = None
        for node in (*primaries, *others):
            cluster_pubsub = client.pubsub(node=node)
            try:
                await cluster_pubsub.psubscribe(self._pattern)
            except BaseException as exc:
                await self._close_pubsub(cluster_pubsub)
                if not isinstance(exc, _FAILURES):
                    raise
                failure = exc
                continue
            self.node = node.name
            self._watch(cluster_pubsub)
            return cluster_pubsub
        raise failure or RedisClusterException("no cluster node to listen on")

    def _watch(self, pubsub: PubSub) -> None:
        """Learn of reconnections redis-py makes by itself (each needs a catch-up)."""
        self._reconnected = False
        if pubsub.connection is not None:
            pubsub.connection.register_connect_callback(self._on_reconnect)

    def _on_reconnect(self, connection: Any) -> None:
        self._reconnected = True

    async def _close_pubsub(self, pubsub: PubSub) -> None:
        if pubsub.connection is not None:
            pubsub.connection.deregister_connect_callback(self._on_reconnect)
        with contextlib.suppress(Exception):
            await pubsub.aclose()  # type: ignore[no-untyped-call, unused-ignore]  # typed from redis-py 8.2

    async def _read(self, pubsub: PubSub) -> None:
        pinged = False
        while True:
            message = await pubsub.get_message(timeout=HEARTBEAT)
            if self._reconnected:
                self._reconnected = False
                logger.info("channels: reconnected to Redis at %s", self.url)
                await self._catch_up()
            if message is None:
                if pinged:
                    raise RedisConnectionError(f"no answer to a PING within {HEARTBEAT:g} s")
                await pubsub.ping()
                pinged = True
                continue
            pinged = False
            if message.get("type") == "pmessage":
                self._on_message(message)

    def _on_message(self, message: dict[str, Any]) -> None:
        channel_key = _text(message.get("channel", b""))
        payload = message.get("data")
        if not isinstance(payload, bytes) or not channel_key.startswith(self._prefix):
            return
        channel = channel_key[len(self._prefix):]
        if channel not in self._joined:
            return  # nobody here subscribes to it
        message_id, _, data = payload.partition(b"\n")
        self._dispatch(ChannelMessage(message_id.decode(), channel, data.decode()))

    def _dispatch(self, message: ChannelMessage) -> None:
        last = self._delivered.get(message.channel)
        if last is not None and message.key <= last[1]:
            return  # delivered already (a catch-up read it from the stream)
        self._delivered[message.channel] = (message.id, message.key)
        if self._deliver is not None:
            self._deliver(message)

    async def _catch_up(self) -> None:
        """What each subscribed channel's stream got while the connection was away."""
        for channel in list(self._joined):
            delivered = self._delivered.get(channel)
            after = delivered[0] if delivered is not None else self._joined.get(channel)
            if after is None:  # joined while Redis was down: it starts from here
                await self._mark(channel)
                continue
            for message in await self.history(channel, after):
                if channel in self._joined:
                    self._dispatch(message)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
