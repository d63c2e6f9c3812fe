"""One HTTP/1.1 connection: parsing with httptools, pipelining, limits and flow control.

The protocol knows nothing about routes or responses. For every complete request it calls
``state.request_factory`` and then ``state.handler(request)``, a coroutine that writes the
response through this connection's ``write``/``drain``/``sendfile`` and returns when done.
Requests on one connection are handled one at a time, in order, so pipelined responses
leave in request order. A handler that finishes without suspending is run to completion
inside ``data_received`` (no task is created): most requests never touch the scheduler.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections import deque
from typing import TYPE_CHECKING, Any

import httptools

if TYPE_CHECKING:
    from .server import ServerState

logger = logging.getLogger("areion.server")

_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
_ERROR_BODIES = {
    400: b"Bad Request", 408: b"Request Timeout", 413: b"Content Too Large",
    414: b"URI Too Long", 431: b"Request Header Fields Too Large", 501: b"Not Implemented",
    503: b"Service Unavailable", 505: b"HTTP Version Not Supported", 500: b"Internal Server Error",
}
_REASONS = {
    400: "Bad Request", 408: "Request Timeout", 413: "Content Too Large", 414: "URI Too Long",
    431: "Request Header Fields Too Large", 500: "Internal Server Error", 501: "Not Implemented",
    503: "Service Unavailable", 505: "HTTP Version Not Supported",
}

# Lengths of the header names the protocol itself must see: Host, Expect, Content-Length,
# Transfer-Encoding, If-None-Match, If-Modified-Since (a cheap filter before lower-casing).
_WATCHED_LENGTHS = frozenset({4, 6, 13, 14, 17})
# What a Host value may hold: uri-host [":" port] (RFC 9112 §3.2, RFC 3986 §3.2.2), the most
# frequent first; ``value.lstrip(_HOST_CHARS)`` is empty exactly when every byte is one of them.
_HOST_CHARS = b"abcdefghijklmnopqrstuvwxyz0123456789.:-ABCDEFGHIJKLMNOPQRSTUVWXYZ_~!$&'()*+,;=[]%"
_Job = tuple[Any, Any, contextvars.Context]

# The C helpers behind asyncio.current_task(); Python 3.12's eager tasks use the same pair.
_current_task = asyncio.current_task
_enter_task = asyncio.tasks._enter_task
_leave_task = asyncio.tasks._leave_task

# A read longer than this is parsed a slice at a time (see _feed_in_slices).
_FEED_SLICE = 8 * 1024

# Connection phases, checked by the once-a-second timeout sweep.
IDLE, HEADERS, BODY, BUSY = 0, 1, 2, 3


class _Reject(Exception):
    """Raised inside a parser callback to stop parsing and answer with ``status``."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def _transfer_coding_refusal(te: bytes, version: str) -> tuple[int, str] | None:
    """Why a request's Transfer-Encoding (lower-cased, fields joined) cannot frame it, or None."""
    if version == "1.0":
        return 400, "Transfer-Encoding in an HTTP/1.0 request"  # RFC 9112 §6.1: faulty framing
    codings = [c for c in (part.strip(b" \t") for part in te.split(b",")) if c]  # RFC 9110 §5.6.1
    if codings == [b"chunked"]:
        return None
    if not codings or codings[-1] != b"chunked":
        return 400, "chunked is not the final transfer coding"  # RFC 9112 §6.3
    if codings.count(b"chunked") > 1:
        return 400, "chunked is applied more than once"  # RFC 9112 §6.1
    return 501, "only the chunked transfer coding is supported"  # RFC 9112 §6.1


