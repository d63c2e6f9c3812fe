"""Invalidation: by key, prefix, tag or everything, after unsafe requests, and between workers.

The part of :class:`~areion_caching.response_cache.ResponseCache` that removes entries, kept
apart from lookups and storing. Every removal counts up the cache's generation first, so a
response whose handler was running when it happened (and may have read the old data) is not
stored afterwards; with the memory store it is passed to the app's other worker processes on
this host (``_siblings.py``), which apply it as their event loop next runs.

A key written without an origin — every key a user writes, and every key an unsafe request
invalidates — is the start of the keys of every origin, and of every ``Vary`` variant: the
entries under ``key`` and under ``key + "#"...`` go (``keys.py``).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from typing import TYPE_CHECKING

from ._siblings import SiblingInvalidations, group_directory
from ._unsafe import CachedPaths, invalidates, stale_keys
from .keys import SUFFIX_MARK, user_keys
from .stores import CacheStore, MemoryStore, StoreError

if TYPE_CHECKING:
    from areion_core import HttpRequest, HttpResponse

    from .settings import CachingSettings


class Invalidation:
    """Removing entries; mixed into ``ResponseCache``, whose state it shares."""

    settings: CachingSettings
    logger: logging.Logger
    _store: CacheStore | None
    _generation: int
    _siblings: SiblingInvalidations | None
    _siblings_joined: bool
    #: The cached GET routes' paths, learnt at startup (None: unsafe answers invalidate nothing).
    cached_paths: CachedPaths | None = None

    if TYPE_CHECKING:  # provided by ResponseCache

        @property
        def store(self) -> CacheStore: ...

        def _failed(self, exc: BaseException, action: str) -> None: ...

    async def invalidate(
        self,
        key: str | None = None,
        *,
        prefix: str | None = None,
        tag: str | None = None,
        raise_errors: bool = False,
    ) -> int:
        """Remove entries by key, by key prefix or by tag; return how many went.

        ``key`` is written as requests are keyed: the path plus the query
        (``"/users?page=2"``; the path may be written decoded or percent-encoded, the query in
        any order), or what a route's ``key`` function returns. It removes the entries of
        every host (scheme, authority and root path) the path was cached for, and every
        ``Vary`` variant of each. ``prefix`` is matched against the same text, for every host
        too (``"/users"`` removes ``/users``, ``/users/1`` and ``/users?page=2``). Store
        failures are logged and give 0 unless ``raise_errors`` is true.

        With the memory store, the other worker processes of this app on this host hold the
        invalidation too when this returns (and apply it as their loop next runs); the count
        is this process's.
        """
        if sum(x is not None for x in (key, prefix, tag)) != 1:
            raise TypeError("invalidate() takes exactly one of key=, prefix= or tag=")
        if key is not None:
            return await self._remove("key", user_keys(key), raise_errors)
        if prefix is not None:
            return await self._remove("prefix", user_keys(prefix, prefix=True), raise_errors)
        assert tag is not None
        return await self._remove("tag", (tag,), raise_errors)

    async def _remove(self, kind: str, texts: tuple[str, ...] | list[str], raise_errors: bool) -> int:
        self._generation += 1
        store = self.store
        removed = 0
        try:
            for text in texts:
                if kind == "key":
                    removed += int(await store.delete(text))
                    removed += await store.delete_prefix(text + SUFFIX_MARK)
                elif kind == "prefix":
                    removed += await store.delete_prefix(text)
                else:
                    removed += await store.delete_tag(text)
        except StoreError as exc:
            if raise_errors:
                raise
            self._failed(exc, "invalidate")
            return 0
        if self._siblings is not None:
            for text in texts:
                await self._siblings.publish(kind, text)
        return removed

    def after_unsafe(self, request: HttpRequest, response: HttpResponse) -> Awaitable[None] | None:
        """Invalidate what a successful unsafe request changed; None (no coroutine) otherwise.

        Awaited in ``response_ready``, so the entries are gone (and the sibling workers hold
        the invalidation) before the client can read the answer and ask again. A store
        failure is logged; the answer goes out as it is.
        """
        cached = self.cached_paths
        if cached is None or not invalidates(request, response):
            return None
        keys = stale_keys(request, response, cached)
        return self._remove_quietly(keys) if keys else None

    async def _remove_quietly(self, keys: list[str]) -> None:
        await self._remove("key", keys, False)  # None: response_ready keeps the response

    async def clear(self, *, raise_errors: bool = False) -> None:
        """Remove every entry of this cache (in every worker, as ``invalidate`` does)."""
        self._generation += 1
        try:
            await self.store.clear()
        except StoreError as exc:
            if raise_errors:
                raise
            self._failed(exc, "clear")
            return
        if self._siblings is not None:
            await self._siblings.publish("clear", "")

    # --- sibling worker processes ---------------------------------------------------------
    def join_siblings(self) -> None:
        """Exchange invalidations with this app's other worker processes on this host.

        Only the memory store needs it (the filesystem and Redis stores are shared by the
        workers already), and only once per process: the plugin calls it at startup, and the
        first store calls it when no startup hook ran. Needs a running event loop.
        """
        if self._siblings_joined:
            return
        self._siblings_joined = True
        if not self.settings.broadcast_invalidations:
            return
        if self._store is None and self.settings.store != "memory":
            return  # not made yet, and not a memory store: nothing to make it for
        if not isinstance(self.store, MemoryStore):
            return
        directory = group_directory(self.settings.namespace)
        siblings = SiblingInvalidations(directory, self._apply_sibling_invalidation, self.logger)
        try:
            siblings.open()
        except OSError as exc:
            self.logger.warning("caching: cannot join the sibling workers in %s (%s); "
                                "invalidations will reach this process only", directory, exc)
            return
        self._siblings = siblings

    def _apply_sibling_invalidation(self, kind: str, text: str) -> None:
        # Synchronous, from the socket's reader callback: gone before any request read later.
        # A response computed here meanwhile may predate it, so it is not stored either.
        self._generation += 1
        store = self._store
        if not isinstance(store, MemoryStore):
            return
        if kind == "key":
            store.delete_nowait(text)
            store.delete_prefix_nowait(text + SUFFIX_MARK)
        elif kind == "prefix":
            store.delete_prefix_nowait(text)
        elif kind == "tag":
            store.delete_tag_nowait(text)
        else:
            store.clear_nowait()
