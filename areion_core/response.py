"""Responses: a buffered ``HttpResponse``, a ``StreamingResponse`` and a ``FileResponse``."""

from __future__ import annotations

import dataclasses
import functools
import mimetypes
import os
import re
from collections.abc import AsyncIterable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import orjson

from .headers import MutableHeaders, content_type_only, encode_head
from .server.dates import http_date, origin_date, parse_http_date

JSON = "application/json"
TEXT = "text/plain; charset=utf-8"
HTML = "text/html; charset=utf-8"
OCTET = "application/octet-stream"

_COOKIE_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# cookie-octet from RFC 6265 §4.1.1: no CTLs, whitespace, DQUOTE, comma, semicolon, backslash.
_COOKIE_VALUE = re.compile(r'[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]*')
# av-octet from RFC 6265 §4.1.1 (Path, Domain, Expires): any visible ASCII or space but ";".
_COOKIE_ATTR = re.compile(r"[\x20-\x3a\x3c-\x7e]*")
_SAMESITE = {"strict": "Strict", "lax": "Lax", "none": "None"}
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# What may stay as is in a Location URL; anything else (space, non-ASCII, ...) is percent-encoded.
_URL_SAFE = "!#$%&'()*+,/:;=?@[]~"
_URL_PLAIN = re.compile(r"[!#-;=?-\[\]_a-z~]*")


def _json_default(obj: Any) -> Any:
    dump = getattr(obj, "model_dump", None)  # Pydantic v2 models
    if callable(dump):
        return dump(mode="json")
    if isinstance(obj, (set, frozenset)):
        return list(obj)
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")


def dumps_json(data: Any) -> bytes:
    """Serialise ``data`` with orjson (dataclasses, datetimes, UUIDs, Pydantic models)."""
    return orjson.dumps(data, default=_json_default)


def encode_body(body: Any, content_type: str | None) -> tuple[bytes, str]:
    """Turn a handler's body value into bytes and the content type to send with it."""
    if isinstance(body, bytes):
        return body, content_type or OCTET
    if isinstance(body, str):
        return body.encode(), content_type or TEXT
    if body is None:
        return b"", content_type or TEXT
    if isinstance(body, (bytearray, memoryview)):
        return bytes(body), content_type or OCTET
    return dumps_json(body), content_type or JSON


