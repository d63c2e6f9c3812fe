"""The explicit record a store holds for one cached response, and its byte framing.

A record is plain data — status, headers, body, timestamps, windows, tags — framed as
``MAGIC | u32 length of JSON metadata | JSON metadata | body``. Nothing is ever pickled, so
a store shared with other processes (or tampered with) can at worst yield a bad record,
which decoding rejects, never code execution.
"""

from __future__ import annotations

import struct
import time
from dataclasses import dataclass, field
from typing import Any

import orjson

MAGIC = b"ARC\x01"
_LEN = struct.Struct(">I")
HEADER_SIZE = len(MAGIC) + _LEN.size
# Bytes a record costs beyond its body and headers, for memory accounting.
_OVERHEAD = 256


class RecordError(ValueError):
    """Bytes that are not a valid cache record (wrong magic, bad metadata, truncated body)."""


@dataclass(frozen=True, slots=True)
class CacheRecord:
    """One cached response, or (with ``vary`` set and ``status`` 0) a Vary index.

    A Vary index sits at a request's base key and names the request headers the response
    varied on, so that a lookup can compute the key of the right variant.

    Attributes:
        status: the HTTP status code (0 for a Vary index).
        headers: response headers as (lower-case name, value) pairs.
        body: the body bytes exactly as sent (already content-encoded if it was).
        created: Unix time the response was produced.
        ttl: seconds the record is fresh.
        stale_while_revalidate: seconds after ``ttl`` it may be served while one refresh runs.
        stale_if_error: seconds after ``ttl`` it may be served when the handler fails.
        tags: invalidation tags.
        vary: header names (lower-case) of a Vary index; empty for a response.
        key: the store key it was written under (filled in by stores that scan).
    """

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes
    created: float
    ttl: float
    stale_while_revalidate: float = 0.0
    stale_if_error: float = 0.0
    tags: tuple[str, ...] = ()
    vary: tuple[str, ...] = ()
    key: str = ""
    _extra: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def is_vary_index(self) -> bool:
        return self.status == 0

    @property
    def lifetime(self) -> float:
        """Seconds from ``created`` to keep the record: fresh time plus its longest stale window."""
        return self.ttl + max(self.stale_while_revalidate, self.stale_if_error)

    @property
    def expires(self) -> float:
        """Unix time after which the record is useless and may be dropped."""
        return self.created + self.lifetime

    def age(self, now: float | None = None) -> float:
        return (time.time() if now is None else now) - self.created

    def is_fresh(self, now: float | None = None) -> bool:
        return self.age(now) < self.ttl

    def size(self) -> int:
        """Approximate bytes held in memory, used for the memory store's byte bound."""
        n = len(self.body) + len(self.key) + _OVERHEAD
        for name, value in self.headers:
            n += len(name) + len(value) + 16
        for item in self.tags + self.vary:
            n += len(item) + 16
        return n


def vary_index(
    vary: tuple[str, ...], created: float, lifetime: float, tags: tuple[str, ...]
) -> CacheRecord:
    """A record that points a base key at its variants keyed by the ``vary`` headers."""
    return CacheRecord(
        status=0, headers=(), body=b"", created=created, ttl=lifetime, tags=tags, vary=vary
    )


def encode_record(record: CacheRecord, key: str = "") -> bytes:
    """Frame ``record`` as bytes (JSON metadata plus the raw body; no pickle)."""
    meta = {
        "s": record.status,
        "h": record.headers,
        "c": record.created,
        "t": record.ttl,
        "w": record.stale_while_revalidate,
        "e": record.stale_if_error,
        "g": record.tags,
        "v": record.vary,
        "k": key or record.key,
    }
    blob = orjson.dumps(meta)
    return b"".join((MAGIC, _LEN.pack(len(blob)), blob, record.body))


def decode_meta(data: bytes) -> tuple[dict[str, Any], int]:
    """Parse the metadata of a framed record; return it and the offset where the body starts."""
    if len(data) < HEADER_SIZE or not data.startswith(MAGIC):
        raise RecordError("not a cache record (bad magic)")
    (length,) = _LEN.unpack_from(data, len(MAGIC))
    end = HEADER_SIZE + length
    if len(data) < end:
        raise RecordError("truncated cache record")
    try:
        meta = orjson.loads(data[HEADER_SIZE:end])
    except orjson.JSONDecodeError as exc:
        raise RecordError(f"bad cache record metadata: {exc}") from None
    if not isinstance(meta, dict):
        raise RecordError("bad cache record metadata: not an object")
    return meta, end


def decode_record(data: bytes) -> CacheRecord:
    """Turn framed bytes back into a :class:`CacheRecord`; raise :class:`RecordError` if invalid."""
    meta, start = decode_meta(data)
    try:
        headers = tuple((str(n), str(v)) for n, v in meta["h"])
        return CacheRecord(
            status=int(meta["s"]),
            headers=headers,
            body=bytes(data[start:]),
            created=float(meta["c"]),
            ttl=float(meta["t"]),
            stale_while_revalidate=float(meta.get("w", 0.0)),
            stale_if_error=float(meta.get("e", 0.0)),
            tags=tuple(str(t) for t in meta.get("g", ())),
            vary=tuple(str(v) for v in meta.get("v", ())),
            key=str(meta.get("k", "")),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise RecordError(f"bad cache record metadata: {exc!r}") from None
