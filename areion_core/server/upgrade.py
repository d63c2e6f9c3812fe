"""A connection after ``101 Switching Protocols``: a plain byte stream for the upgraded protocol.

The server owns the switch, a plugin owns the protocol (WebSockets in areion-realtime). Once
the 101 head is written, the connection stops parsing HTTP and its bytes go, unparsed, to an
:class:`UpgradedStream`: the bytes that followed the request head in the same read first,
then every later read. The connection stays the transport's protocol — the stream is fed
through ``HttpConnection.data_received`` — so timeouts, the shutdown drain, write
back-pressure keep working with no second ``asyncio.Protocol``; in the server's set of
connections (shutdown, the once-a-second sweep) the stream stands in for the connection.

The stream delivers bytes as they arrive (``start_reading(on_data, on_eof)``), inside the
transport's callback, so a sans-I/O protocol library parses them with no task switch in
between; its reader pauses and resumes the socket when messages pile up unread. Once the
reader is there, the stream becomes the transport's protocol with the reader as its
``data_received``: each read goes from the event loop straight to the protocol library,
with no call of the server's in between. The rest of the protocol's callbacks (end of
stream, connection lost, write back-pressure) still go to the connection, as before.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from .relay import RelayToConnection

if TYPE_CHECKING:
    from .flow import FlowControl
    from .parser import RequestReader
    from .state import ServerState

logger = logging.getLogger("areion.server")

#: Bytes that arrive before the protocol starts reading, past which the socket is paused.
READ_BUFFER_LIMIT = 256 * 1024


class SwitchableConnection(Protocol):
    """What the switch and the stream need of ``HttpConnection``."""

    state: ServerState
    reader: RequestReader
    flow: FlowControl
    transport: Any
    keep_alive: bool
    upgraded: UpgradedStream | None

    @property
    def closed(self) -> bool:
        """The connection is gone."""

    def eof_received(self) -> bool | None:
        """The client half-closed (``asyncio.Protocol``)."""

    def connection_lost(self, exc: Exception | None) -> None:
        """The connection is gone (``asyncio.Protocol``)."""

    def pause_writing(self) -> None:
        """The transport's write buffer is full (``asyncio.Protocol``)."""

    def resume_writing(self) -> None:
        """The transport's write buffer drained (``asyncio.Protocol``)."""

    def write(self, data: bytes) -> None:
        """Queue bytes for the client."""

    def uncork(self) -> None:
        """Write what was held back."""

    async def drain(self) -> None:
        """Wait while the client is not taking what was written."""

    def sweep(self, now: float) -> None:
        """Apply the timeouts."""

    def cancel_running(self) -> None:
        """Cancel the request in flight."""

    def abort(self) -> None:
        """Cut the connection now."""


def switch_protocol(conn: SwitchableConnection, head: bytes) -> UpgradedStream:
    """Write ``head`` (a whole ``101 Switching Protocols`` head) on ``conn``, whose request in
    flight is its Upgrade request, and hand its bytes from now on to the stream returned."""
    rest = conn.reader.upgrade_rest
    if rest is None or conn.closed:
        raise RuntimeError("this connection has no Upgrade request to switch on")
    conn.reader.upgrade_rest = None
    conn.write(head)
    conn.uncork()  # the client may answer the 101 at once: nothing waits for the turn's end
    stream = conn.upgraded = UpgradedStream(conn, rest)
    conn.keep_alive = False  # no HTTP after this: when the handler returns, the connection closes
    # The server's shutdown, timeout sweep and connection count see the stream from now on.
    connections = conn.state.connections
    connections.discard(conn)
    connections.add(stream)
    conn.flow.resume_reading()
    return stream