class HttpResponse:
    """A response with its whole body in memory.

    ``body`` may be ``bytes`` (sent as is), ``str`` (UTF-8), or anything JSON-serialisable
    (``dict``, ``list``, dataclasses, ...), which is encoded with orjson. Without
    ``content_type`` the type follows the body: text/plain, application/json or
    application/octet-stream.
    """

    __slots__ = ("body", "cookies", "extensions", "headers", "status_code")

    def __init__(
        self,
        body: Any = None,
        status_code: int = 200,
        content_type: str | None = None,
        headers: Mapping[str, object] | None = None,
    ) -> None:
        data, ctype = encode_body(body, content_type)
        self.body: bytes = data
        self.status_code = status_code
        self.headers = hdrs = MutableHeaders(headers)
        if (data or content_type) and "content-type" not in hdrs:
            hdrs["content-type"] = ctype
        self.cookies: list[str] | None = None
        #: Free-form per-response state for plugins (namespaced keys, e.g. "caching.hit").
        self.extensions: dict[str, Any] | None = None

    # --- 1.x compatibility API ---------------------------------------------------------------------
    @property
    def content_type(self) -> str | None:
        value: str | None = self.headers.get("content-type")
        return value

    def set_header(self, key: str, value: object) -> None:
        self.headers[key] = value

    def set_headers(self, headers: Mapping[str, object]) -> None:
        for k, v in headers.items():
            self.headers[k] = v

    def set_status_code(self, status_code: int) -> None:
        if isinstance(status_code, bool) or not isinstance(status_code, int) or not 100 <= status_code <= 999:
            raise ValueError(f"invalid HTTP status code {status_code!r}")
        self.status_code = status_code

    def set_cookie(
        self,
        key: str,
        value: str = "",
        *,
        max_age: int | None = None,
        expires: datetime | int | float | str | None = None,
        path: str | None = "/",
        domain: str | None = None,
        secure: bool = False,
        httponly: bool = False,
        samesite: str | None = "lax",
        partitioned: bool = False,
    ) -> None:
        """Add a ``Set-Cookie`` line. ``expires`` as a number is seconds from now.

        Everything is checked here, so a bad cookie raises ``ValueError`` in the handler
        instead of reaching the wire or being dropped silently by browsers: the name must be
        a token, the value cookie-octets (encode it first), attributes free of ``;`` and
        control characters. ``samesite`` is ``"strict"``, ``"lax"`` (the default) or
        ``"none"``; ``"none"`` and ``partitioned`` need ``secure=True``, and the
        ``__Secure-`` and ``__Host-`` name prefixes get the attributes they demand.
        """
        if not isinstance(key, str) or _COOKIE_NAME.fullmatch(key) is None:
            raise ValueError(f"invalid cookie name {key!r}: it must be an RFC 9110 token")
        if not isinstance(value, str) or _COOKIE_VALUE.fullmatch(value) is None:
            raise ValueError(
                f"invalid cookie value {value!r}: encode it first (e.g. urllib.parse.quote) — "
                "spaces, quotes, commas, semicolons, backslashes and control characters are not allowed"
            )
        parts = [f"{key}={value}"]
        if max_age is not None:
            parts.append(f"Max-Age={int(max_age)}")
        if expires is not None:
            parts.append(f"Expires={_cookie_expires(expires)}")
        if path is not None:
            parts.append(f"Path={_cookie_attr('Path', path)}")
        if domain is not None:
            parts.append(f"Domain={_cookie_attr('Domain', domain)}")
        if secure:
            parts.append("Secure")
        if httponly:
            parts.append("HttpOnly")
        if samesite is not None:
            parts.append(f"SameSite={_cookie_samesite(samesite, secure)}")
        if partitioned:
            if not secure:
                raise ValueError("partitioned=True requires secure=True (browsers drop it otherwise)")
            parts.append("Partitioned")
        prefix = key[:9].lower()
        if (prefix == "__secure-" or prefix[:7] == "__host-") and not secure:
            raise ValueError(f"cookie {key!r}: the {key[:key.index('-') + 1]} prefix requires secure=True")
        if prefix[:7] == "__host-" and (path != "/" or domain is not None):
            raise ValueError(f"cookie {key!r}: the __Host- prefix requires path='/' and no domain")
        if self.cookies is None:
            self.cookies = []
        self.cookies.append("; ".join(parts))

    def delete_cookie(
        self,
        key: str,
        path: str | None = "/",
        domain: str | None = None,
        *,
        secure: bool = False,
        httponly: bool = False,
        samesite: str | None = None,
        partitioned: bool = False,
    ) -> None:
        """Tell the client to drop a cookie (Max-Age=0 and an expiry in the past).

        Give the ``path``, ``domain``, ``secure`` and ``partitioned`` the cookie was set
        with: browsers match on them (and refuse a ``__Host-`` cookie without ``Secure``).
        """
        self.set_cookie(key, "", max_age=0, expires=datetime(1970, 1, 1, tzinfo=UTC), path=path,
                        domain=domain, secure=secure, httponly=httponly, samesite=samesite,
                        partitioned=partitioned)

    def ext(self) -> dict[str, Any]:
        """The ``extensions`` dict, created on first use."""
        if self.extensions is None:
            self.extensions = {}
        return self.extensions

    def format_response(self) -> bytes:
        """The response as HTTP/1.1 bytes (the 1.x API; the server does its own framing)."""
        return encode_head(self, b"", keep_alive=True, content_length=len(self.body), body=self.body)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.status_code} {self.headers.get('content-type')!r} {len(self.body)}B>"


class SwitchedResponse(HttpResponse):
    """What a request that switched protocols (101) "responds": its head is already written.

    The access log and ``response_sent`` observers see a 101; the writer sends nothing.
    """

    __slots__ = ()

    def __init__(self) -> None:
        super().__init__(None, 101)


class StreamingResponse(HttpResponse):
    """A response whose body comes from an iterator of ``bytes``/``str`` chunks.

    Sent with chunked transfer coding (or close-delimited to HTTP/1.0 clients) unless a
    ``Content-Length`` header is set. Each chunk is written as soon as it is produced.
    """

    __slots__ = ("body_iterator",)

    def __init__(
        self,
        content: AsyncIterable[bytes | str] | Iterable[bytes | str],
        status_code: int = 200,
        content_type: str | None = None,
        headers: Mapping[str, object] | None = None,
    ) -> None:
        super().__init__(None, status_code, content_type or OCTET, headers)
        self.body_iterator = content


