"""An in-process LRU store bounded by entry count and by bytes."""

from __future__ import annotations

import heapq
import time
from collections import OrderedDict

from ..record import CacheRecord
from .base import CacheStore


class _Entry:
    __slots__ = ("expires", "record", "size")

    def __init__(self, record: CacheRecord, expires: float, size: int) -> None:
        self.record = record
        self.expires = expires
        self.size = size


class MemoryStore(CacheStore):
    """Least-recently-used store in this process's memory.

    Bounded twice: at most ``max_entries`` records and at most ``max_bytes`` bytes (bodies,
    headers and a fixed per-entry overhead). When either bound would be passed, expired
    records go first, then the least recently used. A record larger than ``max_bytes`` on
    its own is not stored. Each worker process has its own copy: the response cache sends
    its invalidations to the sibling worker processes on the host, and the Redis store
    shares the entries themselves.
    """

    def __init__(self, max_entries: int = 10_000, max_bytes: int = 64 * 1024 * 1024) -> None:
        if max_entries < 1:
            raise ValueError(f"max_entries must be at least 1, got {max_entries}")
        if max_bytes < 1:
            raise ValueError(f"max_bytes must be at least 1, got {max_bytes}")
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._data: OrderedDict[str, _Entry] = OrderedDict()
        self._bytes = 0
        self._tags: dict[str, set[str]] = {}
        # (expires, key) min-heap so expired records are dropped in O(log n) without a scan;
        # entries for keys since overwritten or deleted are skipped when popped.
        self._expiry: list[tuple[float, str]] = []

    # --- introspection (tests and the README's numbers) ----------------------------------
    def __len__(self) -> int:
        return len(self._data)

    @property
    def bytes_used(self) -> int:
        """Bytes currently accounted to stored records."""
        return self._bytes

    # --- the interface -----------------------------------------------------------------
    supports_nowait = True

    async def get(self, key: str) -> CacheRecord | None:
        return self.get_nowait(key)

    def get_nowait(self, key: str) -> CacheRecord | None:
        entry = self._data.get(key)
        if entry is None:
            return None
        if entry.expires <= time.monotonic():
            self._remove(key)
            return None
        self._data.move_to_end(key)
        return entry.record

    async def set(self, key: str, record: CacheRecord, ttl: float) -> None:
        if ttl <= 0:
            self._remove(key)
            return
        size = record.size() + len(key)
        if size > self.max_bytes:
            self._remove(key)
            return
        now = time.monotonic()
        self._remove(key)
        entry = _Entry(record, now + ttl, size)
        self._data[key] = entry
        self._bytes += size
        for tag in record.tags:
            self._tags.setdefault(tag, set()).add(key)
        heapq.heappush(self._expiry, (entry.expires, key))
        self._evict(now)

    async def delete(self, key: str) -> bool:
        return self.delete_nowait(key)

    async def delete_prefix(self, prefix: str) -> int:
        return self.delete_prefix_nowait(prefix)

    async def delete_tag(self, tag: str) -> int:
        return self.delete_tag_nowait(tag)

    async def clear(self) -> None:
        self.clear_nowait()

    # --- the same without awaiting (invalidations from sibling processes) ----------------
    def delete_nowait(self, key: str) -> bool:
        """``delete``, done before returning."""
        return self._remove(key)

    def delete_prefix_nowait(self, prefix: str) -> int:
        """``delete_prefix``, done before returning."""
        doomed = [k for k in self._data if k.startswith(prefix)]
        for k in doomed:
            self._remove(k)
        return len(doomed)

    def delete_tag_nowait(self, tag: str) -> int:
        """``delete_tag``, done before returning."""
        keys = self._tags.pop(tag, set())
        return sum(1 for k in list(keys) if self._remove(k))

    def clear_nowait(self) -> None:
        """``clear``, done before returning."""
        self._data.clear()
        self._tags.clear()
        self._expiry.clear()
        self._bytes = 0

    # --- internals -----------------------------------------------------------------------
    def _remove(self, key: str) -> bool:
        entry = self._data.pop(key, None)
        if entry is None:
            return False
        self._bytes -= entry.size
        for tag in entry.record.tags:
            keys = self._tags.get(tag)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._tags[tag]
        return True

    def _evict(self, now: float) -> None:
        heap = self._expiry
        data = self._data
        while heap and heap[0][0] <= now:
            expires, key = heapq.heappop(heap)
            entry = data.get(key)
            if entry is not None and entry.expires == expires:
                self._remove(key)
        while len(data) > self.max_entries or self._bytes > self.max_bytes:
            key = next(iter(data))
            self._remove(key)
        # Overwrites and LRU evictions leave dead heap items behind; rebuild before the
        # heap can grow past a small multiple of the live entries.
        if len(heap) > 2 * len(data) + 1024:
            self._expiry = [(e.expires, k) for k, e in data.items()]
            heapq.heapify(self._expiry)
