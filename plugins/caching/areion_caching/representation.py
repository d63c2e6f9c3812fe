"""Responses to records and back: what may be shared, what is kept, what a hit looks like."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Collection
from typing import TYPE_CHECKING

from areion_core import REPLAYED, FileResponse, HttpResponse, MutableHeaders, StreamingResponse
from areion_core.plugin_api import origin_date

from .record import CacheRecord

if TYPE_CHECKING:
    from areion_core import HttpRequest

HIT, MISS, STALE = "HIT", "MISS", "STALE"
#: ``response.extensions`` keys a replayed response carries, for other plugins.
HIT_EXTENSION, STATUS_EXTENSION = "caching.hit", "caching.status"
# Never replayed from a stored response: per-connection, per-message or computed on send.
UNSTORED = frozenset(
    {
        "date",
        "server",
        "connection",
        "keep-alive",
        "transfer-encoding",
        "content-length",
        "age",
        "set-cookie",
        "proxy-connection",
        "upgrade",
    }
)
#: Statuses that get a validator (ETag, Last-Modified) when stored or opted in.
VALIDATED_STATUSES = frozenset({200, 203})


def strong_etag(body: bytes) -> str:
    """A strong validator derived from the exact bytes sent (so each encoding gets its own)."""
    return '"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"'


def is_buffered(response: HttpResponse) -> bool:
    """Whether the whole body is in ``response.body`` (not streamed, not a file)."""
    return not isinstance(response, (StreamingResponse, FileResponse))


def shareable(
    request: HttpRequest, response: HttpResponse, statuses: Collection[int], max_bytes: int
) -> bool:
    """Whether a response may be stored and replayed to other clients.

    Only GET and HEAD answers (a HEAD runs GET's handler and pipeline, so its response holds
    GET's body even though none is sent: storing it gives a HEAD miss GET's validators),
    only the configured statuses, never one that sets a cookie, says ``private`` or ``no-store``
    (RFC 9111 §3), is streamed or a file, or is larger than ``max_bytes``.
    """
    if (request.method != "GET" and request.method != "HEAD") or response.status_code not in statuses:
        return False
    if response.cookies or not is_buffered(response) or len(response.body) > max_bytes:
        return False
    control = response.headers.get("cache-control")
    if control:
        directives = {d.split("=", 1)[0].strip().lower() for d in control.split(",")}
        if "no-store" in directives or "private" in directives:
            return False
    return True


def add_validators(response: HttpResponse, now: float) -> None:
    """Give a 200/203 a strong ETag of its body and a Last-Modified, unless it has its own."""
    if response.status_code in VALIDATED_STATUSES:
        headers = response.headers
        if "etag" not in headers:
            headers["etag"] = strong_etag(response.body)
        if "last-modified" not in headers:
            headers["last-modified"] = origin_date(now)


def stored_headers(response: HttpResponse, hit_header: str | None) -> tuple[tuple[str, str], ...]:
    return tuple(
        (n, v) for n, v in response.headers.items_lower() if n not in UNSTORED and n != hit_header
    )


def hit_response(
    record: CacheRecord, label: str, age: float, hit_header: str | None
) -> HttpResponse:
    """A fresh response object for a stored record, with ``Age`` and the hit header.

    The header block is validated and encoded once per record, label and whole second of
    age; each hit copies it (encoded lines included), so a hit does not re-check or
    re-encode any stored header unless a later plugin changes one.
    """
    memo = record._extra.get(label)
    # A memo holds for the ages [start, end) that have its Age value: two comparisons per hit,
    # no int() (the first second's starts at -inf: a clock stepped back still says Age: 0).
    if memo is None or not memo[0] <= age < memo[1]:
        seconds = int(age) if age > 0 else 0
        template = MutableHeaders(record.headers)
        template["age"] = str(seconds)
        if hit_header is not None:
            template[hit_header] = label
        template.preencode()
        extensions = {HIT_EXTENSION: True, STATUS_EXTENSION: label, REPLAYED: True}
        memo = record._extra[label] = (seconds if seconds else -math.inf, seconds + 1, template, extensions)
    response = _new(HttpResponse)  # every field set here: the stored parts need no checks
    response.body = record.body
    response.status_code = record.status
    response.headers = memo[2].copy()
    response.cookies = None
    response.extensions = memo[3].copy()  # each response its own (plugins may add to it)
    return response


_new = object.__new__


def add_etag(response: HttpResponse) -> None:
    """A strong ETag for an opted-in, uncached 200/203 (the core then answers 304s)."""
    if (
        response.status_code in VALIDATED_STATUSES
        and "etag" not in response.headers
        and is_buffered(response)
    ):
        response.headers["etag"] = strong_etag(response.body)
