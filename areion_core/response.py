"""Responses: a buffered ``HttpResponse``, a ``StreamingResponse`` and a ``FileResponse``."""

from __future__ import annotations

import dataclasses
import mimetypes
import os
import re
from collections.abc import AsyncIterable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import orjson

from .headers import MutableHeaders
from .server.dates import http_date, origin_date

JSON = "application/json"
TEXT = "text/plain; charset=utf-8"
HTML = "text/html; charset=utf-8"
OCTET = "application/octet-stream"

_COOKIE_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# cookie-octet from RFC 6265 §4.1.1: no CTLs, whitespace, DQUOTE, comma, semicolon, backslash.
_COOKIE_VALUE = re.compile(r'[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]*')
_SAMESITE = {"strict": "Strict", "lax": "Lax", "none": "None"}


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
        if "content-type" not in hdrs._d and (data or content_type):
            if content_type is None:
                hdrs._d["content-type"] = ctype  # one of our own constants: nothing to check
            else:
                hdrs["content-type"] = ctype
        self.cookies: list[str] | None = None
        #: Free-form per-response state for plugins (namespaced keys, e.g. "caching.hit").
        self.extensions: dict[str, Any] | None = None

    # --- seed API ---------------------------------------------------------------------
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
        self.status_code = status_code

    def set_cookie(
        self,
        key: str,
        value: str = "",
        *,
        max_age: int | None = None,
        expires: datetime | int | str | None = None,
        path: str | None = "/",
        domain: str | None = None,
        secure: bool = False,
        httponly: bool = False,
        samesite: str | None = "lax",
    ) -> None:
        """Add a ``Set-Cookie`` line. ``expires`` as ``int`` is seconds from now."""
        if _COOKIE_NAME.fullmatch(key) is None:
            raise ValueError(f"invalid cookie name {key!r}")
        if _COOKIE_VALUE.fullmatch(value) is None:
            raise ValueError(
                f"invalid cookie value {value!r}: encode it first (e.g. urllib.parse.quote) — "
                "spaces, quotes, commas, semicolons and backslashes are not allowed"
            )
        parts = [f"{key}={value}"]
        if max_age is not None:
            parts.append(f"Max-Age={int(max_age)}")
        if expires is not None:
            if isinstance(expires, int):
                when = datetime.now(UTC).timestamp() + expires
                expires = datetime.fromtimestamp(when, UTC)
            if isinstance(expires, datetime):
                if expires.tzinfo is None:
                    expires = expires.replace(tzinfo=UTC)
                expires = http_date(expires.timestamp())
            parts.append(f"Expires={expires}")
        for attr, val in (("Path", path), ("Domain", domain)):
            if val is not None:
                if any(c in val for c in ";\r\n\0"):
                    raise ValueError(f"invalid cookie {attr}: {val!r}")
                parts.append(f"{attr}={val}")
        if secure:
            parts.append("Secure")
        if httponly:
            parts.append("HttpOnly")
        if samesite is not None:
            norm = _SAMESITE.get(samesite.lower())
            if norm is None:
                raise ValueError(f"samesite must be 'strict', 'lax' or 'none', got {samesite!r}")
            if norm == "None" and not secure:
                raise ValueError("samesite='none' requires secure=True (browsers drop it otherwise)")
            parts.append(f"SameSite={norm}")
        if self.cookies is None:
            self.cookies = []
        self.cookies.append("; ".join(parts))

    def delete_cookie(self, key: str, path: str | None = "/", domain: str | None = None) -> None:
        """Tell the client to drop a cookie (Max-Age=0 and an expiry in the past)."""
        self.set_cookie(key, "", max_age=0, expires=datetime(1970, 1, 1, tzinfo=UTC),
                        path=path, domain=domain, samesite=None)

    def ext(self) -> dict[str, Any]:
        """The ``extensions`` dict, created on first use."""
        if self.extensions is None:
            self.extensions = {}
        return self.extensions

    def format_response(self) -> bytes:
        """The response as HTTP/1.1 bytes (seed API; the server does its own framing)."""
        from ._wire import encode_head

        return encode_head(self, b"", keep_alive=True, content_length=len(self.body)) + self.body

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.status_code} {self.headers.get('content-type')!r} {len(self.body)}B>"


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
            from urllib.parse import quote

            safe = filename.replace('"', "").replace("\\", "")
            if safe.isascii():
                h["content-disposition"] = f'attachment; filename="{safe}"'
            else:
                h["content-disposition"] = f"attachment; filename*=UTF-8''{quote(filename)}"


_EXTRA_TYPES = {
    ".js": "text/javascript", ".mjs": "text/javascript", ".css": "text/css",
    ".json": "application/json", ".svg": "image/svg+xml", ".wasm": "application/wasm",
    ".webp": "image/webp", ".woff": "font/woff", ".woff2": "font/woff2", ".map": "application/json",
    ".md": "text/markdown", ".ico": "image/x-icon", ".avif": "image/avif",
}


def guess_type(path: str) -> str:
    """Content type for a file name; text types get ``charset=utf-8``."""
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
    headers = _new(MutableHeaders)
    headers._d = {"content-type": content_type}
    headers._wire = None
    response.headers = headers
    response.cookies = None
    response.extensions = None
    return response


_new = object.__new__  # an instance without running __init__ (and its checks)


def to_response(value: Any) -> HttpResponse:
    """Turn a handler's return value into a response.

    ``HttpResponse`` as is; ``str`` → text/plain; ``dict``/``list``/dataclass → JSON;
    ``bytes`` → application/octet-stream; ``None`` → 204; an async iterator → streamed.
    """
    cls = value.__class__
    if cls is dict or cls is list:
        return prebuilt(dumps_json(value), JSON)
    if cls is str:
        return prebuilt(value.encode(), TEXT)
    if isinstance(value, HttpResponse):
        return value
    if value is None:
        return HttpResponse(None, 204)
    if isinstance(value, (str, bytes, dict, list)):
        return HttpResponse(value)
    if hasattr(value, "__aiter__"):
        return StreamingResponse(value)
    if dataclasses.is_dataclass(value) or hasattr(value, "model_dump"):
        return prebuilt(dumps_json(value), JSON)
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[1], int):
        body = to_response(value[0])
        body.status_code = value[1]
        return body
    return HttpResponse(value)


# --- seed helpers -----------------------------------------------------------------------


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
    if status_code not in (301, 302, 303, 307, 308):
        raise ValueError(f"redirect status must be 301, 302, 303, 307 or 308, got {status_code}")
    return HttpResponse(None, status_code, headers={"location": location})


def create_error_response(
    status_code: int, message: str | None = None, headers: Mapping[str, object] | None = None
) -> HttpResponse:
    from http import HTTPStatus

    if message is None:
        try:
            message = HTTPStatus(status_code).phrase
        except ValueError:
            message = "Error"
    return HttpResponse(dumps_json({"error": message}), status_code, JSON, headers)


def create_empty_response(status_code: int = 204, headers: Mapping[str, object] | None = None) -> HttpResponse:
    return HttpResponse(None, status_code, None, headers)