class FileResponse(HttpResponse):
    """A file sent from disk with ``sendfile`` where the transport allows.

    Supports ``Range`` (206/416), and sets ``ETag`` and ``Last-Modified`` so that conditional
    requests are answered with 304 by the core.
    """

    __slots__ = ("path", "range", "stat")

    def __init__(
        self,
        path: str | os.PathLike[str],
        status_code: int = 200,
        content_type: str | None = None,
        headers: Mapping[str, object] | None = None,
        filename: str | None = None,
        stat_result: os.stat_result | None = None,
    ) -> None:
        self.path = os.fspath(path)
        st = stat_result if stat_result is not None else os.stat(self.path)
        self.stat = st
        ctype = content_type or guess_type(self.path)
        super().__init__(None, status_code, ctype, headers)
        self.range: tuple[int, int] | None = None
        h = self.headers
        h.setdefault("etag", f'"{st.st_mtime_ns:x}-{st.st_size:x}"')
        h.setdefault("last-modified", origin_date(st.st_mtime))  # a future mtime becomes now
        h.setdefault("accept-ranges", "bytes")
        if filename is not None:
            h["content-disposition"] = _attachment(filename)


def _attachment(filename: str) -> str:
    """``Content-Disposition: attachment`` for ``filename`` (RFC 6266; RFC 8187 when not ASCII)."""
    from urllib.parse import quote

    if _CONTROL.search(filename) is not None:
        raise ValueError(f"invalid filename {filename!r}: control characters are not allowed")
    safe = filename.replace('"', "").replace("\\", "")
    if safe.isascii():
        return f'attachment; filename="{safe}"'
    return f"attachment; filename*=UTF-8''{quote(filename)}"


def _cookie_expires(expires: datetime | int | float | str) -> str:
    """An Expires attribute value from a datetime, seconds from now, or an HTTP date (checked)."""
    if isinstance(expires, bool):
        raise TypeError("cookie expires must be a datetime, seconds from now or an HTTP date")
    if isinstance(expires, (int, float)):
        expires = datetime.fromtimestamp(datetime.now(UTC).timestamp() + expires, UTC)
    if isinstance(expires, datetime):
        if expires.tzinfo is None:
            expires = expires.replace(tzinfo=UTC)
        return http_date(expires.timestamp())
    if parse_http_date(_cookie_attr("Expires", expires)) is None:
        # Browsers ignore an Expires they cannot parse: the cookie would quietly become a
        # session cookie.
        raise ValueError(f"invalid cookie Expires: {expires!r} is not an HTTP date "
                         "(give a datetime, or seconds from now)")
    return expires


def _cookie_samesite(samesite: str, secure: bool) -> str:
    norm = _SAMESITE.get(str(samesite).lower())
    if norm is None:
        raise ValueError(f"samesite must be 'strict', 'lax' or 'none', got {samesite!r}")
    if norm == "None" and not secure:
        # Browsers reject SameSite=None without Secure: the cookie would vanish silently.
        raise ValueError("samesite='none' requires secure=True (browsers drop it otherwise)")
    return norm


def _cookie_attr(name: str, value: str) -> str:
    if not isinstance(value, str) or _COOKIE_ATTR.fullmatch(value) is None:
        raise ValueError(
            f"invalid cookie {name}: {value!r} (';', control characters and non-ASCII are not allowed)"
        )
    return value


_EXTRA_TYPES = {
    ".js": "text/javascript", ".mjs": "text/javascript", ".css": "text/css",
    ".json": "application/json", ".svg": "image/svg+xml", ".wasm": "application/wasm",
    ".webp": "image/webp", ".woff": "font/woff", ".woff2": "font/woff2", ".map": "application/json",
    ".md": "text/markdown", ".ico": "image/x-icon", ".avif": "image/avif",
}


@functools.lru_cache(maxsize=1024)  # a static file is asked for again and again
def guess_type(path: str) -> str:
    """Content type for a file name; text types get ``charset=utf-8``.

    Remembered per path (the last 1024): a type added with ``mimetypes.add_type`` after a
    path was served applies to other paths only."""
    ext = os.path.splitext(path)[1].lower()
    ctype = _EXTRA_TYPES.get(ext) or mimetypes.guess_type(path, strict=False)[0] or OCTET
    if (ctype.startswith("text/") or ctype in ("application/json", "image/svg+xml")) and "charset" not in ctype:
        ctype += "; charset=utf-8"
    return ctype


def prebuilt(body: bytes, content_type: str, status_code: int = 200) -> HttpResponse:
    """A response from already-encoded parts, skipping validation (``content_type`` is trusted)."""
    response = _new(HttpResponse)
    response.body = body
    response.status_code = status_code
    response.headers = content_type_only(content_type)
    response.cookies = None
    response.extensions = None
    return response


