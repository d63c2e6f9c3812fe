"""One WebSocket connection on Areion's own server: websockets' sans-I/O protocol over the core's stream.

The core writes the 101 and hands over the connection's bytes (``ProtocolSwitch.switch``);
from then on they arrive in ``_data_received``, inside the transport's callback, are parsed
by ``websockets.server.ServerProtocol`` and become whole messages in a short queue the
handler's ``receive()`` takes from — no task of our own per connection. What the protocol
answers by itself (pongs, the close reply) is written in the same callback.

What the library leaves to its user is here: reassembling fragmented messages, UTF-8
validation of text (incremental, so an invalid sequence split across fragments fails fast
with 1007), keepalive pings, the close timeout and the slow-consumer policy.
"""

from __future__ import annotations

import asyncio
import codecs
import os
from collections import deque
from collections.abc import Callable, Coroutine, Sequence
from typing import TYPE_CHECKING, Any

from websockets.datastructures import Headers
from websockets.frames import Frame, Opcode
from websockets.http11 import Request
from websockets.protocol import State
from websockets.server import ServerProtocol
from websockets.typing import Subprotocol

from areion_core import BadRequestError, HttpError, StandardMetrics, WebSocketDisconnect

if TYPE_CHECKING:
    from areion_core import ByteStream, HttpRequest, ProtocolSwitch

    from .handshake import RealtimeProtocol

_OPEN = State.OPEN
_TEXT, _BINARY, _CONT, _CLOSE, _PONG = Opcode.TEXT, Opcode.BINARY, Opcode.CONT, Opcode.CLOSE, Opcode.PONG
_utf8_decoder = codecs.getincrementaldecoder("utf-8")
#: Close codes this module sends itself (RFC 6455 §7.4.1).
GOING_AWAY, INVALID_DATA, POLICY_VIOLATION, INTERNAL_ERROR = 1001, 1007, 1008, 1011


