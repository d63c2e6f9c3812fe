"""A request body read as it arrives: the reader feeds it, the handler consumes it, with back-pressure.

For a route that streams its body (``request.stream()``, ``request.form()``), the server hands
the request over when its header section is complete, with a :class:`BodyStream` in place of
the body. The reader feeds the stream chunk by chunk as llhttp reports them; the handler takes
them with :meth:`BodyStream.read_chunk`. While more than ``HIGH_WATER`` bytes wait unread, the
connection stops reading the socket (the client's TCP window closes), and reading resumes once
the handler has taken the buffer below ``LOW_WATER`` — so a slow handler holds at most about
``HIGH_WATER`` plus one socket read in memory, whatever the size of the upload.

A body with a Content-Length of ``RECV_SIZE`` (1 MiB) or more, on a connection without TLS, is
read by a :class:`BufferedReceiver` instead of the connection's ``data_received``: reads of up
to 1 MiB into a buffer of the thread's (4× fewer system calls and trips through the reader and
the handler than the event loop's 256 KB reads, one copy of each byte as before), pausing
past ``RECV_SIZE`` unread bytes (at most about 2 MiB held for a slow handler). The connection
gets its protocol back with the body's last byte, and what followed the body is parsed as usual.

When the handler is done without reading the whole body, the rest is read and dropped when it
is small and announced (``DRAIN_LIMIT``), so the connection can be kept alive; otherwise the
connection closes after the response (RFC 9112 §9.6; lingering, so the response survives).
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from typing import Any, Protocol

from .relay import RelayToConnection

#: Past this many unread bytes the connection stops reading the socket.
HIGH_WATER = 256 * 1024
#: Reading resumes once the handler has taken the buffer below this.
LOW_WATER = 64 * 1024
#: An unread rest of a body up to this size (Content-Length known) is read and dropped to keep
#: the connection alive; a larger or unannounced rest closes it.
DRAIN_LIMIT = 256 * 1024
#: A streamed Content-Length body of at least this many bytes is read by a
#: :class:`BufferedReceiver`, in reads of up to this many bytes (the event loop's own reads are
#: 256 KB); its stream pauses reading past this many unread bytes instead of ``HIGH_WATER``.
RECV_SIZE = 1024 * 1024


class BodyError(Exception):
    """The body cannot be read to its end: ``status`` is what the request must be answered with
    (413 over the limit, 400 malformed or cut short, 408 too slow)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


class StreamOwner(Protocol):
    """What a body stream needs of its connection's reader."""

    def pause_body(self) -> None:
        """Stop reading the socket: the handler has enough unread."""

    def resume_body(self) -> None:
        """Read the socket again: the handler wants more."""

    def body_progress(self) -> None:
        """The handler took some of the body (the body timeout counts from now)."""

    def send_continue(self) -> None:
        """Write ``100 Continue`` now."""


