"""Putting a response on the wire: the head, conditional requests, HEAD, ranges, streams, files.

The status line and the framing headers (Content-Length, Transfer-Encoding, Connection) are
written here; every other header line comes from ``headers.py``, the one place header lines
are encoded. The connection (``request.conn``) decides whether it stays open; this module
asks it to close after a response whose framing it cannot keep (a close-delimited body, a
file that failed half-way).
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Any

from .headers import NO_BODY_STATUSES, MutableHeaders, encode_head
from .response import FileResponse, HttpResponse, StreamingResponse, SwitchedResponse, create_error_response
from .server.dates import parse_http_date

if TYPE_CHECKING:
    from .request import HttpRequest

logger = logging.getLogger("areion.server")
_SMALL_FILE = 256 * 1024
_READ_FLAGS = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)


# Headers a 304 drops: it describes the stored representation, it does not carry one
# (RFC 9110 §15.4.5).
_NOT_IN_304 = ("content-length", "content-type", "content-range", "transfer-encoding", "content-encoding")


def _etag_matches(header: str, etag: str) -> bool:
    """Weak comparison of If-None-Match against an ETag (RFC 9110 §13.1.2)."""
    if header.strip() == "*":
        return True
    tag = etag.removeprefix("W/")
    for candidate in header.split(","):
        candidate = candidate.strip()
        candidate = candidate.removeprefix("W/")
        if candidate == tag:
            return True
    return False


def not_modified(request: HttpRequest, response: HttpResponse) -> bool:
    """True when the client's cached copy is current (If-None-Match, else If-Modified-Since)."""
    headers = request.headers
    inm = headers.get("if-none-match")
    etag = response.headers.get("etag")
    if inm is not None:
        return etag is not None and _etag_matches(inm, etag)
    ims = headers.get("if-modified-since")
    last = response.headers.get("last-modified")
    if ims is None or last is None:
        return False
    last_time, since = parse_http_date(last), parse_http_date(ims)
    # An unparsable date is ignored, as RFC 9110 §13.1.3 says.
    return last_time is not None and since is not None and last_time <= since


def as_304(response: HttpResponse) -> HttpResponse:
    reply = HttpResponse(None, 304)
    reply.headers = MutableHeaders.trusted(
        {name: value for name, value in response.headers.items_lower() if name not in _NOT_IN_304})
    reply.cookies = response.cookies
    reply.extensions = response.extensions
    return reply


def _parse_range(header: str, size: int) -> tuple[int, int] | bool | None:
    """(start, end) inclusive for a single satisfiable range; None to ignore; False if unsatisfiable."""
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None  # other units and multiple ranges: send the whole representation
    first, dash, last = spec.strip().partition("-")
    if not dash:
        return None
    try:
        if first == "":
            if not last.isdigit():
                return None
            length = int(last)
            if length == 0 or size == 0:
                return False  # RFC 9110 §14.1.2: no suffix of an empty representation
            return max(0, size - length), size - 1
        if not first.isdigit() or (last and not last.isdigit()):
            return None
        start = int(first)
        end = int(last) if last else max(start, size - 1)
    except ValueError:
        return None
    if start > end:
        return None  # an invalid range-spec (RFC 9110 §14.1.1): ignored
    if start >= size:
        return False
    return start, min(end, size - 1)


def send_buffered(request: HttpRequest, response: HttpResponse) -> HttpResponse:
    """Write a plain ``HttpResponse`` (body in memory) without suspending."""
    conn = request.conn
    method = request.method
    status = response.status_code
    if status == 200 and request.conditional and method in ("GET", "HEAD"):
        h = response.headers
        if ("etag" in h or "last-modified" in h) and not_modified(request, response):
            response = as_304(response)
            status = 304
    # encode_head's arguments by position: keywords cost the compiled function a parse.
    if status in NO_BODY_STATUSES:
        conn.write(encode_head(response, conn.head_prefix, conn.keep_alive, None))
        return response
    body = response.body
    if method == "HEAD":
        conn.write(encode_head(response, conn.head_prefix, conn.keep_alive, len(body)))
    elif len(body) < 65536:  # one write (one system call), one copy
        conn.write(encode_head(response, conn.head_prefix, conn.keep_alive, len(body), False, body))
    else:
        conn.write(encode_head(response, conn.head_prefix, conn.keep_alive, len(body)))
        conn.write(body)
    return response


async def send(request: HttpRequest, response: HttpResponse) -> HttpResponse:
    """Write ``response`` for ``request``; returns what was actually sent (a 304, a 206, ...)."""
    if response.__class__ is SwitchedResponse:
        return response  # the 101 went out when the protocol switched; the connection is its now
    if response.__class__ is HttpResponse or response.status_code in NO_BODY_STATUSES:
        return send_buffered(request, response)
    if request.conditional and request.method in ("GET", "HEAD") and response.status_code == 200:
        h = response.headers
        if ("etag" in h or "last-modified" in h) and not_modified(request, response):
            return send_buffered(request, as_304(response))
    if isinstance(response, FileResponse):
        return await _send_file(request, response)
    if isinstance(response, StreamingResponse):
        await _send_stream(request, response)
        return response
    return send_buffered(request, response)  # a subclass with an in-memory body


