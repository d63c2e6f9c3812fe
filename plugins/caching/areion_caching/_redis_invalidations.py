"""Invalidations of the memory store, passed between hosts through Redis pub/sub.

``_siblings.py`` reaches the other workers of one host. With ``invalidate_across_hosts`` (and
a ``redis``) beside ``store = "memory"``, every worker of every host also subscribes to one channel
(``<namespace>:invalidations``) and publishes each invalidation it makes there; the others
apply it as their loop next runs. A message carries its sender's id, so a worker skips its
own (it applied it already). On a Cluster, PUBLISH reaches every node, so subscribing on one
is enough.

Pub/sub delivers at most once: a message sent while a subscriber is disconnected is lost to
it. So a subscriber whose connection breaks (or stays silent past a heartbeat) empties its
memory store, and again when it is subscribed once more: a missed invalidation can cost a
few misses, never a stale hit.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import random
from collections.abc import Callable
from typing import Any

from areion_redis import RedisSettings, acquire_client, release_client

from ._siblings import decode, encode

#: Seconds without a message before the connection is PINGed; twice that silent means lost.
HEARTBEAT = 0.5

Apply = Callable[[str, str], None]


class RedisInvalidations:
    """Publish this process's invalidations on a channel and apply everyone else's."""

    def __init__(self, settings: RedisSettings, namespace: str, apply: Apply, logger: logging.Logger,
                 *, timeout: float = 0.5) -> None:
        # RESP2: messages arrive as plain pub/sub replies on a connection of our own.
        self.settings = dataclasses.replace(settings, retries=1, retry_on_timeout=False,
                                            socket_timeout=timeout, connect_timeout=timeout, protocol=2)
        self.channel = f"{namespace}:invalidations".encode()
        self.sender = os.urandom(8).hex().encode()
        self._apply = apply
        self._logger = logger
        self._client: Any = None
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._connection: Any = None
        #: Whether the subscription is up (tests wait for it).
        self.subscribed = False

    def open(self) -> None:
        """Start listening in the running loop."""
        self._client = acquire_client(self.settings)
        self._task = asyncio.get_running_loop().create_task(self._run(), name="areion-caching-invalidations")

    async def publish(self, kind: str, text: str) -> None:
        """Send one invalidation to every other subscriber; a Redis failure is logged, not raised."""
        if self._client is None:
            return
        message = self.sender + b" " + encode(kind, text)
        try:
            if self.settings.mode == "cluster":
                # Any node relays to all; naming one spares redis-py 8.1's cluster client its
                # key lookup, which fails for PUBLISH ("AsyncCommandsParser has no attribute node").
                await self._client.execute_command("PUBLISH", self.channel, message,
                                                   target_nodes=self._client.get_random_node())
            else:
                await self._client.publish(self.channel, message)
        except Exception as exc:
            self._logger.warning("caching: could not publish an invalidation to other hosts (%r)", exc)

    async def close(self) -> None:
        self._closing = True
        task, self._task = self._task, None
        if self._connection is not None:
            with contextlib.suppress(Exception):
                await self._connection.disconnect(nowait=True)
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._client is not None:
            self._client = None
            await release_client(self.settings)

    async def _run(self) -> None:
        delay = 0.05
        while not self._closing:
            try:
                self._connection = await _connection(self._client, refresh=delay > 0.05)
                await self._connection.connect()
                await self._connection.send_command("SUBSCRIBE", self.channel)
                await self._connection.read_response()
                self._apply("clear", "")  # whatever was missed before this point is unknown
                self.subscribed = True
                delay = 0.05
                await self._listen(self._connection)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if not self._closing:
                    self._logger.warning("caching: invalidations from other hosts lost (%r); "
                                         "memory store emptied, resubscribing", exc)
            finally:
                if self.subscribed:
                    self._apply("clear", "")
                self.subscribed = False
                if self._connection is not None:
                    with contextlib.suppress(Exception):
                        await self._connection.disconnect()
            await asyncio.sleep(delay * (1 + random.random()))
            delay = min(delay * 2, 2.0)

    async def _listen(self, connection: Any) -> None:
        pinged = False
        while not self._closing:
            message = await connection.read_response(timeout=HEARTBEAT)
            if message is None:
                if pinged:
                    raise ConnectionError("no answer to a PING on the invalidation channel")
                await connection.send_command("PING")
                pinged = True
                continue
            pinged = False
            if not (isinstance(message, list) and len(message) == 3 and message[0] == b"message"):
                continue
            sender, _, body = bytes(message[2]).partition(b" ")
            if sender == self.sender:
                continue
            parsed = decode(body)
            if parsed is not None:
                self._apply(*parsed)


async def _connection(client: Any, *, refresh: bool) -> Any:
    """A new connection outside any pool: to a primary of a cluster, else to the (current) primary."""
    from redis.asyncio import RedisCluster

    if isinstance(client, RedisCluster):
        # PUBLISH on a cluster reaches every node: any one serves. Primaries change on failover:
        # after a failure ask for the slot map again (not on the first try: two discoveries at
        # once break each other's connections).
        await client.initialize()
        if refresh:
            await client.nodes_manager.initialize()
        nodes = client.get_primaries()
        node = random.choice(nodes)
        return node.connection_class(**node.connection_kwargs)
    return client.connection_pool.make_connection()
