"""The Redis channel backend: a message published on any worker or host reaches every subscriber.

Publishing is one round trip: a Lua script appends the message to the channel's stream
(``XADD ... MAXLEN ~ history_size``: the history, and the message's id) and ``PUBLISH``\\es
``id + "\\n" + text`` on the channel's pub/sub channel, atomically.

Each process keeps one pub/sub connection, pattern-subscribed to every channel of the prefix
(one ``PSUBSCRIBE``, no subscribe/unsubscribe traffic as subscribers come and go; a process
receives the messages of channels it has no subscriber on, and drops them). When the
connection breaks (Redis restarted, a network cut), the listener retries with backoff; once
back, it reads from each subscribed channel's stream what was added after the last id it
delivered (``XRANGE``), so a subscriber misses nothing Redis kept, then listens again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

import redis.asyncio as redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from .channels import ChannelMessage, ChannelUnavailable, id_key

logger = logging.getLogger("areion.realtime")

# KEYS[1]: the stream; ARGV: history size, text, pub/sub channel.
_PUBLISH = """
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'd', ARGV[2])
redis.call('PUBLISH', ARGV[3], id .. '\\n' .. ARGV[2])
return id
"""
_DOWN = (RedisConnectionError, RedisTimeoutError, OSError)


class RedisBackend:
    """Channels through Redis pub/sub, with a Redis stream per channel as its history."""

    def __init__(self, url: str, history_size: int, prefix: str) -> None:
        self.url = url
        self._history_size = history_size
        self._prefix = prefix
        self._client: redis.Redis = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)
        self._script = self._client.register_script(_PUBLISH)
        self._listener: asyncio.Task[None] | None = None
        self._deliver: Callable[[ChannelMessage], None] | None = None
        self._wanted: Callable[[], list[str]] = list
        #: The last id delivered per channel: what a reconnection catches up from.
        self._last: dict[str, str] = {}
        #: Set while the pub/sub connection is subscribed (tests and readiness wait on it).
        self.listening = asyncio.Event()

    def _stream(self, channel: str) -> str:
        return f"{self._prefix}{channel}"

    async def start(self, deliver: Callable[[ChannelMessage], None], wanted: Callable[[], list[str]]) -> None:
        self._deliver, self._wanted = deliver, wanted
        self._listener = asyncio.get_running_loop().create_task(self._listen(), name="areion-realtime-channels")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.listening.wait(), 2)  # down at startup: the listener keeps trying

    async def publish(self, channel: str, data: str) -> str:
        key = self._stream(channel)
        try:
            raw = await self._script(keys=[key], args=[self._history_size, data, key])
        except _DOWN as exc:
            raise ChannelUnavailable(f"Redis at {self._safe_url()} is unreachable: {exc}") from exc
        return raw.decode() if isinstance(raw, bytes) else str(raw)

    async def history(self, channel: str, after: str | None) -> list[ChannelMessage]:
        start = "-" if after is None else f"({after}"
        try:
            entries = await self._client.xrange(self._stream(channel), min=start, max="+")
        except _DOWN as exc:
            raise ChannelUnavailable(f"Redis at {self._safe_url()} is unreachable: {exc}") from exc
        except RedisError:  # "(id" with an id that is not a stream id (a memory-backend id, say)
            entries = await self._client.xrange(self._stream(channel), min="-", max="+")
        return [ChannelMessage(_text(entry_id), channel, _text((fields or {}).get(b"d", b"")))
                for entry_id, fields in entries or ()]

    async def close(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener
        await self._client.aclose()

    # --- the listener -------------------------------------------------------------------------
    async def _listen(self) -> None:
        delay = 0.1
        first = True
        while True:
            pubsub = self._client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.psubscribe(f"{self._prefix}*")
                self.listening.set()
                if not first:
                    logger.info("channels: reconnected to Redis at %s", self._safe_url())
                    await self._catch_up()
                first = False
                delay = 0.1
                while True:
                    message = await pubsub.get_message(timeout=None)
                    if message is not None:
                        self._on_message(message)
            except asyncio.CancelledError:
                raise
            except (*_DOWN, RedisError) as exc:
                if self.listening.is_set():
                    logger.warning("channels: lost Redis at %s (%s); retrying", self._safe_url(), exc)
                self.listening.clear()
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]

    def _on_message(self, message: dict[str, Any]) -> None:
        channel_key = _text(message.get("channel", b""))
        payload = message.get("data")
        if not isinstance(payload, bytes) or not channel_key.startswith(self._prefix):
            return
        message_id, _, data = payload.partition(b"\n")
        self._dispatch(ChannelMessage(message_id.decode(), channel_key[len(self._prefix):], data.decode()))

    def _dispatch(self, message: ChannelMessage) -> None:
        last = self._last.get(message.channel)
        if last is not None and message.key <= id_key(last):
            return  # caught up already (a reconnection read it from the stream)
        self._last[message.channel] = message.id
        if self._deliver is not None:
            self._deliver(message)

    async def _catch_up(self) -> None:
        """After a reconnection: what each subscribed channel's stream got while we were away."""
        for channel in self._wanted():
            last = self._last.get(channel)
            if last is None:
                continue
            for message in await self.history(channel, last):
                self._dispatch(message)

    def _safe_url(self) -> str:
        """The URL without its password, for messages."""
        scheme, sep, rest = self.url.partition("://")
        userinfo, at, host = rest.rpartition("@")
        if at and ":" in userinfo:
            return f"{scheme}{sep}{userinfo.split(':', 1)[0]}:***@{host}"
        return self.url


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