async def _send_file(request: HttpRequest, response: FileResponse) -> HttpResponse:
    conn = request.conn
    size = response.stat.st_size
    start, end = 0, size - 1
    status = response.status_code
    range_header = request.headers.get("range") if status == 200 else None
    if range_header is not None and request.method == "GET":
        if_range = request.headers.get("if-range")
        validators = (response.headers.get("etag"), response.headers.get("last-modified"))
        if if_range is None or if_range.strip() in validators:
            parsed = _parse_range(range_header, size)
            if parsed is False:
                return send_buffered(request, create_error_response(
                    416, f"the range {range_header.strip()!r} is not satisfiable: the file has {size} bytes",
                    headers={"content-range": f"bytes */{size}"}))
            if isinstance(parsed, tuple):
                start, end = parsed
                response.status_code = status = 206
                response.headers["content-range"] = f"bytes {start}-{end}/{size}"
                response.range = parsed
    length = max(0, end - start + 1)
    small = length <= _SMALL_FILE
    try:
        # A small file is read with one pread on a bare descriptor (no file object, no fstat).
        fd = os.open(response.path, _READ_FLAGS) if small else -1
        fh = None if small else open(response.path, "rb")  # noqa: ASYNC230, SIM115 - closed below
    except OSError as exc:
        # Nothing is on the wire yet (the file went away or cannot be read since it was
        # resolved): a plain error response, without the path, keeps the connection usable.
        logger.error("could not open %s: %s", response.path, exc)
        return send_buffered(request, create_error_response(404 if isinstance(exc, FileNotFoundError) else 500))
    try:
        head = encode_head(response, conn.head_prefix, keep_alive=conn.keep_alive, content_length=length)
        if request.method == "HEAD" or length == 0:
            conn.write(head)
            return response
        if fh is None:
            # One read from the page cache and one write beat a sendfile round for small files.
            try:
                data = os.pread(fd, length, start)
            except OSError as exc:
                logger.error("could not read %s: %s", response.path, exc)
                return send_buffered(request, create_error_response(500))
            if len(data) != length:
                logger.error("%s changed size while being sent", response.path)
                return send_buffered(request, create_error_response(500))
            conn.write(head + data)
            return response
        conn.write(head)
        try:
            await conn.sendfile(fh, start, length)
        except OSError:
            logger.exception("could not send %s", response.path)
            conn.end_after_response()  # the framing promised bytes we cannot deliver
        return response
    finally:
        if fh is None:
            os.close(fd)
        else:
            fh.close()


class BodyNotStarted(Exception):
    """A streamed body failed before its first chunk: nothing was sent, so an error response still can be."""


async def _send_stream(request: HttpRequest, response: StreamingResponse) -> None:
    conn = request.conn
    declared = response.headers.get("content-length")
    head_only = request.method == "HEAD"
    framing = getattr(conn, "raw_framing", True)
    chunked = declared is None and request.http_version == "1.1" and framing
    iterator: Any = response.body_iterator
    is_async = hasattr(iterator, "__aiter__")
    if is_async:
        iterator = iterator.__aiter__()
    elif not hasattr(iterator, "__next__"):
        iterator = iter(iterator)
    first: bytes | str | None = None
    if not head_only:
        # Hold the status line back until the first chunk exists: a body that fails at once
        # (a missing template, a bad query) can still become a proper error response.
        try:
            first = await iterator.__anext__() if is_async else next(iterator)
        except (StopAsyncIteration, StopIteration):
            first = None
        except Exception as exc:
            await _close_iterator(iterator)
            raise BodyNotStarted(str(exc)) from exc
    if declared is None and not chunked and framing:
        conn.end_after_response()  # HTTP/1.0: the body ends when the connection does
    # HEAD gets GET's framing headers too (RFC 9110 §9.3.2 allows omitting them; we do not).
    conn.write(encode_head(response, conn.head_prefix, keep_alive=conn.keep_alive,
                           content_length=int(declared) if declared is not None else None,
                           chunked=chunked))
    if head_only:
        await _close_iterator(iterator)  # never iterated: the body is not computed
        return
    try:
        if first is not None:
            _write_chunk(conn, first, chunked)
            await conn.drain()
            if is_async:
                async for chunk in iterator:
                    if not _write_chunk(conn, chunk, chunked):
                        break
                    await conn.drain()
            else:
                for chunk in iterator:
                    if not _write_chunk(conn, chunk, chunked):
                        break
                    await conn.drain()
    except Exception:
        # Headers are out; the only honest signal left is an unterminated body.
        logger.exception("streaming response for %s %s failed", request.method, request.path)
        conn.end_after_response()
        await _close_iterator(iterator)
        return
    except BaseException:
        # Cancelled (the client left, or the server stops): the body's ``finally`` runs now,
        # not whenever the collector gets to the generator.
        await _close_iterator(iterator)
        raise
    await _close_iterator(iterator)
    if chunked and not conn.closed:
        conn.write(b"0\r\n\r\n")


def _write_chunk(conn: Any, chunk: bytes | str, chunked: bool) -> bool:
    if conn.closed:
        return False
    if isinstance(chunk, str):
        chunk = chunk.encode()
    if not chunk:
        return True
    if chunked:
        conn.write(b"%x\r\n%b\r\n" % (len(chunk), chunk))
    else:
        conn.write(chunk)
    return True


async def _close_iterator(iterator: Any) -> None:
    aclose = getattr(iterator, "aclose", None)
    if aclose is not None:
        try:
            await aclose()
        except Exception:
            logger.exception("error closing a streaming body")
        return
    close = getattr(iterator, "close", None)
    if close is not None:
        close()
