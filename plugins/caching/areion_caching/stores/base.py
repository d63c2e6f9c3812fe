"""The one async interface every cache store implements."""

from __future__ import annotations

import abc
import secrets

from ..record import CacheRecord


class StoreError(Exception):
    """A store could not do what was asked (server down, disk full, bad data on disk).

    The response cache catches it, logs a warning and serves the request uncached.
    """


class CacheStore(abc.ABC):
    """Async key/value store for :class:`CacheRecord` values with TTLs, prefixes and tags.

    Keys are arbitrary strings. ``set`` keeps a record for ``ttl`` seconds (the record's
    fresh time plus its stale windows); after that ``get`` returns ``None``. Every method
    raises :class:`StoreError` when the backend fails.
    """

    #: Whether ``acquire_lock`` coordinates separate processes (only Redis does).
    shared_between_processes: bool = False
    #: Whether ``get_nowait`` answers without I/O (only the memory store).
    supports_nowait: bool = False

    @abc.abstractmethod
    async def get(self, key: str) -> CacheRecord | None:
        """The live record at ``key``, or ``None`` if absent or expired."""

    def get_nowait(self, key: str) -> CacheRecord | None:
        """``get`` without awaiting, for stores whose ``supports_nowait`` is true."""
        raise NotImplementedError(f"{type(self).__name__} cannot answer without I/O")

    @abc.abstractmethod
    async def set(self, key: str, record: CacheRecord, ttl: float) -> None:
        """Store ``record`` at ``key`` for ``ttl`` seconds, indexed under ``record.tags``."""

    @abc.abstractmethod
    async def delete(self, key: str) -> bool:
        """Remove ``key``; return whether it existed."""

    @abc.abstractmethod
    async def delete_prefix(self, prefix: str) -> int:
        """Remove every key starting with ``prefix``; return how many were removed."""

    @abc.abstractmethod
    async def delete_tag(self, tag: str) -> int:
        """Remove every record stored with ``tag``; return how many were removed."""

    @abc.abstractmethod
    async def clear(self) -> None:
        """Remove everything this store holds (only its own namespace for Redis)."""

    async def close(self) -> None:
        """Release connections and file handles; the store may be used again afterwards."""

    async def acquire_lock(self, key: str, ttl: float) -> str | None:
        """Take a short lock on ``key`` for ``ttl`` seconds; return a token, or None if held.

        Stores that are private to one process have nothing to coordinate and always grant
        it; in-process single-flight is done by the response cache itself.
        """
        return secrets.token_hex(8)

    async def release_lock(self, key: str, token: str) -> None:
        """Release a lock taken with ``acquire_lock`` if ``token`` still owns it."""
