"""One HTTP/1.1 connection: requests in order, responses out in the same order.

The connection knows nothing about routes or responses. Its :class:`RequestReader` turns
bytes into requests (``state.request_factory``) and queues them; for each, in order, it calls
``state.handler(request)``, a coroutine that writes the response through this connection's
``write``/``drain``/``sendfile`` and returns when done (its :class:`RequestDriver` runs it).
Pipelined responses therefore leave in request order.

Requests are not answered inside ``data_received``: a connection with a request ready joins
the server's :class:`ReadyQueue`, and once per turn of the event loop every ready connection
answers its requests in one go, with its writes held back ("corked") until the end of the
turn. Running the Python side of many requests back to back, and then the system calls,
keeps the interpreter's working set in the CPU caches instead of trading it with the kernel's
network stack after every request; measured, that is worth more than the rest of the request
path's optimisations together.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import deque
from typing import TYPE_CHECKING, Any

from .driver import RequestDriver
from .flow import FlowControl
from .parser import BODY, WAITING, RequestReader
from .upgrade import UpgradedStream

if TYPE_CHECKING:
    from .state import ServerState

logger = logging.getLogger("areion.server")

_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
_ERRORS = {
    400: b"Bad Request", 408: b"Request Timeout", 413: b"Content Too Large", 414: b"URI Too Long",
    431: b"Request Header Fields Too Large", 500: b"Internal Server Error", 501: b"Not Implemented",
    503: b"Service Unavailable", 505: b"HTTP Version Not Supported",
}
# The server's own errors are RFC 9457 problems too (application/problem+json), built here
# because the server imports nothing above it: each status's opening members pre-encoded,
# the detail appended as the "detail" and 1.x-compatible "error" members.
_PROBLEM_HEAD = {
    status: b'{"type":"about:blank","title":"%s","status":%d' % (phrase, status)
    for status, phrase in _ERRORS.items()
}
_PROBLEM_TYPE = b"Content-Type: application/problem+json\r\n"
_SHED_BODY = _PROBLEM_HEAD[503] + b',"detail":"Service Unavailable","error":"Service Unavailable"}'


def problem_body(status: int, detail: str) -> bytes:
    """The problem+json body of a server error: ``detail`` (and ``error``) the text given."""
    head = _PROBLEM_HEAD.get(status) or b'{"type":"about:blank","status":%d' % status
    text = json.dumps(detail).encode()
    return head + b',"detail":' + text + b',"error":' + text + b"}"
#: After an error that ends a connection whose client may still be sending (a body over the
#: limit), how long what it sends is read and dropped before the socket is closed.
_LINGER = 2.0


def _close_lingering(transport: Any, loop: asyncio.AbstractEventLoop) -> None:
    """Send what is buffered and a FIN, keep reading (and dropping) what the client still
    sends, and close a moment later: closing with unread input makes the kernel send a reset,
    which can destroy the error response before the client has read it (RFC 9112 §9.6)."""
    try:
        transport.write_eof()
    except (OSError, RuntimeError, NotImplementedError):
        transport.close()
        return
    with contextlib.suppress(OSError, RuntimeError):
        transport.resume_reading()
    loop.call_later(_LINGER, transport.close)


async def _copy_file(conn: HttpConnection, file: Any, offset: int, count: int) -> None:
    """Send part of a file through ``conn.write`` in 256 KiB pieces (where sendfile(2) cannot)."""
    file.seek(offset)
    remaining = count
    while remaining > 0 and not conn.closed:
        chunk = file.read(min(262144, remaining))
        if not chunk:
            break
        remaining -= len(chunk)
        conn.write(chunk)
        await conn.drain()


def _shed(transport: Any, state: ServerState) -> None:
    """Answer 503 before reading anything, then close (more connections than the limit)."""
    transport.write(
        b"HTTP/1.1 503 Service Unavailable\r\n" + state.head_prefix
        + b"Retry-After: %d\r\n" % state.limits.retry_after + _PROBLEM_TYPE
        + b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(_SHED_BODY) + _SHED_BODY
    )
    transport.close()
    state.shed += 1


# Corked writes past this size go out at once, so a body produced without waiting (a big
# synchronous stream) is not held in memory until the end of the turn.
_CORK_LIMIT = 64 * 1024


class HttpConnection(asyncio.Protocol):
    """The state of one client connection (the ``Connection`` the request path writes through)."""

    #: This connection frames bodies itself (Content-Length or chunked).
    raw_framing = True

    __slots__ = ("_busy", "_closed", "_error", "_idle_since", "_out", "_out_size", "_queue", "_queued",
                 "_req_keep_alive", "bytes_written", "client", "driver", "flow", "keep_alive", "loop", "reader",
                 "state", "tls", "transport", "upgraded")

    def __init__(self, state: ServerState) -> None:
        self.state = state
        self.loop = state.loop
        # Typed loosely: uvloop's transports are not asyncio.Transport subclasses.
        self.transport: Any = None
        self.client: tuple[str, int] | None = None
        self.tls = state.tls
        self.reader = RequestReader(self)
        self.flow = FlowControl(state.loop)
        self.driver = RequestDriver(self, state.drivers)
        self._queue: deque[tuple[Any, bool]] = deque()
        self._busy = False
        self._closed = False
        self._error: tuple[int, str] | None = None
        #: Whether the connection stays open after the response being written now. Read by
        #: whoever writes the response head; written only here (see ``end_after_response``).
        self.keep_alive = True
        #: False once the client half-closed or an Upgrade was refused: no request after this.
        self._req_keep_alive = True
        self._idle_since = state.now
        #: Writes held back until the end of the turn (see ReadyQueue), or None.
        self._out: list[bytes] | None = None
        self._out_size = 0
        self._queued = False
        #: Bytes written to this connection so far (the access log's ``bytes``).
        self.bytes_written = 0
        #: Where the bytes go once the connection switched protocols (upgrade.py), else None.
        self.upgraded: UpgradedStream | None = None

    # --- asyncio.Protocol -------------------------------------------------------------
    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.flow.transport = transport
        state = self.state
        peer = transport.get_extra_info("peername")
        if isinstance(peer, tuple):
            self.client = (peer[0], peer[1])
        self._idle_since = state.now
        catch_up = state.catch_up
        if catch_up is not None and not catch_up.catching_up:
            catch_up.catch_up_soon()  # the loop's server accepts one per turn: take the rest
        if len(state.connections) >= state.limits.max_connections:
            # Shed load at the door. (A connection made while draining came from the listen
            # queue: it is served, then closed.)
            self._closed = True
            _shed(transport, state)
            return
        state.connections.add(self)
        transport.set_write_buffer_limits(high=state.limits.write_buffer_high)

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        self._out = None
        self.state.connections.discard(self)
        if self.flow.write_paused:  # a writer may wait in drain(): it hears the connection is gone
            self.flow.wake()
        self._queue.clear()
        self.reader.discard()
        if self.upgraded is not None:
            self.upgraded.feed_eof()
        if not self._busy:
            self.driver.release()
            if self.upgraded is None:
                self._unlink()

    def _unlink(self) -> None:
        """The connection is gone and idle: cut the links that make its parts a cycle (the
        parser holds its reader's methods; the reader, the driver and the transport point back
        here), so reference counting frees them now, not a garbage collection later."""
        reader = self.reader
        reader.parser = reader.conn = self.driver.conn = None  # type: ignore[assignment]
        self.transport = self.flow.transport = None

    def data_received(self, data: bytes) -> None:
        if self._error is not None or self._closed:
            if self.upgraded is not None and not self._closed:
                self.upgraded.feed(data)  # switched protocols: the bytes are not HTTP any more
            return
        self.reader.feed(data)
        if not self._busy and self._queue and not self._queued:
            queue = self._queue
            if len(queue) == 1 and not queue[0][1]:
                # A last request (Connection: close, HTTP/1.0), answered now: the transport closes
                # in this turn, not the next, after the client's FIN (docs/architecture.md).
                self.answer_corked()
                self.uncork()
                return
            self._queued = True
            self.state.ready.add(self)

    def eof_received(self) -> bool | None:
        # Half-close from the client: finish what is in flight, then close our side.
        self.reader.stream_failed(400, "the client ended the body early")
        if self.upgraded is not None or (not self._busy and not self._queue):
            return None
        self._req_keep_alive = False
        if not self._queue:
            self.keep_alive = False  # the response in flight is the last one
        return True

    def pause_writing(self) -> None:
        self.flow.writing_paused(self.state.now)
        self.flow.pause_reading()

    def resume_writing(self) -> None:
        self.flow.writing_resumed()
        if not self._busy and self._queue:
            # Pipelined requests held back while the client was not reading its responses.
            self.run_pending()
        elif len(self._queue) < self.state.limits.max_pipelined:
            self._resume_reading()

    # --- what the reader calls ----------------------------------------------------------
    def enqueue(self, request: Any, keep_alive: bool) -> None:
        """A complete request: answer it after those before it."""
        queue = self._queue
        queue.append((request, keep_alive))
        if len(queue) >= self.state.limits.max_pipelined:
            self.flow.pause_reading()

    def fail(self, status: int, detail: str) -> None:
        """Stop parsing; answer ``status`` after the requests already queued, then close."""
        self._error = (status, detail)
        self.flow.pause_reading()
        self.state.rejected += 1
        if self.reader.stream_failed(status, detail):  # the handler reading the body answers, last
            self.stop_after_queued()
            self.keep_alive = self.keep_alive and bool(self._queue)
        if not self._busy and not self._queue:
            self._after_pending()

    def drop_last_queued(self) -> None:
        """Forget the request queued last (an Upgrade request whose body will never be read)."""
        if self._queue:
            self._queue.pop()

    def stop_after_queued(self) -> None:
        """Answer what is queued, the last with ``Connection: close``, and read nothing more."""
        if self._queue:  # those before the last stay keep-alive: it may switch protocols
            last, _ = self._queue.pop()
            self._queue.append((last, False))
        self._error = (0, "")
        self.flow.pause_reading()

    def continue_if_idle(self, in_flight: bool = False) -> None:
        """``100 Continue`` unless a response is in flight or queued (it must not overtake an earlier
        final response); ``in_flight``: the request in flight's handler began reading its body."""
        if in_flight and self._out is not None:
            self._out.append(_CONTINUE)  # after what this turn wrote, still corked
        elif (in_flight or (not self._busy and not self._queue)) and self.transport is not None:
            self.transport.write(_CONTINUE)

    # --- running requests -------------------------------------------------------------
    def run_pending(self) -> None:
        """Answer queued requests in order, each eagerly, until one suspends or the queue is empty."""
        queue = self._queue
        state = self.state
        driver = self.driver
        # A full write buffer (a client not reading) holds back the next pipelined request:
        # otherwise one read of pipelined requests could buffer any number of responses.
        while queue and not self._busy and not self._closed and not self.flow.write_paused:
            request, keep_alive = queue.popleft()
            self._busy = True
            keep_alive = keep_alive and self._req_keep_alive
            if state.draining and not queue and not self.reader.has_unparsed():
                # Draining: every request already read is answered; the last closes the
                # connection, and nothing after it is read.
                keep_alive = False
                self.flow.pause_reading()
            self.keep_alive = keep_alive
            if not driver.start(state.handler(request), state.context.copy()):
                return  # it carries on in the driver, which calls run_pending again
            # finish_request(), inline: this runs once per request.
            self._busy = False
            self.keep_alive = self.keep_alive and (self.reader.stream is None or self.reader.abandon_body(self._queue))
            if not self.keep_alive:
                self._close(linger=self.reader.phase == BODY)
                return
            self._idle_since = state.now
        if not queue:
            self._after_pending()

    def finish_request(self) -> None:
        """The request in flight has been answered."""
        self._busy = False
        self.keep_alive = self.keep_alive and (self.reader.stream is None or self.reader.abandon_body(self._queue))
        if not self.keep_alive:
            self._close(linger=self.reader.phase == BODY)  # the client may still be sending
            return
        self._idle_since = self.state.now

    def abort_request(self) -> None:
        """The request in flight was cancelled (shutdown): the connection is cut."""
        self._busy = False
        self.abort()

    def crashed(self, exc: BaseException) -> None:
        """The handler raised, which the app's handler never should: answer 500 and close."""
        logger.error("request handler crashed", exc_info=exc)
        self._busy = False
        self._write_error(500, "internal error")
        self._close()

    def _after_pending(self) -> None:
        if self._closed:
            return
        if self._error is not None:
            status, detail = self._error
            if status:
                self._write_error(status, detail)
            self._close(linger=True)
            return
        if self.flow.read_paused and not self.flow.write_paused:
            self._resume_reading()

    # --- corking: writes held back until the end of the turn --------------------------
    def answer_corked(self) -> None:
        """Answer the queued requests now (the ready queue's turn), holding the writes back."""
        self._queued = False
        if self._out is None:  # cork(), inline
            self._out = []
            self._out_size = 0
        self.run_pending()

    def cork(self) -> None:
        if self._out is None:
            self._out = []
            self._out_size = 0

    def uncork(self) -> None:
        out = self._out
        self._out = None
        if out:
            transport = self.transport
            if transport is not None and not self._closed:
                transport.write(out[0] if len(out) == 1 else b"".join(out))

    # --- the interface the request path writes through ----------------------------------
    @property
    def closed(self) -> bool:
        """True once the client has gone away or the connection was closed."""
        return self._closed

    @property
    def head_prefix(self) -> bytes:
        """The pre-encoded ``Date``/``Server``/global header lines, refreshed each second."""
        return self.state.head_prefix

    def end_after_response(self) -> None:
        """Close the connection once the response being written now is complete."""
        self.keep_alive = False

    def write(self, data: bytes) -> None:
        self.bytes_written += len(data)
        out = self._out
        if out is not None:
            out.append(data)
            self._out_size += len(data)
            if self._out_size > _CORK_LIMIT:
                self.uncork()
                self.cork()
            return
        transport = self.transport
        if transport is not None and not self._closed:
            transport.write(data)

    async def drain(self) -> None:
        """Wait until the transport's write buffer is below its high-water mark."""
        if self.flow.write_paused and not self._closed:
            await self.flow.drain()

    async def sendfile(self, file: Any, offset: int, count: int) -> None:
        """Send part of an open file: ``sendfile(2)`` where the loop and transport support it
        (asyncio's own loop without TLS), else read and write in 256 KiB pieces."""
        transport = self.transport
        if transport is None or self._closed:
            return
        if self._out is not None:
            self.uncork()  # what was written before the file goes first
            self.cork()
        await self.drain()
        if self.state.sendfile_ok and not self.tls:
            try:
                await self.loop.sendfile(transport, file, offset, count, fallback=False)
                return
            except (NotImplementedError, asyncio.SendfileNotAvailableError):
                self.state.sendfile_ok = False  # this loop cannot; stop trying
            except (ConnectionError, OSError):
                self._closed = True
                return
        await _copy_file(self, file, offset, count)

    # --- errors, closing -----------------------------------------------------------------
    def _write_error(self, status: int, detail: str) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        phrase = _ERRORS.get(status, b"Error")
        body = problem_body(status, detail if detail and status != 500 else phrase.decode())
        self.write(
            b"HTTP/1.1 %d %s\r\n" % (status, phrase)
            + self.state.head_prefix + _PROBLEM_TYPE
            + b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body
        )

    def _close(self, linger: bool = False) -> None:
        self.uncork()
        self._closed = True
        self.state.connections.discard(self)
        transport = self.transport
        if transport is not None and not transport.is_closing():
            if linger and transport.can_write_eof():
                _close_lingering(transport, self.state.loop)  # the client may still be sending
            else:
                transport.close()

    def abort(self) -> None:
        """Cut the connection now, dropping anything not yet sent."""
        self._closed = True
        self._out = None
        self.state.connections.discard(self)
        if self.transport is not None:
            self.transport.abort()

    def _resume_reading(self) -> None:
        if not self.reader.resume():  # what is left of an earlier read comes first
            self.flow.resume_reading()

    def can_read_more(self) -> bool:
        """Whether more requests may be parsed now (open, under ``max_pipelined``, the client reading)."""
        return (not self._closed and self._error is None and not self.flow.write_paused
                and len(self._queue) < self.state.limits.max_pipelined)

    @property
    def idle(self) -> bool:
        """No request in flight and none queued."""
        return not self._busy and not self._queue

    # --- timeouts and shutdown (called by the server) -----------------------------------
    def sweep(self, now: float) -> None:
        """Apply the header, body, send and keep-alive timeouts (called once a second)."""
        if self._closed:
            return
        limits = self.state.limits
        if self.flow.write_paused and now - self.flow.stalled_at > limits.send_timeout:
            # The client has not taken its response bytes for this long (not reading at all,
            # or too slowly): no status can reach it any more, so the connection is cut.
            self.abort()
            return
        reader = self.reader
        phase = reader.phase
        if phase == WAITING:
            if not self._busy and not self._queue and now - self._idle_since > limits.keepalive_timeout:
                self._close()
        elif (now - reader.since > (limits.body_timeout if phase == BODY else limits.header_timeout)
              and not reader.body_waits_on_handler()):  # a handler slow to read is not a slow client
            self._timeout()

    def _timeout(self) -> None:
        if self._busy or self._queue or self.reader.stream is not None:
            self.fail(408, "timed out reading the request")
            return
        self._write_error(408, "timed out reading the request")
        self._close()

    def begin_drain(self) -> None:
        """Shutdown has begun: make the response being produced now the last on this connection.

        Only when it answers the last request read (none queued, none arriving): queued ones
        are answered first, the last of them with ``Connection: close`` (see ``run_pending``).
        An idle connection stays open for ``limits.drain_linger`` to answer a request that
        was already on its way; the server then closes it with ``close_if_idle``.
        """
        if self._busy and not self._queue and self.reader.phase == WAITING:
            self.keep_alive = False  # read when the response head is written
            self.flow.pause_reading()

    def close_if_idle(self) -> bool:
        """Close now when nothing is in flight (used when draining); True if closed."""
        if not self._busy and not self._queue and self.reader.phase == WAITING:
            self._close()
            return True
        return False

    def cancel_running(self) -> None:
        """Cancel the request being handled (used when the shutdown grace period is over)."""
        self.driver.cancel()