_new = object.__new__  # an instance without running __init__ (and its checks)
#: The classes of handler values that to_response has found to be dataclasses or models (JSON).
_JSON_CLASSES: set[type] = set()


def to_response(value: Any) -> HttpResponse:
    """Turn a handler's return value into a response.

    ``HttpResponse`` as is; ``str`` → text/plain; ``dict``/``list``/dataclass → JSON;
    ``bytes`` → application/octet-stream; ``None`` → 204; an async iterator → streamed.
    """
    cls = value.__class__
    if cls is dict or cls is list:
        return prebuilt(orjson.dumps(value, default=_json_default), JSON)  # dumps_json(), inline
    if cls is str:
        return prebuilt(value.encode(), TEXT)
    if cls in _JSON_CLASSES:  # a dataclass or model class seen before: no checks again
        return prebuilt(orjson.dumps(value, default=_json_default), JSON)  # dumps_json(), inline
    if isinstance(value, HttpResponse):
        return value
    if value is None:
        return HttpResponse(None, 204)
    if isinstance(value, (str, bytes, dict, list)):
        return HttpResponse(value)
    if hasattr(value, "__aiter__"):
        return StreamingResponse(value)
    if dataclasses.is_dataclass(value) or hasattr(value, "model_dump"):
        if len(_JSON_CLASSES) < 256:
            _JSON_CLASSES.add(cls)  # (its instances pass every check above the same way)
        return prebuilt(dumps_json(value), JSON)
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[1], int):
        body = to_response(value[0])
        body.status_code = value[1]
        return body
    return HttpResponse(value)


# --- 1.x compatibility helpers -----------------------------------------------------------------------


Headers = Mapping[str, object] | None


def create_json_response(data: Any, status_code: int = 200, headers: Headers = None) -> HttpResponse:
    return HttpResponse(dumps_json(data), status_code, JSON, headers)


def create_text_response(text: str, status_code: int = 200, headers: Headers = None) -> HttpResponse:
    return HttpResponse(text, status_code, TEXT, headers)


def create_html_response(html: str, status_code: int = 200, headers: Headers = None) -> HttpResponse:
    return HttpResponse(html, status_code, HTML, headers)


def create_file_response(file_path: str | os.PathLike[str], status_code: int = 200) -> FileResponse:
    return FileResponse(file_path, status_code)


def create_redirect_response(location: str, status_code: int = 302) -> HttpResponse:
    """A redirect to ``location``.

    Spaces and non-ASCII characters are percent-encoded as UTF-8 (an IRI becomes a URI);
    CR, LF, NUL and other control characters raise ``ValueError``, so a URL taken from the
    request (``?next=...``) can never split the header. It can still point to another site:
    checking that it is local is the caller's job.
    """
    if status_code not in (301, 302, 303, 307, 308):
        raise ValueError(f"redirect status must be 301, 302, 303, 307 or 308, got {status_code}")
    location = location if isinstance(location, str) else str(location)
    if _CONTROL.search(location) is not None:
        raise ValueError(
            f"invalid redirect location {location!r}: CR, LF, NUL and other control characters are not allowed"
        )
    if _URL_PLAIN.fullmatch(location) is None:
        from urllib.parse import quote

        location = quote(location, safe=_URL_SAFE)
    return HttpResponse(None, status_code, headers={"location": location})


def create_error_response(
    status_code: int, message: str | None = None, headers: Mapping[str, object] | None = None
) -> HttpResponse:
    """An error response: ``application/problem+json`` (RFC 9457) for a status of 400-599.

    ``message`` is the problem's ``detail`` and also its ``error`` extension member, so a
    client of Areion 1.x that reads ``body["error"]`` keeps working. A status outside
    400-599 (no problem status) keeps the 1.x body ``{"error": message}`` as JSON.
    """
    from ._status import status_phrase

    phrase = status_phrase(status_code) if isinstance(status_code, int) else None
    if message is None:
        message = phrase or "Error"
    if not (isinstance(status_code, int) and 400 <= status_code <= 599):
        return HttpResponse(dumps_json({"error": message}), status_code, JSON, headers)
    # What problem.problem_response(status, message, extensions={"error": message}) makes
    # (built here: problem.py imports this module).
    body: dict[str, Any] = {"type": "about:blank"}
    if phrase is not None:
        body["title"] = phrase
    body.update(status=status_code, detail=message, error=message)
    return HttpResponse(dumps_json(body), status_code, "application/problem+json", headers)


def create_empty_response(status_code: int = 204, headers: Mapping[str, object] | None = None) -> HttpResponse:
    return HttpResponse(None, status_code, None, headers)