class UpgradedStream(RelayToConnection):
    """The bytes of an upgraded connection, both ways (``areion_core.types.ByteStream``)."""

    __slots__ = ("_eof", "_on_data", "_on_eof", "_pending", "conn", "data_received", "on_shutdown", "write")

    conn: SwitchableConnection
    #: Queue bytes for the client: the connection's own ``write``, bound here so that the
    #: protocol's every frame costs no call of ours in between.
    write: Callable[[bytes], None]
    #: Once reading started, the reader itself: the transport calls it (``asyncio.Protocol``).
    data_received: Callable[[bytes], None]

    def __init__(self, conn: SwitchableConnection, leftover: bytes) -> None:
        self.conn = conn
        self.write = conn.write
        self._pending = bytearray(leftover)
        self._eof = False
        self._on_data: Callable[[bytes], None] | None = None
        self._on_eof: Callable[[], None] | None = None
        #: Called once when the server begins to shut down (the protocol closes politely: 1001).
        self.on_shutdown: Callable[[], None] | None = None

    # --- what the connection calls --------------------------------------------------------
    def feed(self, data: bytes) -> None:
        """Bytes from the client: to the reader, or kept until there is one."""
        on_data = self._on_data
        if on_data is None:
            self._pending += data
            if len(self._pending) > READ_BUFFER_LIMIT:
                self.conn.flow.pause_reading()
            return
        try:
            on_data(data)
        except Exception:
            # A protocol that fails on its input must not take the server's callback down.
            logger.exception("the upgraded protocol failed on its input")
            self.conn.abort()

    def feed_eof(self) -> None:
        """The client closed its side, or the connection is gone (told once)."""
        if self._eof:
            return
        self._eof = True
        self.conn.state.connections.discard(self)
        on_eof = self._on_eof
        if on_eof is not None:
            on_eof()

    def shutdown(self) -> None:
        """The server is draining: tell the protocol (once)."""
        callback, self.on_shutdown = self.on_shutdown, None
        if callback is not None:
            callback()

    # --- what the upgraded protocol calls --------------------------------------------------
    def start_reading(self, on_data: Callable[[bytes], None], on_eof: Callable[[], None]) -> None:
        """Deliver the client's bytes to ``on_data`` from now on (what came with the 101 first),
        and the end of the stream to ``on_eof``."""
        self._on_data, self._on_eof = on_data, on_eof
        pending, self._pending = bytes(self._pending), bytearray()
        if pending:
            self.feed(pending)
            self.resume_reading()
        if self._eof:
            on_eof()
            return
        transport = self.conn.transport
        if transport is not None and not self.conn.closed:
            # From now on the transport hands each read to the reader directly. (A reader that
            # raises is then the event loop's fatal error: logged, and the connection cut.)
            self.data_received = on_data
            transport.set_protocol(self)

    # --- asyncio.Protocol, once reading started (``data_received`` is the reader) -------------
    def pause_reading(self) -> None:
        """Stop reading from the socket (the protocol's reader is behind)."""
        self.conn.flow.pause_reading()

    def resume_reading(self) -> None:
        """Read from the socket again (unless the client is not reading what we write)."""
        flow = self.conn.flow
        if not flow.write_paused:
            flow.resume_reading()

    @property
    def closed(self) -> bool:
        """True once the connection is gone."""
        return self.conn.closed

    @property
    def write_blocked(self) -> bool:
        """True while the client is not taking what was written (``drain`` would wait)."""
        return self.conn.flow.write_paused

    async def drain(self) -> None:
        """Wait while the client is not taking what was written (the transport's buffer is full)."""
        await self.conn.drain()

    def close(self) -> None:
        """Send what is buffered, then close the connection."""
        transport = self.conn.transport
        if transport is not None and not transport.is_closing():
            transport.close()

    def abort(self) -> None:
        """Cut the connection now."""
        self.conn.abort()

    # --- what the server's shared parts call (``state.ServedConnection``) -----------------------
    def answer_corked(self) -> None:
        """Never ready: an upgraded connection has no requests to answer."""

    def uncork(self) -> None:
        """Nothing is held back after the switch."""

    def sweep(self, now: float) -> None:
        """The connection's send timeout still applies (a client that does not read is cut)."""
        self.conn.sweep(now)

    def begin_drain(self) -> None:
        self.shutdown()

    def close_if_idle(self) -> bool:
        return False  # the protocol closes it, politely, once told of the shutdown

    def cancel_running(self) -> None:
        self.conn.cancel_running()