class BodyStream:
    """One request's body, between the reader that feeds it and the handler that consumes it."""

    __slots__ = ("_chunks", "_error", "_loop", "_waiter", "abandoned", "buffered", "complete", "expect_continue",
                 "high_water", "length", "limit", "owner", "received", "receiver", "started")

    def __init__(self, owner: StreamOwner, limit: int, length: int, expect_continue: bool) -> None:
        self.owner = owner
        #: The most bytes this body may have (the route's ``max_body_bytes`` or the server's).
        self.limit = limit
        #: The declared Content-Length, or -1 (chunked).
        self.length = length
        #: The client waits for ``100 Continue``; it is sent when the handler first reads.
        self.expect_continue = expect_continue
        self.received = 0
        self.buffered = 0
        #: Past this many unread bytes the reader pauses: ``HIGH_WATER``, or ``RECV_SIZE`` while a
        #: BufferedReceiver reads the body (a read of its own size does not pause it).
        self.high_water = HIGH_WATER
        #: The protocol reading a large body into its buffer (see ``read_buffered``), or None.
        self.receiver: BufferedReceiver | None = None
        self.complete = False
        #: The handler has begun reading.
        self.started = False
        #: The handler is done with the request: what still arrives is dropped.
        self.abandoned = False
        self._chunks: deque[bytes] = deque()
        self._error: BodyError | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    # --- the reader's side --------------------------------------------------------------------
    def read_buffered(self, conn: Any) -> None:
        """Have a :class:`BufferedReceiver` read the rest of a large Content-Length body off the
        connection ``conn`` (not under TLS); the connection reads again once the body is complete."""
        if self.length >= RECV_SIZE and not conn.tls:
            self.receiver = BufferedReceiver.attach(conn)
            if self.receiver is not None:
                self.high_water = RECV_SIZE

    def feed(self, data: bytes) -> None:
        """Body bytes from llhttp (the limit was checked by the reader)."""
        self.received += len(data)
        if self.abandoned:
            return
        self._chunks.append(data)
        self.buffered += len(data)
        if self.buffered > self.high_water:
            self.owner.pause_body()
        self._wake()

    def finish(self) -> None:
        """The body is complete."""
        self.complete = True
        if self.receiver is not None:
            self.receiver.detach()
            self.receiver = None
        self._wake()

    def fail(self, status: int, detail: str) -> None:
        """The body cannot be completed: the handler's next read raises ``BodyError``."""
        if self._error is None:
            self._error = BodyError(status, detail)
        self._wake()

    @property
    def full(self) -> bool:
        """Reading is held back because the handler has not taken what arrived."""
        return not self.abandoned and self.buffered > LOW_WATER

    # --- the handler's side -------------------------------------------------------------------
    async def read_chunk(self) -> bytes:
        """The next piece of the body; ``b""`` once it is complete. Raises ``BodyError``."""
        if not self.started:
            self.started = True
            if self.expect_continue and not self.complete:
                self.owner.send_continue()
        chunks = self._chunks
        while not chunks:
            if self._error is not None:
                raise self._error
            if self.complete:
                return b""
            self.owner.resume_body()
            loop = self._loop
            if loop is None:  # asyncio.get_running_loop() costs a getpid() per call on Python 3.11
                loop = self._loop = asyncio.get_running_loop()
            waiter = self._waiter = loop.create_future()
            try:
                await waiter
            finally:
                self._waiter = None
        chunk = chunks.popleft()
        self.buffered -= len(chunk)
        self.owner.body_progress()
        if self.buffered <= LOW_WATER and not self.complete:
            self.owner.resume_body()
        return chunk

    def abandon(self) -> bool:
        """The handler is done: drop what is buffered and what still comes. True when the rest
        will be read and dropped (the connection may stay open), False when it must close."""
        self.abandoned = True
        self._chunks.clear()
        self.buffered = 0
        if self.complete:
            return True
        if self._error is not None or self.length < 0:
            return False
        if self.expect_continue and not self.started:
            return False  # the client may never send a body it was not asked for
        return self.length - self.received <= DRAIN_LIMIT

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


_buffers = threading.local()


def _recv_buffer() -> memoryview:
    """This thread's read buffer (one event loop per thread, and each read is copied out at once)."""
    buffer: memoryview | None = getattr(_buffers, "buffer", None)
    if buffer is None:
        buffer = _buffers.buffer = memoryview(bytearray(RECV_SIZE))
    return buffer


class BufferedReceiver(RelayToConnection, asyncio.BufferedProtocol):
    """The connection's protocol while a large streamed body arrives: reads of ``RECV_SIZE``.

    The event loop's own reads are 256 KB (uvloop) or 256 KiB (asyncio); into a buffer of our
    own they are up to ``RECV_SIZE`` long, so a large body takes fewer system calls and fewer
    trips through the reader and the handler. Each read is copied out once, into the ``bytes``
    handed to the connection's ``data_received`` as the loop's own path does; every other event
    goes to the connection too. Switching protocols inside a read is safe on both loops: each
    takes the new protocol from its next read on.
    """

    __slots__ = ("_buffer", "conn", "transport")

    def __init__(self, conn: Any, transport: Any) -> None:
        #: The connection (an ``asyncio.Protocol``) that every event goes on to.
        self.conn = conn
        self.transport = transport
        self._buffer = _recv_buffer()

    @classmethod
    def attach(cls, conn: Any) -> BufferedReceiver | None:
        """Read ``conn``'s socket through a new receiver; None when the connection is closing."""
        transport = conn.transport
        if transport is None or transport.is_closing():
            return None
        receiver = cls(conn, transport)
        transport.set_protocol(receiver)
        return receiver

    def detach(self) -> None:
        """The connection reads its socket again (the body is complete)."""
        if not self.transport.is_closing():
            self.transport.set_protocol(self.conn)

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._buffer

    def buffer_updated(self, nbytes: int) -> None:
        self.conn.data_received(bytes(self._buffer[:nbytes]))