class WebSocketConnection:
    """The ``WebSocketSession`` of one connection (``areion_core.types.WebSocketSession``)."""

    __slots__ = (
        "_closed", "_decoder", "_done", "_hub", "_incoming", "_parts", "_paused", "_ping_payload",
        "_ping_timer", "_plain", "_pong_timer", "_proto", "_queue_limit", "_refused", "_stream", "_switch",
        "_telemetry", "_text", "_waiter", "_write", "accepted", "loop", "request", "route",
    )

    def __init__(self, hub: RealtimeProtocol, request: HttpRequest, switch: ProtocolSwitch) -> None:
        self._hub = hub
        self.request = request
        self._switch = switch
        self.loop = asyncio.get_running_loop()
        route = request.route
        #: The route template: the metrics' label (bounded, unlike the path).
        self.route = route.path if route is not None else "-"
        self.accepted = False
        self._refused = False
        self._proto: ServerProtocol | None = None
        self._stream: ByteStream | None = None
        self._incoming: deque[str | bytes] = deque()
        #: Read once: every message consults them (the settings do not change while serving).
        self._queue_limit = hub.settings.receive_queue
        self._telemetry = hub.app.telemetry
        self._write: Callable[[bytes], None] | None = None
        self._waiter: asyncio.Future[str | bytes | None] | None = None
        #: (code, reason) once no more messages can arrive.
        self._closed: tuple[int, str] | None = None
        #: Resolved when the TCP connection is gone.
        self._done: asyncio.Future[None] = self.loop.create_future()
        self._parts: list[Any] = []
        self._text = False
        self._decoder: codecs.IncrementalDecoder | None = None
        #: No extension was negotiated: a text's frame is the same bytes on every connection.
        self._plain = True
        self._paused = False
        self._ping_payload = b""
        self._ping_timer: asyncio.TimerHandle | None = None
        self._pong_timer: asyncio.TimerHandle | None = None

    # --- the handshake ------------------------------------------------------------------------
    async def accept(self, subprotocol: str | None, headers: Sequence[tuple[str, str]]) -> None:
        if self.accepted or self._refused:
            raise RuntimeError("accept() after the connection was accepted or refused")
        hub = self._hub
        chosen = Subprotocol(subprotocol) if subprotocol is not None else None
        proto = ServerProtocol(extensions=hub.extensions, select_subprotocol=lambda _p, _offered: chosen,
                               max_size=hub.settings.max_message_size)
        raw = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in self.request.headers.raw()]
        response = proto.accept(Request(self.request.raw_path, Headers(raw)))
        if response.status_code != 101:
            detail = response.body.decode("utf-8", "replace").strip() or "invalid WebSocket handshake"
            if response.status_code == 400:
                raise BadRequestError(detail)
            raise HttpError(detail, response.status_code)
        # The core has parsed the request and writes the 101 head itself, so the frames are
        # read by a protocol made OPEN, with the extensions the handshake negotiated.
        handshake = proto
        proto = ServerProtocol(state=_OPEN, max_size=hub.settings.max_message_size)
        proto.extensions = handshake.extensions
        extra = [(k, v) for k, v in response.headers.raw_items() if k.lower() not in ("date", "server")]
        stream = self._switch.switch([*extra, *headers])
        self._proto, self._stream, self._write = proto, stream, stream.write
        self._plain = not proto.extensions
        self.accepted = True
        hub.app.telemetry.inc(StandardMetrics.websockets_open, route=self.route)
        stream.on_shutdown = self.server_shutdown
        stream.start_reading(self._data_received, self._eof_received)
        self._schedule_ping()

    # --- incoming bytes (in the transport's callback) ----------------------------------------
    def _data_received(self, data: bytes) -> None:
        # Every read goes to the protocol whole, and each message it completes goes straight to
        # the handler waiting in ``receive()`` (or, when it is busy, to the queue it reads next).
        proto = self._proto
        assert proto is not None
        # Messages arrive while the connection is open: not once this side sent its close
        # frame (a close from the handler, the shutdown, a failure). Within a read, every data
        # frame before the client's close frame is a message the client sent before closing:
        # it is delivered; nothing after the close frame or after a failure of ours (1007).
        deliver = proto.state is _OPEN
        proto.receive_data(data)
        for frame in proto.events_received():
            if not deliver:
                continue
            opcode = frame.opcode  # type: ignore[union-attr]  # after the handshake: frames only
            if frame.fin and opcode is _TEXT:  # type: ignore[union-attr]
                # The common case, a whole text message in one frame: websockets has unmasked
                # it into ``bytes``; the decode is the UTF-8 check (1007 when it fails).
                try:
                    text = str(frame.data, "utf-8")  # type: ignore[union-attr]
                except UnicodeDecodeError:
                    proto.fail(INVALID_DATA, "invalid UTF-8 in a text message")
                    deliver = False
                    continue
                self._deliver(text)
            elif opcode is _CLOSE:
                deliver = False
            else:
                deliver = self._frame(proto, frame)  # type: ignore[arg-type]
        writes = proto.data_to_send()  # pongs, the close reply, a failure's close frame
        if writes:
            self._send_out(writes)
        if self._closed is None and proto.state is not _OPEN:
            self._set_closed(*self._close_status(proto))

    def _frame(self, proto: ServerProtocol, frame: Frame) -> bool:
        """A frame other than a whole text message; False when it failed the connection (1007)."""
        opcode = frame.opcode
        if opcode is _TEXT or opcode is _BINARY:
            self._text = opcode is _TEXT
            if frame.fin:
                if self._text:
                    try:
                        self._deliver(bytes(frame.data).decode())
                    except UnicodeDecodeError:
                        proto.fail(INVALID_DATA, "invalid UTF-8 in a text message")
                        return False
                else:
                    self._deliver(bytes(frame.data))
                return True
            self._parts = []
            if self._text:
                self._decoder = _utf8_decoder()
                return self._part(proto, frame.data, False)
            self._parts = [bytes(frame.data)]
        elif opcode is _CONT:
            if self._text:
                if not self._part(proto, frame.data, frame.fin):
                    return False
            else:
                self._parts.append(bytes(frame.data))
            if frame.fin:
                parts, self._parts = self._parts, []
                self._deliver("".join(parts) if self._text else b"".join(parts))
        elif opcode is _PONG and frame.data == self._ping_payload and self._pong_timer is not None:
            self._pong_timer.cancel()
            self._pong_timer = None
            self._schedule_ping()
        return True

    def _part(self, proto: ServerProtocol, data: Any, final: bool) -> bool:
        """Decode one fragment of a text message: invalid UTF-8 fails now (False), not at the end."""
        assert self._decoder is not None
        try:
            text = self._decoder.decode(bytes(data), final)
        except UnicodeDecodeError:
            proto.fail(INVALID_DATA, "invalid UTF-8 in a text message")
            return False
        self._parts.append(text)
        return True

    def _deliver(self, message: str | bytes) -> None:
        telemetry = self._telemetry
        if telemetry.enabled:  # a recorder is installed (the null one costs nothing to skip)
            telemetry.inc(StandardMetrics.websocket_messages, route=self.route, direction="in")
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            # The handler waits and nothing is queued before this message: it is the answer.
            waiter.set_result(message)
            return
        incoming = self._incoming
        incoming.append(message)
        if len(incoming) >= self._queue_limit:
            # The handler is behind: the client waits (TCP back-pressure). Every time, not once:
            # the connection resumes reading by itself when its own writes drain.
            self._paused = True
            assert self._stream is not None
            self._stream.pause_reading()

    def _eof_received(self) -> None:
        proto = self._proto
        if proto is not None:
            proto.receive_eof()
            proto.events_received()
            if self._closed is None:
                self._set_closed(*self._close_status(proto))
        self._stop_timers()
        if not self._done.done():
            self._done.set_result(None)

    @staticmethod
    def _close_status(proto: ServerProtocol) -> tuple[int, str]:
        close = proto.close_rcvd or proto.close_sent
        if close is None:
            return 1006, "connection lost"
        return int(close.code), close.reason

    def _set_closed(self, code: int, reason: str) -> None:
        self._closed = (code, reason)
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _flush(self) -> None:
        """Write what the protocol has to send; its end-of-stream mark closes the connection."""
        proto = self._proto
        assert proto is not None
        self._send_out(proto.data_to_send())

    def _send_out(self, writes: list[bytes]) -> None:
        write, stream = self._write, self._stream
        assert write is not None and stream is not None
        for data in writes:
            if data:
                write(data)
            else:
                stream.close()  # the server closes the TCP connection first (RFC 6455 §7.1.1)

    # --- the handler's side -------------------------------------------------------------------
    def receive(self) -> Coroutine[Any, Any, str | bytes]:
        """The next message; ``WebSocketDisconnect`` once the connection is closed."""
        return self._take(False)

    def next_message(self) -> Coroutine[Any, Any, str | bytes]:
        """The next message; ``StopAsyncIteration`` once closed (``async for`` over ``WebSocket``)."""
        return self._take(True)

    async def _take(self, iterating: bool) -> str | bytes:
        incoming = self._incoming
        while not incoming:
            if self._closed is not None:
                if iterating:
                    raise StopAsyncIteration
                raise WebSocketDisconnect(*self._closed)
            if not self.accepted:
                raise RuntimeError("receive() before accept()")
            # ``_deliver`` answers the waiter with the next message itself; ``None`` only wakes
            # (the connection closed).
            waiter: asyncio.Future[str | bytes | None] = self.loop.create_future()
            self._waiter = waiter
            try:
                message = await waiter
            except asyncio.CancelledError:
                arrived = waiter.result() if waiter.done() and not waiter.cancelled() else None
                if arrived is not None:
                    incoming.appendleft(arrived)  # it came as the handler was cancelled: kept for later
                raise
            finally:
                self._waiter = None
            if message is not None:
                return message
        message = incoming.popleft()
        if self._paused and len(incoming) <= self._queue_limit // 2:
            self._paused = False
            assert self._stream is not None
            self._stream.resume_reading()
        return message

    async def send(self, message: str | bytes) -> None:
        proto, stream = self._proto, self._stream
        if proto is None or stream is None:
            raise RuntimeError("send() before accept()")
        if proto.state is not _OPEN:
            raise WebSocketDisconnect(*(self._closed or (1006, "connection closed")))
        self._write_message(proto, message)
        if stream.write_blocked:
            await self._wait_for_reader(stream)

    def try_send(self, message: str | bytes) -> bool:
        """Send now if the connection takes it without waiting; False, sending nothing, when it
        cannot (not open, or its write buffer is full: then ``send()`` waits for the client)."""
        proto, stream = self._proto, self._stream
        if proto is None or stream is None or proto.state is not _OPEN or stream.write_blocked:
            return False
        self._write_message(proto, message)
        return True

    def _write_message(self, proto: ServerProtocol, message: str | bytes) -> None:
        # The frame is the library's (``Frame.serialize``, what ``send_text``/``send_binary``
        # do, with the extensions negotiated: deflate) and goes straight to the connection.
        # Messages are never fragmented here, so no continuation can be pending.
        if isinstance(message, str):
            if self._plain:
                # Without an extension a frame's bytes depend on the text alone (a server does
                # not mask): the same text sent to many members, a broadcast, is serialized
                # once, for the first of them.
                hub = self._hub
                last_text, data = hub.last_frame
                if message is not last_text:
                    data = Frame(_TEXT, message.encode()).serialize(mask=False)
                    hub.last_frame = (message, data)
            else:
                data = Frame(_TEXT, message.encode()).serialize(mask=False, extensions=proto.extensions)
        else:
            data = Frame(_BINARY, message).serialize(mask=False, extensions=proto.extensions)
        self._write(data)  # type: ignore[misc]  # set with the stream, at accept()
        telemetry = self._telemetry
        if telemetry.enabled:
            telemetry.inc(StandardMetrics.websocket_messages, route=self.route, direction="out")

    async def _wait_for_reader(self, stream: ByteStream) -> None:
        """The slow-consumer policy: wait up to ``send_timeout`` for the client to take its
        bytes (the sender is held back meanwhile), then give up on it: 1008 and cut."""
        try:
            async with asyncio.timeout(self._hub.settings.send_timeout):
                await stream.drain()
        except TimeoutError:
            self._set_closed(POLICY_VIOLATION, "client too slow")
            stream.abort()
            raise WebSocketDisconnect(POLICY_VIOLATION, "client too slow") from None

    async def close(self, code: int, reason: str) -> None:
        if not self.accepted:
            self._refused = True  # the endpoint answers 403
            return
        proto = self._proto
        assert proto is not None
        if proto.state is _OPEN:
            proto.send_close(code, reason)
            self._flush()
        if self._closed is None:
            self._set_closed(code, reason)

    async def finish(self, error: BaseException | None) -> None:
        hub = self._hub
        hub.forget(self)
        if not self.accepted:
            return
        proto, stream = self._proto, self._stream
        assert proto is not None and stream is not None
        self._stop_timers()
        self._incoming.clear()
        if self._paused:  # the close handshake needs the client's bytes again
            self._paused = False
            stream.resume_reading()
        if proto.state is _OPEN:
            if error is None:
                proto.send_close(1000, "")
            else:
                proto.send_close(INTERNAL_ERROR, "internal error")
            self._flush()
        if not self._done.done():
            try:
                async with asyncio.timeout(hub.settings.close_timeout):
                    await asyncio.shield(self._done)
            except TimeoutError:
                stream.abort()  # the client never finished the close handshake
        hub.app.telemetry.dec(StandardMetrics.websockets_open, route=self.route)

    def server_shutdown(self) -> None:
        """The server is stopping: close with 1001; the handler's ``receive()`` sees the disconnect."""
        proto = self._proto
        if proto is not None and proto.state is _OPEN:
            proto.send_close(GOING_AWAY, "server shutting down")
            self._flush()
            if self._paused and self._stream is not None:  # the client's close reply must be read
                self._paused = False
                self._stream.resume_reading()
        if self._closed is None:
            self._set_closed(GOING_AWAY, "server shutting down")

    # --- keepalive ----------------------------------------------------------------------------
    def _schedule_ping(self) -> None:
        interval = self._hub.settings.ping_interval
        if interval > 0 and not self._done.done():
            self._ping_timer = self.loop.call_later(interval, self._ping)

    def _ping(self) -> None:
        self._ping_timer = None
        proto = self._proto
        if proto is None or proto.state is not _OPEN:
            return
        self._ping_payload = os.urandom(4)
        proto.send_ping(self._ping_payload)
        self._flush()
        self._pong_timer = self.loop.call_later(self._hub.settings.ping_timeout, self._pong_missing)

    def _pong_missing(self) -> None:
        self._pong_timer = None
        proto = self._proto
        if proto is not None and proto.state is _OPEN:
            proto.fail(INTERNAL_ERROR, "keepalive ping timeout")
            self._flush()
        if self._closed is None:
            self._set_closed(INTERNAL_ERROR, "keepalive ping timeout")

    def _stop_timers(self) -> None:
        for timer in (self._ping_timer, self._pong_timer):
            if timer is not None:
                timer.cancel()
        self._ping_timer = self._pong_timer = None
