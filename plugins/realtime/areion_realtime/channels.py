"""Channels: publish a message once, every subscriber of the channel gets it.

``Channels`` fans messages out to this process's subscribers; a backend carries them between
processes and keeps each channel's recent history. The memory backend serves one process;
the Redis backend (``redis_channels.py``) every worker on every host. Each message has an id,
increasing within a channel, so a subscriber can resume after the last one it saw
(``subscribe(channel, last_id=...)``: SSE's ``Last-Event-ID``).

Slow subscribers: each subscription buffers at most ``subscriber_queue`` messages; one that
falls further behind is ended (``SubscriberTooSlow`` from its iterator) rather than letting
it hold memory without bound or slow the others down.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from areion_core import PluginApp, WebSocket


@dataclass(frozen=True, slots=True)
class ChannelMessage:
    """One published message: its ``id`` (increasing within the channel), channel and text."""

    id: str
    channel: str
    data: str
    #: ``id_key(id)``, worked out once: every subscriber compares it.
    key: tuple[int, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", id_key(self.id))


class ChannelUnavailable(Exception):
    """The channel backend cannot be reached (Redis is down): the message was not published."""


class SubscriberTooSlow(Exception):
    """A subscriber fell more than ``subscriber_queue`` messages behind; its subscription ended."""


def id_key(message_id: str) -> tuple[int, ...]:
    """Message ids in their order: ``"17"`` (memory) or ``"1712345678901-3"`` (Redis streams)."""
    try:
        return tuple(int(part) for part in message_id.split("-"))
    except ValueError:
        return ()


class ChannelBackend(Protocol):
    """Carries messages between processes and keeps each channel's history."""

    async def start(self, deliver: Callable[[ChannelMessage], None]) -> None:
        """Begin delivering every published message to ``deliver``."""

    async def join(self, channel: str) -> None:
        """``channel`` got its first subscriber in this process (the Redis backend notes where
        its stream ends, to catch up from there after a reconnection)."""

    def leave(self, channel: str) -> None:
        """``channel``'s last subscriber in this process left."""

    async def publish(self, channel: str, data: str) -> str:
        """Publish; the message's id. Raises ``ChannelUnavailable`` when the backend is down."""

    async def history(self, channel: str, after: str | None) -> list[ChannelMessage]:
        """The kept messages of ``channel`` after the id ``after`` (all kept ones when None)."""

    async def close(self) -> None:
        """Stop delivering; release connections."""


class MemoryBackend:
    """One process: messages go straight to the local subscribers; history in a bounded deque."""

    def __init__(self, history_size: int) -> None:
        self._history_size = history_size
        self._history: dict[str, deque[ChannelMessage]] = {}
        self._ids = itertools.count(1)
        self._deliver: Callable[[ChannelMessage], None] | None = None

    async def start(self, deliver: Callable[[ChannelMessage], None]) -> None:
        self._deliver = deliver

    async def join(self, channel: str) -> None:
        pass

    def leave(self, channel: str) -> None:
        pass

    async def publish(self, channel: str, data: str) -> str:
        message = ChannelMessage(str(next(self._ids)), channel, data)
        if self._history_size:
            kept = self._history.get(channel)
            if kept is None:
                kept = self._history[channel] = deque(maxlen=self._history_size)
            kept.append(message)
        if self._deliver is not None:
            self._deliver(message)
        return message.id

    async def history(self, channel: str, after: str | None) -> list[ChannelMessage]:
        kept = list(self._history.get(channel, ()))
        if after is None:
            return kept
        floor = id_key(after)
        return [m for m in kept if m.key > floor]

    async def close(self) -> None:
        self._deliver = None


class Subscription:
    """``async for message in subscription`` — a channel's messages, history first when resuming.

    Use it as ``async with channels.subscribe(channel) as messages:`` so it is removed from
    the channel when the block ends.
    """

    def __init__(self, channels: Channels, channel: str, last_id: str | None, limit: int) -> None:
        self.channel = channel
        self._channels = channels
        self._last_id = last_id
        self._limit = limit
        self._queue: deque[ChannelMessage] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._overflowed = False
        self._closed = False
        #: While ``forward`` runs: its socket's ``try_send``, which takes messages as they come.
        self._sink: Callable[[str], bool] | None = None
        #: The last id handed out: a message at or below it (history and live overlap) is skipped.
        self._floor: tuple[int, ...] = id_key(last_id) if last_id else ()

    async def __aenter__(self) -> Subscription:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()

    async def start(self) -> None:
        """Join the channel, then queue the history after ``last_id`` (a resume) before anything live."""
        await self._channels.join(self)
        if self._last_id is not None:
            history = await self._channels.history(self.channel, self._last_id)
            # What arrived live meanwhile goes after the history; __anext__ skips the overlap.
            live = list(self._queue)
            self._queue.clear()
            for message in (*history, *live):
                self.push(message)

    def push(self, message: ChannelMessage) -> None:
        """A message for this subscriber (called by ``Channels``)."""
        if self._closed:
            return
        sink = self._sink
        if sink is not None and not self._queue:
            # Forwarding, and nothing waits before this message: straight to the socket when it
            # takes it at once (no task switch); queued, for ``forward`` to send, when it cannot.
            key = message.key
            if key <= self._floor:
                return  # handed out already (history and live overlap)
            if sink(message.data):
                self._floor = key
                return
        if len(self._queue) >= self._limit:
            self._overflowed = True
        else:
            self._queue.append(message)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def __aiter__(self) -> AsyncIterator[ChannelMessage]:
        return self

    async def __anext__(self) -> ChannelMessage:
        while True:
            if self._overflowed:
                self.close()
                raise SubscriberTooSlow(f"a subscriber of {self.channel!r} fell {self._limit} messages behind")
            queue = self._queue
            while queue:
                message = queue.popleft()
                key = message.key
                if key > self._floor:
                    self._floor = key
                    return message
            if self._closed:
                raise StopAsyncIteration
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None

    async def forward(self, ws: WebSocket) -> None:
        """Send every message's text to ``ws``, in order, until the subscription ends.

        A message ``ws`` can take at once (``WebSocket.try_send``) is written as it is
        published, from the publisher's side, with no task switch: a broadcast to many members
        costs each one write. One it cannot take (the client is not reading) is queued here
        and sent by this coroutine with ``await ws.send_text``, under the slow-consumer policy,
        before anything after it. Raises ``SubscriberTooSlow`` when the member falls
        ``subscriber_queue`` messages behind, ``WebSocketDisconnect`` when the socket closes.
        """
        self._sink = ws.try_send
        try:
            async for message in self:
                await ws.send_text(message.data)
        finally:
            self._sink = None

    def close(self) -> None:
        """Leave the channel (iteration ends once the queue is drained)."""
        if not self._closed:
            self._closed = True
            self._channels.discard(self)
            waiter = self._waiter
            if waiter is not None and not waiter.done():
                waiter.set_result(None)


