"""Reading requests off the wire: the httptools (llhttp) callbacks, the framing rules, the limits.

A :class:`RequestReader` belongs to one connection. It feeds the connection's bytes to llhttp,
enforces every size limit as the bytes arrive (414, 431, 413), applies the HTTP/1.1 framing
rules llhttp leaves to its user (one Host, Transfer-Encoding judged as one list, no
Transfer-Encoding in HTTP/1.0), and hands each complete request to the connection's queue.
A request it cannot accept stops parsing with the status to answer; the connection answers
it after the requests already queued, then closes.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Protocol

import httptools

from .._header_section import HeaderSection, Reject
from .body import BodyStream

if TYPE_CHECKING:
    from .flow import FlowControl
    from .state import ServerState

logger = logging.getLogger("areion.server")

#: Parse phases, read by the once-a-second timeout sweep: between requests, in the header
#: section, in the body.
WAITING, HEADERS, BODY = 0, 1, 2
# A read longer than this is parsed a slice at a time (see RequestReader.feed).
FEED_SLICE = 8 * 1024


def transfer_coding_refusal(te: bytes, version: str) -> tuple[int, str] | None:
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


class ReaderOwner(Protocol):
    """What the reader needs of its connection."""

    state: ServerState
    flow: FlowControl

    @property
    def idle(self) -> bool:
        """No request in flight and none queued."""

    def enqueue(self, request: Any, keep_alive: bool) -> None:
        """A complete request, to answer after those before it."""

    def fail(self, status: int, detail: str) -> None:
        """Stop parsing; answer ``status`` after the queued requests, then close."""

    def drop_last_queued(self) -> None:
        """Forget the request queued last."""

    def stop_after_queued(self) -> None:
        """Answer what is queued, then close."""

    def can_read_more(self) -> bool:
        """Whether more requests may be parsed now."""

    def data_received(self, data: bytes) -> None:
        """Bytes from the client."""

    def continue_if_idle(self, in_flight: bool = False) -> None:
        """Send ``100 Continue`` unless a response is in flight or queued (``in_flight``: the
        request in flight asks for it)."""


class RequestReader:
    """Parses one connection's bytes into requests and queues them on the connection."""

    __slots__ = (
        "_body",
        "_body_len",
        "_idle_bytes",
        "_limit",
        "_progress",
        "_progress_of",
        "_raw",
        "_trailers_at",
        "_unparsed",
        "_version",
        "conn",
        "head",
        "limits",
        "on_header",
        "on_url",
        "parser",
        "phase",
        "since",
        "state",
        "stream",
        "upgrade_rest",
    )

    def __init__(self, conn: ReaderOwner) -> None:
        self.conn = conn
        self.state = state = conn.state
        self.limits = limits = state.limits
        #: The header section being read: its fields, counts and what the framing rules need.
        self.head = head = HeaderSection(limits.max_url_bytes, limits.max_header_bytes, limits.max_headers)
        #: llhttp's calls for the target and for each header field go straight to the section
        #: (compiled: no Python frame per field); httptools looks its callbacks up when a
        #: parser is made.
        self.on_url = head.on_url
        self.on_header = head.on_header
        self.parser = httptools.HttpRequestParser(self)
        self.phase = WAITING
        #: When the current phase began (the server's clock, refreshed once a second).
        self.since = state.now
        #: The request's HTTP version, read once (httptools formats it with str.format each time).
        self._version = "1.1"
        self._trailers_at = self._idle_bytes = self._progress = 0
        self._progress_of: list[tuple[bytes, bytes]] | None = None
        self._body: list[bytes] = []
        self._body_len = 0
        self._limit = self.limits.max_body_bytes
        #: The body being handed to a handler as it arrives (see body.py), or None.
        self.stream: BodyStream | None = None
        #: The streamed body has a Content-Length: its bytes skip llhttp (see _feed_raw).
        self._raw = False
        #: After an Upgrade request (the last one read): the bytes that followed its head.
        self.upgrade_rest: bytes | None = None
        #: What is left of a large read, parsed on later turns of the loop.
        self._unparsed: bytes | memoryview = b""

    def feed(self, data: bytes | memoryview) -> None:
        """Parse ``data`` (a large read a slice at a time); a request that cannot be accepted makes
        the connection fail with its status.

        One read can hold thousands of small pipelined requests. Parsed at once, each would
        become a queued request object (~650 bytes made from ~30 bytes read), and answering
        them all in one go would keep every other connection waiting. So a large read is
        parsed a slice per turn of the loop, and not at all while ``max_pipelined`` requests
        wait or the client is not reading its responses; reading pauses meanwhile.
        """
        if self.stream is not None:
            # A streamed body is bounded by its stream's back-pressure, not by slicing.
            if not self._raw:
                self._parse(data)
                return
            data = self._feed_raw(data)
            if not data:
                return
        if len(data) <= FEED_SLICE:
            self._parse(data)
            return
        view = memoryview(data)
        self._unparsed = rest = view[FEED_SLICE:]
        self.conn.flow.pause_reading()
        self._parse(view[:FEED_SLICE])
        if self._unparsed is not rest:
            return
        if self.stream is not None:
            # A streamed body began in the slice: the rest is its, bounded by its back-pressure.
            self._unparsed = b""
            self.feed(rest)
            if not self._unparsed and self.conn.can_read_more() and not self.body_waits_on_handler():
                self.conn.flow.resume_reading()
        elif self.conn.idle:
            # No request will finish and carry on with the rest: take it up next turn.
            self.state.loop.call_soon(self._feed_unparsed, rest)

    def _feed_raw(self, data: bytes | memoryview) -> bytes | memoryview:
        """Hand a streamed Content-Length body's bytes to its stream without llhttp (which copies
        each into a bytes object of its own); at the end a fresh parser for the next request.
        Returns what follows the body (a pipelined request), or ``b""``."""
        stream = self.stream
        assert stream is not None
        left = self.head.content_length - self._body_len
        rest: bytes | memoryview = b""
        if len(data) > left:
            rest = data[left:]
            data = data[:left]
        self._body_len += len(data)
        self.since = self.state.now
        stream.feed(data if isinstance(data, bytes) else bytes(data))
        if self._body_len == self.head.content_length:  # on_message_complete() ends _raw and the stream
            self.parser = httptools.HttpRequestParser(self)
            self.on_message_complete()
        return rest

    def has_unparsed(self) -> bool:
        return bool(self._unparsed)

    def discard(self) -> None:
        """The connection is gone: drop what was not parsed; a handler reading the body hears of it."""
        self._unparsed = b""
        if self.stream is not None:
            self.stream.fail(400, "the client closed the connection before the end of the body")

    # --- a streamed body's owner (see body.py) ------------------------------------------------
    def pause_body(self) -> None:
        self.conn.flow.pause_reading()

    def resume_body(self) -> None:
        conn = self.conn
        if conn.can_read_more() and not self.resume():
            conn.flow.resume_reading()

    def body_progress(self) -> None:
        self.since = self.state.now

    def send_continue(self) -> None:
        self.conn.continue_if_idle(in_flight=True)

    def body_waits_on_handler(self) -> bool:
        """Reading is held back by a handler that has not taken the body yet (no body timeout)."""
        stream = self.stream
        return stream is not None and (stream.full or bool(self._unparsed))

    def stream_failed(self, status: int, detail: str) -> bool:
        """Hand an error to the handler reading this body; False when no body streams."""
        stream = self.stream
        if stream is None:
            return False
        stream.fail(status, detail)
        return True

    def abandon_body(self, queued: Any) -> bool:
        """A request was answered while a body streams: True when the connection may stay open.

        With requests ``queued``, the streaming request (always the last read) is one of them;
        otherwise it was the one answered: the rest of its body is read and dropped when small
        and announced, else the connection closes after the response.
        """
        stream = self.stream
        return stream is None or bool(queued) or stream.abandon()

    def resume(self) -> bool:
        """Schedule the rest of an earlier read for the next turn; False when there is none."""
        if not self._unparsed:
            return False
        self.state.loop.call_soon(self._feed_unparsed, self._unparsed)
        return True

    def _feed_unparsed(self, rest: bytes | memoryview) -> None:
        conn = self.conn
        if rest is not self._unparsed or not conn.can_read_more():
            return  # stale, or not now: whatever unblocks the connection resumes it
        self._unparsed = b""
        conn.data_received(rest)  # type: ignore[arg-type]
        if not self._unparsed and conn.can_read_more():
            conn.flow.resume_reading()

    def _parse(self, data: bytes | memoryview) -> None:
        conn = self.conn
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade as exc:
            # The argument is how many bytes of ``data`` the request head took.
            used = exc.args[0] if exc.args and isinstance(exc.args[0], int) else len(data)
            self._upgrade(bytes(data[used:]))
        except httptools.HttpParserCallbackError as exc:
            cause = exc.__context__
            if isinstance(cause, Reject):
                conn.fail(cause.status, cause.detail)
            else:
                logger.exception("error while parsing a request", exc_info=cause)
                conn.fail(500, "internal error")
        except httptools.HttpParserInvalidMethodError:
            conn.fail(400, "invalid method")
        except httptools.HttpParserInvalidURLError:
            conn.fail(400, "invalid request target")
        except httptools.HttpParserError as exc:
            text = str(exc)
            conn.fail(505 if "HTTP version" in text else 400, text)
        else:
            phase = self.phase
            if phase == HEADERS or (phase == BODY and self.head.te is not None):
                self._bound_idle_bytes(len(data))

    def _upgrade(self, rest: bytes) -> None:
        # Parsing stops here: what follows is another protocol's (or nothing, when the request
        # is answered as plain HTTP and the connection closes). The app's handler may switch.
        conn = self.conn
        head = self.head
        if head.content_length > 0 or head.te is not None:
            # httptools never reads the body of an Upgrade request: answering it would act on
            # half a request, so it is refused (the requests before it are answered).
            conn.drop_last_queued()
            conn.fail(501, "a request body with Upgrade is not supported")
        else:
            if self._unparsed:
                rest += bytes(self._unparsed)
                self._unparsed = b""
            # Answered like any request, then the connection closes, unless the handler
            # switches protocols (upgrade.switch_protocol), handing ``rest`` over.
            self.upgrade_rest = rest
            conn.stop_after_queued()

    # --- httptools callbacks ----------------------------------------------------------------
    def on_message_begin(self) -> None:
        self.head.reset()
        self._body = []
        self._body_len = 0
        self.phase = HEADERS
        self.since = self.state.now

    def on_headers_complete(self) -> None:
        version = self._version = self.parser.get_http_version()
        if version != "1.1" and version != "1.0":
            raise Reject(505, f"HTTP/{version} is not supported")
        head = self.head
        hosts = head.host_count
        if hosts != 1 and (version == "1.1" or hosts > 1):
            # RFC 9112 §3.2: exactly one Host in HTTP/1.1.
            raise Reject(400, "missing Host header" if hosts == 0 else "more than one Host header")
        te = head.te
        if te is not None:
            if te != b"chunked" or version == "1.0":
                refusal = transfer_coding_refusal(te, version)
                if refusal is not None:
                    raise Reject(*refusal)
            # Chunked: fields after the body are trailers, and the framing bytes are counted.
            self._trailers_at = len(head.fields)
            self._idle_bytes = -1
        limit = self.limits.max_body_bytes
        streamed = False
        plan = self.state.body_plan
        content_length = head.content_length
        if plan is not None and (content_length > 0 or te is not None) and not self.parser.should_upgrade():
            # The route decides: its own limit, and whether its handler reads the body as it comes.
            chosen = plan(self.parser.get_method().decode("ascii"), head.url)
            if chosen is not None:
                limit, streamed = chosen
        self._limit = limit
        if content_length > limit:  # before any body byte is read, and before 100 Continue
            raise Reject(413, "request body too large")
        self.phase = BODY
        self.since = self.state.now
        expect = head.expect and content_length != 0 and version == "1.1"
        if streamed:
            self._hand_over(limit, expect, version)
        elif expect:
            self.conn.continue_if_idle()

    def _hand_over(self, limit: int, expect: bool, version: str) -> None:
        """Queue the request now, its body to follow through a BodyStream (see body.py)."""
        head = self.head
        stream = BodyStream(self, limit, head.content_length, expect)
        parser = self.parser
        try:
            # A copy of the header list: trailer fields are appended to ours, then dropped.
            request = self.state.request_factory(
                parser.get_method().decode("ascii"), head.url, list(head.fields), stream,  # type: ignore[arg-type]
                self.conn, version, head.conditional,
            )
        except Exception as exc:
            raise Reject(400, str(exc) or "bad request") from None
        self.stream = stream
        self._raw = head.te is None
        stream.read_buffered(self.conn)  # a large Content-Length body: 1 MiB reads (see body.py)
        self.conn.enqueue(request, parser.should_keep_alive())

    def on_body(self, body: bytes) -> None:
        self._body_len += len(body)
        if self._body_len > self._limit:
            raise Reject(413, "request body too large")
        stream = self.stream
        if stream is None:
            self._body.append(body)
        else:
            stream.feed(body)
        self.since = self.state.now

    def on_message_complete(self) -> None:
        stream = self.stream
        if stream is not None:  # its request was queued when its headers were complete
            self.stream = None
            self._raw = False
            stream.finish()
            self.phase = WAITING
            return
        parser = self.parser
        body = self._body
        data = body[0] if len(body) == 1 else b"".join(body)
        head = self.head
        headers = head.fields
        if head.te is not None:
            # Trailer fields never join the header section (RFC 9110 §6.5.1): dropped.
            del headers[self._trailers_at:]
        conn = self.conn
        try:
            request = self.state.request_factory(
                parser.get_method().decode("ascii"), head.url, headers, data, conn, self._version, head.conditional,
            )
        except Exception as exc:  # a request the app's factory cannot represent
            raise Reject(400, str(exc) or "bad request") from None
        self.phase = WAITING
        conn.enqueue(request, parser.should_keep_alive())

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
        headers = self.head.fields
        progress = self._body_len + len(headers)
        idle = self._idle_bytes
        if idle < 0 or progress != self._progress or headers is not self._progress_of:
            self._idle_bytes = 0
        else:
            idle += size
            self._idle_bytes = idle
            limits = self.limits
            if self.phase == HEADERS:
                if idle > limits.max_url_bytes + limits.max_header_bytes + 1024:
                    self.conn.fail(431, "request header field too large")
            elif idle > limits.max_header_bytes + 1024:
                self.conn.fail(400, "chunk extension or trailer field too large")
        self._progress = progress
        self._progress_of = headers

