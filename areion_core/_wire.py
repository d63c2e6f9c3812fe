"""Response framing: status lines and header blocks, pre-encoded where they are constant."""

from __future__ import annotations

import re
from http import HTTPStatus
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .response import HttpResponse


def _status_line(code: int) -> bytes:
    try:
        phrase = HTTPStatus(code).phrase
    except ValueError:
        phrase = "Unknown"
    return f"HTTP/1.1 {code} {phrase}\r\n".encode("latin-1")


STATUS_LINES: dict[int, bytes] = {s.value: _status_line(s.value) for s in HTTPStatus}

# Statuses that never carry a body (RFC 9110 §6.4.1).
NO_BODY_STATUSES = frozenset({204, 304}) | frozenset(range(100, 200))

_SPECIAL_CASE = {
    "etag": "ETag", "www-authenticate": "WWW-Authenticate", "content-md5": "Content-MD5",
    "x-xss-protection": "X-XSS-Protection", "te": "TE", "dnt": "DNT", "x-request-id": "X-Request-ID",
}
_CANONICAL: dict[str, bytes] = {}
# Encoded header lines for (name, value) pairs seen before: most responses repeat a few.
_LINES: dict[tuple[str, str], bytes] = {}
# Framing headers are the server's to write, never taken from the response object.
_FRAMING = frozenset({"content-length", "transfer-encoding", "connection"})
# Set-Cookie lines: set_cookie() builds valid ones, but ``response.cookies`` is a plain list a
# caller may append to, so each line is checked here, the one place every line passes.
_BAD_COOKIE_LINE = re.compile(r"[^\t\x20-\x7e]")


def canonical_name(lower: str) -> bytes:
    """``content-type`` → ``b"Content-Type"`` (cached; names are validated tokens already)."""
    name = _CANONICAL.get(lower)
    if name is None:
        text = _SPECIAL_CASE.get(lower) or "-".join(p[:1].upper() + p[1:] for p in lower.split("-"))
        name = text.encode("latin-1")
        if len(_CANONICAL) < 4096:
            _CANONICAL[lower] = name
    return name


def status_line(code: int) -> bytes:
    line = STATUS_LINES.get(code)
    if line is None:
        if not 100 <= code <= 999:
            raise ValueError(f"invalid HTTP status code {code}")
        line = _status_line(code)
    return line


def encode_lines(headers: dict[str, str]) -> bytes:
    """The ``Name: value`` lines of a header dict (framing headers left out: they are the server's)."""
    return b"".join(
        canonical_name(name) + b": " + value.encode("latin-1") + b"\r\n"
        for name, value in headers.items()
        if name not in _FRAMING
    )


def encode_head(
    response: HttpResponse,
    constant_headers: bytes,
    *,
    keep_alive: bool,
    content_length: int | None,
    chunked: bool = False,
) -> bytes:
    """Status line and header block of ``response``, ending with the blank line.

    ``constant_headers`` is the pre-encoded ``Date``/``Server``/global-header block.
    ``content_length`` None with ``chunked`` False means the body is close-delimited.
    """
    parts = [STATUS_LINES.get(response.status_code) or status_line(response.status_code), constant_headers]
    append = parts.append
    headers = response.headers
    wire = headers._wire
    if wire is not None:
        append(wire)
    else:
        lines = _LINES
        for item in headers._d.items():
            line = lines.get(item)
            if line is None:
                name, value = item
                if name in _FRAMING:
                    continue
                line = canonical_name(name) + b": " + value.encode("latin-1") + b"\r\n"
                if len(value) < 128 and len(lines) < 4096:
                    lines[item] = line
            append(line)
    if response.cookies:
        for cookie in response.cookies:
            if _BAD_COOKIE_LINE.search(cookie) is not None:
                raise ValueError(f"invalid Set-Cookie line {cookie!r}: use HttpResponse.set_cookie()")
            append(b"Set-Cookie: " + cookie.encode("ascii") + b"\r\n")
    if content_length is not None:
        append(b"Content-Length: %d\r\n" % content_length)
    elif chunked:
        append(b"Transfer-Encoding: chunked\r\n")
    if not keep_alive:
        append(b"Connection: close\r\n")
    append(b"\r\n")
    return b"".join(parts)