class Channels:
    """``await channels.publish(channel, text)`` and ``channels.subscribe(channel)``, on a backend."""

    def __init__(self, backend: Callable[[], ChannelBackend], subscriber_queue: int,
                 drop_when_unavailable: bool = False, app: PluginApp | None = None) -> None:
        # Made on first use, in the worker process (a Redis client must not cross a fork).
        self._make_backend = backend
        self._backend: ChannelBackend | None = None
        self._limit = subscriber_queue
        self._drop = drop_when_unavailable
        self._app = app
        #: Per channel, its subscriptions in the order they joined (a dict as an ordered set): a
        #: publish reaches them in that order, the same for every message.
        self._subscribers: dict[str, dict[Subscription, None]] = {}
        self._started = False

    @property
    def backend(self) -> ChannelBackend:
        if self._backend is None:
            self._backend = self._make_backend()
        return self._backend

    async def start(self) -> None:
        """Start delivering (the plugin's startup hook calls it; publish and subscribe do too)."""
        if not self._started:
            self._started = True
            await self.backend.start(self._deliver)

    async def close(self) -> None:
        if self._started:
            self._started = False
            await self.backend.close()
            self._backend = None
        for subscribers in list(self._subscribers.values()):
            for subscription in list(subscribers):
                subscription.close()

    async def publish(self, channel: str, message: str) -> str | None:
        """Publish ``message`` to every subscriber of ``channel`` on every worker; its id.

        Raises ``ChannelUnavailable`` when the backend is down, or, with
        ``on_unavailable = "drop"``, logs it and returns None.
        """
        await self.start()
        try:
            return await self.backend.publish(channel, message)
        except ChannelUnavailable:
            if not self._drop:
                raise
            if self._app is not None:
                self._app.logger.warning("channel %r: message dropped, the backend is unavailable", channel)
            return None

    def subscribe(self, channel: str, last_id: str | None = None) -> Subscription:
        """A subscription to ``channel``: ``async with channels.subscribe(c) as messages: async for m in messages``.

        With ``last_id``, the kept history after that id comes first (a resume).
        """
        return Subscription(self, channel, last_id, self._limit)

    async def history(self, channel: str, after: str | None = None) -> list[ChannelMessage]:
        """The messages ``channel`` keeps (``history_size``), after the id ``after`` when given."""
        await self.start()
        return await self.backend.history(channel, after)

    # --- local fan-out ------------------------------------------------------------------------
    async def join(self, subscription: Subscription) -> None:
        """Add ``subscription``; the channel's first one here is announced to the backend."""
        await self.start()
        subscribers = self._subscribers.get(subscription.channel)
        if subscribers is None:
            subscribers = self._subscribers[subscription.channel] = {}
        subscribers[subscription] = None
        if len(subscribers) == 1:
            await self.backend.join(subscription.channel)

    def discard(self, subscription: Subscription) -> None:
        subscribers = self._subscribers.get(subscription.channel)
        if subscribers is not None:
            subscribers.pop(subscription, None)
            if not subscribers:
                del self._subscribers[subscription.channel]
                if self._backend is not None:
                    self._backend.leave(subscription.channel)

    def _deliver(self, message: ChannelMessage) -> None:
        for subscription in tuple(self._subscribers.get(message.channel, ())):
            subscription.push(message)


def get_channels(app: PluginApp) -> Channels:
    """The app's channels (``[plugins.realtime]``'s backend): ``get_channels(request.app)``."""
    channels = getattr(app.get_plugin("realtime"), "channels", None)
    if not isinstance(channels, Channels):
        raise RuntimeError("channels need the realtime plugin (areion-realtime) enabled in this app")
    return channels