class HttpConnection(asyncio.Protocol):
    """The state of one client connection."""

    raw_framing = True  # this connection frames bodies itself (Content-Length or chunked)

    __slots__ = (
        "_body",
        "_body_len",
        "_busy",
        "_cancel_requested",
        "_closed",
        "_content_length",
        "_drain_waiter",
        "_driver",
        "_error",
        "_expect",
        "_handoff",
        "_header_bytes",
        "_headers",
        "_host_count",
        "_idle_bytes",
        "_job",
        "_max_header_bytes",
        "_max_headers",
        "_pending",
        "_progress",
        "_progress_of",
        "_read_paused",
        "_req_keep_alive",
        "_stalled_at",
        "_te",
        "_trailers_at",
        "_unparsed",
        "_url",
        "_url_len",
        "_valid_host",
        "_write_paused",
        "client",
        "conditional",
        "keep_alive",
        "loop",
        "parser",
        "phase",
        "since",
        "state",
        "tls",
        "transport",
    )

    def __init__(self, state: ServerState) -> None:
        self.state = state
        self.loop = state.loop
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.client: tuple[str, int] | None = None
        self.tls = state.tls
        self.phase = IDLE
        self.since = 0.0
        self._url: bytes = b""
        self._url_len = 0
        self._headers: list[tuple[bytes, bytes]] = []
        self._header_bytes = 0
        self._host_count = 0
        self._te: bytes | None = None
        self._trailers_at = 0
        self._valid_host = b""
        self._idle_bytes = 0
        self._progress = 0
        self._progress_of: list[tuple[bytes, bytes]] | None = None
        self._expect = False
        self._content_length = -1
        self._body: list[bytes] = []
        self._body_len = 0
        self._pending: deque[tuple[Any, bool]] = deque()
        self._busy = False
        self._closed = False
        self._write_paused = False
        self._stalled_at = 0.0
        self._unparsed: bytes | memoryview = b""
        self._read_paused = False
        self._drain_waiter: asyncio.Future[None] | None = None
        self._error: tuple[int, str] | None = None
        self._driver: asyncio.Task[None] | None = None
        self._handoff: asyncio.Future[None] | None = None
        self._job: _Job | None = None
        self._cancel_requested = False
        #: Whether the request being parsed has If-None-Match / If-Modified-Since (read by the
        #: request factory, so only unconditional requests skip the validator checks).
        self.conditional = False
        #: Whether the connection stays open after the response being written now.
        self.keep_alive = True
        self._req_keep_alive = True
        self._max_header_bytes = state.limits.max_header_bytes
        self._max_headers = state.limits.max_headers

    # --- asyncio.Protocol -------------------------------------------------------------
    def connection_made(self, transport: Any) -> None:
        # Typed loosely: uvloop's transports are not asyncio.Transport subclasses.
        self.transport = transport
        state = self.state
        peer = transport.get_extra_info("peername")
        if isinstance(peer, tuple):
            self.client = (peer[0], peer[1])
        self.since = state.now
        if len(state.connections) >= state.limits.max_connections:
            # Shed load at the door: answer before reading anything, then close. (A connection
            # made while draining came from the listen queue: it is served, then closed.)
            self._closed = True
            retry = state.limits.retry_after
            transport.write(
                b"HTTP/1.1 503 Service Unavailable\r\n" + state.head_prefix
                + b"Retry-After: %d\r\nContent-Type: text/plain; charset=utf-8\r\n"
                b"Content-Length: 19\r\nConnection: close\r\n\r\nService Unavailable" % retry
            )
            transport.close()
            state.shed += 1
            return
        state.connections.add(self)
        transport.set_write_buffer_limits(high=state.limits.write_buffer_high)

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        self.state.connections.discard(self)
        waiter = self._drain_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        self._pending.clear()
        self._unparsed = b""
        driver = self._driver
        if driver is not None and not self._busy and self._job is None and not driver.done():
            driver.cancel()  # parked, with nothing to finish: let it go

    def data_received(self, data: bytes) -> None:
        if self._error is not None or self._closed:
            return
        if len(data) > _FEED_SLICE:
            self._feed_in_slices(data)
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            # We do not speak any upgraded protocol: answer what was parsed, then close.
            if self._content_length > 0 or self._te is not None:
                # httptools never reads the body of an Upgrade request: answering it would act
                # on half a request, so it is refused (the requests before it are answered).
                if self._pending:
                    self._pending.pop()
                self._fail(501, "a request body with Upgrade is not supported")
            else:
                self._req_keep_alive = False
                if self._pending:
                    last, _ = self._pending.pop()
                    self._pending.append((last, False))
                self._error = (0, "")
                self._pause_reading()
        except httptools.HttpParserCallbackError as exc:
            cause = exc.__context__
            if isinstance(cause, _Reject):
                self._fail(cause.status, cause.detail)
            else:
                logger.exception("error while parsing a request", exc_info=cause)
                self._fail(500, "internal error")
        except httptools.HttpParserInvalidMethodError:
            self._fail(400, "invalid method")
        except httptools.HttpParserInvalidURLError:
            self._fail(400, "invalid request target")
        except httptools.HttpParserError as exc:
            text = str(exc)
            status = 505 if "HTTP version" in text else 400
            self._fail(status, text)
        else:
            phase = self.phase
            if phase == HEADERS or (phase == BODY and self._te is not None):
                self._bound_idle_bytes(len(data))
        if not self._busy and self._pending:
            job = self._run_pending()
            if job is not None:
                self._hand_off(job)

    def eof_received(self) -> bool | None:
        # Half-close from the client: finish what is in flight, then close our side.
        if not self._busy and not self._pending:
            return None
        self._req_keep_alive = False
        if not self._pending:
            self.keep_alive = False  # the response in flight is the last one
        return True

    def pause_writing(self) -> None:
        self._write_paused = True
        self._stalled_at = self.state.now
        self._pause_reading()

    def resume_writing(self) -> None:
        self._write_paused = False
        waiter = self._drain_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        if not self._busy and self._pending:
            # Pipelined requests held back while the client was not reading its responses.
            job = self._run_pending()
            if job is not None:
                self._hand_off(job)
        elif len(self._pending) < self.state.limits.max_pipelined:
            self._resume_reading()

    # --- httptools callbacks ----------------------------------------------------------
    def on_message_begin(self) -> None:
        self._url = b""
        self._url_len = 0
        self._headers = []
        self._header_bytes = 0
        self._host_count = 0
        self._te = None
        self._expect = False
        self._content_length = -1
        self._body = []
        self._body_len = 0
        self.conditional = False
        self.phase = HEADERS
        self.since = self.state.now

    def on_url(self, url: bytes) -> None:
        self._url_len += len(url)
        if self._url_len > self.state.limits.max_url_bytes:
            raise _Reject(414, "request target too long")
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        headers = self._headers
        headers.append((name, value))
        self._header_bytes += len(name) + len(value)
        if self._header_bytes > self._max_header_bytes or len(headers) > self._max_headers:
            raise _Reject(431, "request header fields too large")
        if len(name) in _WATCHED_LENGTHS:
            lower = name.lower()
            if lower == b"host":
                self._host_count += 1
                if value != self._valid_host:  # a keep-alive client sends the same Host each time
                    if value.lstrip(_HOST_CHARS):
                        raise _Reject(400, "invalid Host header")  # RFC 9112 §3.2
                    self._valid_host = value
            elif lower == b"transfer-encoding":
                # Several fields are one list (RFC 9110 §5.3), judged whole in on_headers_complete.
                te = value.lower()
                self._te = te if self._te is None else self._te + b"," + te
            elif lower == b"expect":
                self._expect = value.lower() == b"100-continue"
            elif lower == b"if-none-match" or lower == b"if-modified-since":
                self.conditional = True
            elif lower == b"content-length":
                try:
                    self._content_length = int(value)  # llhttp has validated the digits
                except ValueError:
                    raise _Reject(400, "invalid Content-Length") from None

    def on_headers_complete(self) -> None:
        parser = self.parser
        version = parser.get_http_version()
        if version != "1.1" and version != "1.0":
            raise _Reject(505, f"HTTP/{version} is not supported")
        if self._host_count != 1 and (version == "1.1" or self._host_count > 1):
            # RFC 9112 §3.2: exactly one Host in HTTP/1.1.
            raise _Reject(400, "missing Host header" if self._host_count == 0 else "more than one Host header")
        te = self._te
        if te is not None:
            if te != b"chunked" or version == "1.0":
                refusal = _transfer_coding_refusal(te, version)
                if refusal is not None:
                    raise _Reject(*refusal)
            # Chunked: fields after the body are trailers, and the framing bytes are counted.
            self._trailers_at = len(self._headers)
            self._idle_bytes = -1
        limits = self.state.limits
        if self._content_length > limits.max_body_bytes:
            raise _Reject(413, "request body too large")
        self.phase = BODY
        self.since = self.state.now
        # 100 Continue only when nothing is in flight before it: an interim response must not
        # overtake the final response of an earlier pipelined request.
        if (self._expect and self._content_length != 0 and version == "1.1" and not self._busy
                and not self._pending and self.transport is not None):
            self.transport.write(_CONTINUE)

    def on_body(self, body: bytes) -> None:
        self._body_len += len(body)
        if self._body_len > self.state.limits.max_body_bytes:
            raise _Reject(413, "request body too large")
        self._body.append(body)
        self.since = self.state.now

    def on_message_complete(self) -> None:
        parser = self.parser
        url = self._url
        body = self._body
        data = body[0] if len(body) == 1 else b"".join(body)
        headers = self._headers
        if self._te is not None:
            # Trailer fields never join the header section (RFC 9110 §6.5.1): dropped.
            del headers[self._trailers_at:]
        try:
            request = self.state.request_factory(
                parser.get_method().decode("ascii"), url, headers, data, self,
                parser.get_http_version(),
            )
        except Exception as exc:  # a request the app's factory cannot represent
            raise _Reject(400, str(exc) or "bad request") from None
        self._pending.append((request, parser.should_keep_alive()))
        self.phase = BUSY if self._busy else IDLE
        if len(self._pending) >= self.state.limits.max_pipelined:
            self._pause_reading()

    def _bound_idle_bytes(self, size: int) -> None:
        """Bound the bytes that arrive without completing a field, a chunk line or a trailer.

        Called after a read that leaves a request in its header section or in a chunked body.
        httptools buffers a header field until its line ends, and chunk extensions are never
        reported, so without this bound one endless line would grow memory (or burn CPU)
        until a timeout. The count restarts whenever a field or body bytes arrive; the read
        in which the header section or the chunked body began is not counted, so the bound
        may be passed by up to one read (RFC 9112 §7.1.1: limit chunk extensions). A new
        request is told by its new header list, so valid requests pay nothing for this.
        """
        headers = self._headers
        progress = self._body_len + len(headers)
        idle = self._idle_bytes
        if idle < 0 or progress != self._progress or headers is not self._progress_of:
            self._idle_bytes = 0
        else:
            idle += size
            self._idle_bytes = idle
            limits = self.state.limits
            if self.phase == HEADERS:
                if idle > limits.max_url_bytes + limits.max_header_bytes + 1024:
                    self._fail(431, "request header field too large")
            elif idle > limits.max_header_bytes + 1024:
                self._fail(400, "chunk extension or trailer field too large")
        self._progress = progress
        self._progress_of = headers

    # --- running requests -------------------------------------------------------------
    def _run_pending(self) -> _Job | None:
        """Run queued requests in order, each eagerly; return the first that suspends.

        The eager step runs inside this connection's driver task (entered as the current
        task, the way Python 3.12's eager tasks do it) and in a fresh copy of the server's
        context, so ``asyncio.current_task()``, ``asyncio.timeout()`` and context variables
        behave exactly as in a task of its own. A request that suspends is returned so the
        driver can carry on with it; most never suspend and cost no scheduling at all.
        """
        pending = self._pending
        state = self.state
        loop = self.loop
        # A full write buffer (a client not reading) holds back the next pipelined request:
        # otherwise one read of pipelined requests could buffer any number of responses.
        while pending and not self._busy and not self._closed and not self._write_paused:
            request, keep_alive = pending.popleft()
            self._busy = True
            self.phase = BUSY
            keep_alive = keep_alive and self._req_keep_alive
            if state.draining and not pending and not self._unparsed:
                # Draining: every request already read is answered; the last closes the
                # connection, and nothing after it is read.
                keep_alive = False
                self._pause_reading()
            self.keep_alive = keep_alive
            coro: Any = state.handler(request)
            ctx = state.context.copy()
            driver = self._driver
            if driver is None:
                driver = self._driver = loop.create_task(self._drive_loop())
            entered = _current_task(loop) is None
            if entered:
                _enter_task(loop, driver)
            try:
                yielded = ctx.run(coro.send, None)
            except StopIteration:
                self._finish()
                continue
            except BaseException as exc:  # the app's handler must never raise; be safe anyway
                self._crash(exc)
                return None
            finally:
                if entered:
                    _leave_task(loop, driver)
            return (coro, yielded, ctx)
        if not pending:
            self._after_pending()
        return None

    def _hand_off(self, job: _Job) -> None:
        """Give a suspended request to the driver task."""
        self._job = job
        waiter = self._handoff
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def _drive_loop(self) -> None:
        """The connection's driver: carries on requests that suspended in their eager step."""
        loop = self.loop
        while not self._closed or self._job is not None:
            job = self._job
            if job is None:
                waiter = self._handoff = loop.create_future()
                try:
                    await waiter
                except asyncio.CancelledError:
                    if self._closed and self._job is None:
                        return
                    # A cancellation aimed at the request handed over just now.
                    self._cancel_requested = True
                continue
            self._job = None
            while job is not None:
                await self._drive(*job)
                if self._pending:
                    job = self._run_pending()
                else:
                    # As after an eager run: resume reading, or answer a parse error, or close.
                    job = None
                    self._after_pending()

    async def _drive(self, coro: Any, yielded: Any, ctx: contextvars.Context) -> None:
        """Resume a handler coroutine until it finishes, as Task.__step would."""
        try:
            while True:
                if self._cancel_requested:
                    self._cancel_requested = False
                    yielded = ctx.run(coro.throw, asyncio.CancelledError())
                    continue
                try:
                    if yielded is None:
                        await asyncio.sleep(0)
                    else:
                        # Clear the future's "blocking" mark as Task.__step does, then wait for it
                        # on the coroutine's behalf; its outcome reaches it through result().
                        yielded._asyncio_future_blocking = False
                        await yielded
                except asyncio.CancelledError as exc:
                    if yielded is None or not yielded.cancelled():
                        yielded = ctx.run(coro.throw, exc)
                        continue
                except BaseException as exc:
                    # Hand the failure in directly, as Task.__wakeup does: the coroutine reading
                    # the future's result a second time would get it without its traceback
                    # (the C Future hands the traceback to its first reader only).
                    yielded = ctx.run(coro.throw, exc)
                    continue
                yielded = ctx.run(coro.send, None)
        except StopIteration:
            self._finish()
        except asyncio.CancelledError:
            self._busy = False
            self._abort()
        except BaseException as exc:
            self._crash(exc)

    def cancel_running(self) -> None:
        """Cancel the request being handled (used when the shutdown grace period is over)."""
        if self._driver is not None and not self._driver.done():
            self._driver.cancel()

    def _finish(self) -> None:
        self._busy = False
        if not self.keep_alive:
            self._close()
            return
        self.since = self.state.now
        self.phase = IDLE if not self._pending else BUSY

    def _after_pending(self) -> None:
        if self._closed:
            return
        if self._error is not None:
            status, detail = self._error
            if status:
                self._write_error(status, detail)
            self._close()
            return
        if self._read_paused and not self._write_paused:
            self._resume_reading()

    def _crash(self, exc: BaseException) -> None:
        logger.error("request handler crashed", exc_info=exc)
        self._busy = False
        self._write_error(500, "internal error")
        self._close()

    # --- errors, closing, flow control -----------------------------------------------
    def _fail(self, status: int, detail: str) -> None:
        """Stop parsing; answer ``status`` after the requests already queued, then close."""
        self._error = (status, detail)
        self._pause_reading()
        self.state.rejected += 1
        if not self._busy and not self._pending:
            self._after_pending()

    def _write_error(self, status: int, detail: str) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        body = _ERROR_BODIES.get(status, b"Error")
        if detail and status != 500:
            body = body + b": " + detail.encode("latin-1", "replace")
        self.transport.write(
            b"HTTP/1.1 %d %s\r\n" % (status, _REASONS.get(status, "Error").encode())
            + self.state.head_prefix
            + b"Content-Type: text/plain; charset=utf-8\r\nContent-Length: %d\r\n"
            b"Connection: close\r\n\r\n" % len(body) + body
        )

    def _close(self) -> None:
        self._closed = True
        self.state.connections.discard(self)
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()

    def _abort(self) -> None:
        self._closed = True
        self.state.connections.discard(self)
        if self.transport is not None:
            self.transport.abort()

    def _pause_reading(self) -> None:
        if not self._read_paused and self.transport is not None and not self.transport.is_closing():
            self._read_paused = True
            self.transport.pause_reading()

    def _resume_reading(self) -> None:
        if self._unparsed:
            # What is left of an earlier read comes first, on the next turn of the loop.
            self.loop.call_soon(self._feed_unparsed, self._unparsed)
            return
        if self._read_paused and self.transport is not None and not self.transport.is_closing():
            self._read_paused = False
            self.transport.resume_reading()

    def _feed_in_slices(self, data: bytes | memoryview) -> None:
        """Parse the first slice of a large read now; keep the rest for later turns of the loop.

        One read can hold thousands of small pipelined requests. Parsed at once, each would
        become a queued request object (~650 bytes made from ~30 bytes read), and answering
        them all in one go would keep every other connection waiting. So a large read is
        parsed a slice per turn of the loop, and not at all while ``max_pipelined`` requests
        wait or the client is not reading its responses; reading pauses meanwhile.
        """
        view = memoryview(data)
        self._unparsed = rest = view[_FEED_SLICE:]
        self._pause_reading()
        self.data_received(view[:_FEED_SLICE])  # type: ignore[arg-type]
        if self._unparsed is rest and not self._busy and not self._pending:
            # No request will finish and carry on with the rest: take it up next turn.
            self.loop.call_soon(self._feed_unparsed, rest)

    def _feed_unparsed(self, rest: bytes | memoryview) -> None:
        if rest is not self._unparsed or self._closed or self._write_paused or self._error is not None:
            return  # stale, or not now: whatever unblocks the connection calls _resume_reading
        limit = self.state.limits.max_pipelined
        if len(self._pending) >= limit:
            return
        self._unparsed = b""
        self.data_received(rest)  # type: ignore[arg-type]
        if not self._unparsed and len(self._pending) < limit and not self._write_paused:
            self._resume_reading()

    # --- the narrow interface the app writes through ------------------------------------
    @property
    def closed(self) -> bool:
        """True once the client has gone away or the connection was closed."""
        return self._closed

    @property
    def head_prefix(self) -> bytes:
        """The pre-encoded ``Date``/``Server``/global header lines, refreshed each second."""
        return self.state.head_prefix

    def write(self, data: bytes) -> None:
        transport = self.transport
        if transport is not None and not self._closed:
            transport.write(data)

    async def drain(self) -> None:
        """Wait until the transport's write buffer is below its high-water mark."""
        if self._write_paused and not self._closed:
            waiter = self._drain_waiter
            if waiter is None or waiter.done():
                waiter = self._drain_waiter = self.loop.create_future()
            await waiter

    async def sendfile(self, file: Any, offset: int, count: int) -> None:
        """Send part of an open file: ``sendfile(2)`` where the loop and transport support it
        (asyncio's own loop without TLS), else read and write in 256 KiB pieces."""
        transport = self.transport
        if transport is None or self._closed:
            return
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
        file.seek(offset)
        remaining = count
        while remaining > 0 and not self._closed:
            chunk = file.read(min(262144, remaining))
            if not chunk:
                break
            remaining -= len(chunk)
            self.write(chunk)
            await self.drain()

    def sweep(self, now: float) -> None:
        """Apply the header, body, send and keep-alive timeouts (called once a second)."""
        if self._closed:
            return
        limits = self.state.limits
        if self._write_paused and now - self._stalled_at > limits.send_timeout:
            # The client has not taken its response bytes for this long (not reading at all,
            # or too slowly): no status can reach it any more, so the connection is cut.
            self._abort()
            return
        phase = self.phase
        waited = now - self.since
        if phase == HEADERS:
            if waited > limits.header_timeout:
                self._timeout()
        elif phase == BODY:
            if waited > limits.body_timeout:
                self._timeout()
        elif phase == IDLE and not self._busy and not self._pending and waited > limits.keepalive_timeout:
            self._close()

    def _timeout(self) -> None:
        if self._busy or self._pending:
            self._fail(408, "timed out reading the request")
            return
        self._write_error(408, "timed out reading the request")
        self._close()

    def begin_drain(self) -> None:
        """Shutdown has begun: make the response being produced now the last on this connection.

        Only when it answers the last request read (none queued, none arriving): queued ones
        are answered first, the last of them with ``Connection: close`` (see ``_run_pending``).
        An idle connection stays open for ``limits.drain_linger`` to answer a request that
        was already on its way; the server then closes it with ``close_if_idle``.
        """
        if self._busy and not self._pending and self.phase == BUSY:
            self.keep_alive = False  # read when the response head is written
            self._pause_reading()

    def close_if_idle(self) -> bool:
        """Close now when nothing is in flight (used when draining); True if closed."""
        if not self._busy and not self._pending and self.phase != BODY and self.phase != HEADERS:
            self._close()
            return True
        return False
