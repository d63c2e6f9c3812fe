"""The response cache: lookups, storing, single-flight and stale serving.

The plugin's hooks call into one :class:`ResponseCache` per app. A hit is answered from
``request_received``; a miss runs the handler and is stored from the last ``response_ready``
(after compression, so each encoding is its own variant). Any store failure is logged once
and the request goes on uncached; the store is tried again after ``retry_interval``.
Removing entries (``invalidate``, ``clear``, after unsafe methods, between workers) is in
``_invalidation.py``; what a request's own ``Cache-Control`` asks, in ``_directives.py``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

from areion_core import HttpResponse

from ._directives import request_directives
from ._invalidation import Invalidation
from ._siblings import SiblingInvalidations
from ._telemetry import report as _report
from ._telemetry import telemetry as _telemetry
from .keys import (
    CREDENTIALS,
    Normalizer,
    lookup_key,
    parse_vary,
    variant_key,
)
from .record import CacheRecord, vary_index
from .representation import (
    HIT,
    MISS,
    STALE,
    add_etag,
    add_validators,
    hit_response,
    shareable,
    stored_headers,
)
from .rules import CacheRule
from .settings import CachingSettings
from .stores import CacheStore

if TYPE_CHECKING:
    from areion_core import HttpRequest, Route

Handler = Callable[["HttpRequest"], Awaitable[HttpResponse]]
Chain = Callable[["HttpRequest", HttpResponse], Awaitable[HttpResponse]]

STATE_KEY = "caching"
_READ_METHODS = frozenset({"GET", "HEAD"})
# The two kinds of store operation, guarded apart: a disk that is full or read-only, or a
# Redis that refuses writes, still serves what it holds. A failed read means the store cannot
# be reached at all, so it holds writes off too.
_READ, _WRITE = "read", "write"


class _Flight:
    """One in-process computation of a key that other requests for it wait on."""

    __slots__ = ("deadline", "event", "stored")

    def __init__(self, deadline: float) -> None:
        self.event = asyncio.Event()
        self.stored = False
        # A leader whose request was cancelled never reports back; after this (monotonic)
        # time its flight is ignored instead of holding up the key.
        self.deadline = deadline


class _RequestState:
    """What the cache knows about a request that was not a plain hit, between its hooks."""

    __slots__ = ("answered", "base", "flight", "generation", "key", "lock_token", "rule", "stale")

    def __init__(self, rule: CacheRule, base: str, generation: int) -> None:
        self.rule = rule
        self.base = base
        self.key = base
        self.flight: _Flight | None = None
        self.lock_token: str | None = None
        self.stale: CacheRecord | None = None
        self.answered = False
        self.generation = generation


class ResponseCache(Invalidation):
    """Server-side response cache of one app; get it with :func:`get_cache`.

    Invalidate from handlers with ``await get_cache(request.app).invalidate(tag="users")``.
    """

    def __init__(
        self,
        settings: CachingSettings,
        logger: logging.Logger | None = None,
        store: CacheStore | None = None,
        normalizers: Callable[[], Mapping[str, Normalizer]] | None = None,
    ) -> None:
        self.configure(settings, logger, store, normalizers)

    def configure(
        self,
        settings: CachingSettings,
        logger: logging.Logger | None = None,
        store: CacheStore | None = None,
        normalizers: Callable[[], Mapping[str, Normalizer]] | None = None,
    ) -> None:
        """Start over with these settings (the plugin's ``configure``)."""
        #: The cached routes' rules (what on_request reads), filled in as routes are compiled.
        self.rules: dict[Route, CacheRule] = {}
        self.settings = settings
        self.logger = logger or logging.getLogger("areion.caching")
        self._store = store
        self._peek: Callable[[str], CacheRecord | None] | None = None
        self._normalizers_source = normalizers
        self._normalizers: Mapping[str, Normalizer] = {}
        self._normalizers_from: object = None
        self._flights: dict[str, _Flight] = {}
        # A read failed: nothing is tried until a read is, at _read_retry_at (monotonic).
        self._unreachable = False
        self._read_retry_at = 0.0
        # A write failed: writes are tried again at _write_retry_at; reads go on.
        self._unwritable = False
        self._write_retry_at = 0.0
        self._generation = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._refreshing: set[str] = set()
        # This process's socket among its sibling workers (memory store only), joined once.
        self._siblings: SiblingInvalidations | None = None
        self._siblings_joined = False
        #: Route → the route's fully wrapped handler, for background refreshes.
        self.handlers: dict[Route, Handler] = {}
        #: Runs the other plugins' response_ready impls on a refreshed response, if set.
        self.response_ready_chain: Chain | None = None
        header = settings.hit_header
        self._hit_header = header.lower() if header else None
        self._honour_no_cache = settings.honour_request_no_cache
        #: Whether hits are reported: False once startup saw the core's recorder, which records
        #: nothing (a recorder is installed in configure; without a startup hook, always).
        self.report_hits = True

    # --- the store, guarded ---------------------------------------------------------------
    @property
    def store(self) -> CacheStore:
        """The configured store (made on first use)."""
        store = self._store
        if store is None:
            store = self._store = self.settings.make_store()
        if self._peek is None and store.supports_nowait:
            self._peek = store.get_nowait
        return store

    @property
    def normalizers(self) -> Mapping[str, Normalizer]:
        source = self._normalizers_source() if self._normalizers_source is not None else {}
        if source is not self._normalizers_from:
            self._normalizers = {k.lower(): v for k, v in source.items()}
            self._normalizers_from = source
        return self._normalizers

    def _available(self, kind: str) -> bool:
        if not (self._unreachable or self._unwritable):
            return True
        now = time.monotonic()
        if self._unreachable and now < self._read_retry_at:
            return False
        return kind == _READ or not self._unwritable or now >= self._write_retry_at

    def _failed(self, exc: BaseException, action: str) -> None:
        # One warning per outage, when it begins (and one when it ends, in _succeeded).
        if not (self._unreachable or self._unwritable):
            self.logger.warning(
                "caching: store %s failed (%s); serving uncached, retrying every %.1fs",
                action,
                exc,
                self.settings.retry_interval,
            )
        retry_at = time.monotonic() + self.settings.retry_interval
        if action == _READ:
            self._unreachable, self._read_retry_at = True, retry_at
        else:  # a write, lock, unlock, invalidation or clear
            self._unwritable, self._write_retry_at = True, retry_at

    def _succeeded(self, kind: str) -> None:
        # A read that works after reads failed ends the outage (a store that could not be
        # reached explains the writes that failed too); while reads never failed, only a
        # write that works ends it (a full or read-only disk).
        if kind == _READ and not self._unreachable:
            return
        if self._unreachable or self._unwritable:
            self._unreachable = self._unwritable = False
            self.logger.warning("caching: store is reachable again; caching resumed")

    async def _lookup(self, request: HttpRequest, base: str) -> tuple[CacheRecord | None, str]:
        store = self.store
        record = await store.get(base)
        if record is None or not record.is_vary_index:
            return record, base
        key = variant_key(base, request, record.vary, self.normalizers)
        return await store.get(key), key

    # --- request_received ------------------------------------------------------------------
    def on_request(self, request: HttpRequest) -> HttpResponse | Awaitable[HttpResponse | None] | None:
        """A hit, None (not cacheable), or an awaitable for the rest (miss, stale, remote store).

        What the plugin's ``request_received`` returns; the route's rule is looked up here. A
        fresh hit in a store that answers without I/O (memory) is returned synchronously: no
        coroutine, no per-request state — the path that must cost least.
        """
        rule = self.rules.get(request.route)  # type: ignore[arg-type]  # a route's chain: never None
        if rule is None or request.method not in _READ_METHODS:
            return None
        base = lookup_key(request, rule.key, rule.allow_authorized)
        if base is None:  # credentials, and the rule does not allow them
            return None
        if rule.unless is not None and rule.unless(request):
            return None
        accept = None  # the oldest entry the client accepts (seconds); None: any fresh one
        if self._honour_no_cache:
            accept = request_directives(request).max_age
            if accept == 0:
                # Request no-cache, honoured: run the handler and store its answer, reading
                # nothing and waiting on no one (a computation in flight may predate it).
                self._pending(request, rule, base)
                return None
        peek = self._peek  # set with the store, when it answers without I/O
        if peek is not None:
            record = peek(base)
            if record is not None:
                if record.status == 0:  # a Vary index: find the variant for this request
                    record = peek(variant_key(base, request, record.vary, self.normalizers))
                if record is not None:
                    age = time.time() - record.created
                    if age < record.ttl and (accept is None or age <= accept):
                        if self.report_hits:
                            _report(request, "hit")
                        return hit_response(record, HIT, age, self._hit_header)
        return self._on_request(request, rule, base, accept)

    def _pending(self, request: HttpRequest, rule: CacheRule, base: str) -> _RequestState:
        state = _RequestState(rule, base, self._generation)
        scratch = request.state
        if scratch is None:
            scratch = request.state = {}
        scratch[STATE_KEY] = state
        return state

    async def _on_request(
        self, request: HttpRequest, rule: CacheRule, base: str, accept: float | None = None
    ) -> HttpResponse | None:
        state = self._pending(request, rule, base)
        if not self._available(_READ):
            return None
        no_store = request_directives(request).no_store
        for attempt in range(3):
            try:
                with _telemetry(request).span("cache.lookup", route=request.route.path if request.route else ""):
                    record, key = await self._lookup(request, base)
            except Exception as exc:
                self._failed(exc, _READ)
                return None
            self._succeeded(_READ)
            state.key = key
            if record is not None and (accept is None or time.time() - record.created <= accept):
                age = time.time() - record.created
                if age < record.ttl:
                    _report(request, "hit")
                    return self._answer(state, record, HIT, age)
                if age < record.ttl + record.stale_while_revalidate:
                    if request.method == "GET" and not no_store:
                        self._refresh_in_background(request, state, key)
                    _report(request, "stale")
                    return self._answer(state, record, STALE, age)
                if age < record.ttl + record.stale_if_error:
                    state.stale = record
            if attempt == 0:
                _report(request, "miss")  # once: a wait for another request's answer is not a second lookup
            flight = self._flights.get(key)
            if flight is None:
                break
            remaining = flight.deadline - time.monotonic()
            if remaining <= 0:
                del self._flights[key]
                break
            if attempt == 2:
                return None
            try:
                await asyncio.wait_for(flight.event.wait(), remaining)
            except TimeoutError:
                if self._flights.get(key) is flight:
                    del self._flights[key]
                return None
            if not flight.stored:
                # Its answer could not be shared (a cookie, a 5xx, ...): compute our own,
                # concurrently, rather than queueing behind one another.
                return None
        if no_store:
            return None  # its answer will not be stored: no one should wait for it
        return await self._lead(request, state)

    async def _lead(self, request: HttpRequest, state: _RequestState) -> HttpResponse | None:
        """Become the one request in this process that computes ``state.key``."""
        key = state.key
        flight = _Flight(time.monotonic() + self.settings.lock_timeout)
        self._flights[key] = flight
        state.flight = flight
        store = self.store
        if not store.shared_between_processes or not self._available(_WRITE):
            return None
        # Across processes: hold a short lock, or wait for the process that holds it.
        deadline = time.monotonic() + self.settings.lock_timeout
        delay = 0.01
        while True:
            try:
                token = await store.acquire_lock(key, self.settings.lock_timeout)
            except Exception as exc:
                self._failed(exc, "lock")
                return None
            if token is not None:
                state.lock_token = token
                return None
            if time.monotonic() >= deadline:
                return None
            await asyncio.sleep(delay)
            delay = min(delay * 1.5, 0.1)
            try:
                record, _ = await self._lookup(request, state.base)
            except Exception as exc:
                self._failed(exc, _READ)
                return None
            if record is not None and record.is_fresh():
                flight.stored = True  # local waiters will find it too
                await self.finish(request)
                return self._answer(state, record, HIT, time.time() - record.created)

    def _answer(
        self, state: _RequestState, record: CacheRecord, label: str, age: float
    ) -> HttpResponse:
        state.answered = True
        return hit_response(record, label, age, self._hit_header)

    # --- response_ready / response_sent ----------------------------------------------------
    def pending(self, request: HttpRequest) -> bool:
        """Whether ``request`` went through the slow path and still needs ``on_response``."""
        scratch = request.state
        return scratch is not None and STATE_KEY in scratch

    async def on_response(
        self, request: HttpRequest, response: HttpResponse
    ) -> HttpResponse | None:
        """Store a cacheable miss or serve a stale copy for a failure; MISS-mark the rest."""
        scratch = request.state
        state: _RequestState | None = scratch.get(STATE_KEY) if scratch is not None else None
        if state is None or state.answered:
            return None
        try:
            stale = state.stale
            if stale is not None and response.status_code >= 500:
                age = time.time() - stale.created
                if age < stale.ttl + stale.stale_if_error:
                    return self._answer(state, stale, STALE, age)
            stored = await self.store_response(
                request, response, state.rule, state.base, state.generation
            )
            if stored and state.flight is not None:
                state.flight.stored = True
            if self._hit_header is not None:
                response.headers[self._hit_header] = MISS
            return None
        finally:
            await self.finish(request)

    async def on_miss_response(
        self, request: HttpRequest, response: HttpResponse, *, etag: bool
    ) -> HttpResponse | None:
        """``on_response``, then a strong ETag on what is sent when the route asks for one."""
        replacement = await self.on_response(request, response)
        if replacement is None and etag:
            add_etag(response)
        return replacement

    async def finish(self, request: HttpRequest) -> None:
        """Wake requests waiting on this one and release its lock (idempotent)."""
        scratch = request.state
        state: _RequestState | None = scratch.get(STATE_KEY) if scratch is not None else None
        if state is None:
            return
        flight, state.flight = state.flight, None
        if flight is not None:
            if self._flights.get(state.key) is flight:
                del self._flights[state.key]
            flight.event.set()
        token, state.lock_token = state.lock_token, None
        if token is not None:
            try:
                await self.store.release_lock(state.key, token)
            except Exception as exc:
                self._failed(exc, "unlock")

    def needs_finish(self, request: HttpRequest) -> bool:
        scratch = request.state
        state: _RequestState | None = scratch.get(STATE_KEY) if scratch is not None else None
        return state is not None and (state.flight is not None or state.lock_token is not None)

    async def store_response(
        self,
        request: HttpRequest,
        response: HttpResponse,
        rule: CacheRule,
        base: str,
        generation: int,
    ) -> bool:
        """Store ``response`` for ``request`` if allowed; return whether it was stored."""
        headers = response.headers
        if rule.vary:
            headers.add_vary(*rule.vary)
        settings = self.settings
        if not shareable(request, response, settings.cacheable_statuses, settings.max_entry_bytes):
            return False
        if request_directives(request).no_store:
            return False  # RFC 9111 §5.2.1.5: no response to this request is stored
        if not self._available(_WRITE) or generation != self._generation:
            return False  # store down, or invalidated while the handler ran (maybe old data)
        vary = parse_vary(headers.get("vary"))
        if vary is None:
            return False
        now = time.time()
        add_validators(response, now)
        names = sorted(set(vary) | ({CREDENTIALS} if rule.allow_authorized else set()))
        tags = rule.tags_for(request)
        record = CacheRecord(
            status=response.status_code,
            headers=stored_headers(response, self._hit_header),
            body=response.body,
            created=now,
            ttl=float(rule.ttl if rule.ttl is not None else settings.default_ttl),
            stale_while_revalidate=float(rule.stale_while_revalidate or 0),
            stale_if_error=float(rule.stale_if_error or 0),
            tags=tags,
        )
        lifetime = record.lifetime
        store = self.store
        if not self._siblings_joined:
            self.join_siblings()  # no startup hook ran (an ASGI server without lifespan)
        try:
            if names:
                key = variant_key(base, request, names, self.normalizers)
                await store.set(key, record, lifetime)
                await store.set(base, vary_index(tuple(names), now, lifetime, tags), lifetime)
            else:
                await store.set(base, record, lifetime)
        except Exception as exc:
            self._failed(exc, _WRITE)
            return False
        self._succeeded(_WRITE)
        return True

    # --- stale-while-revalidate -----------------------------------------------------------
    def _refresh_in_background(self, request: HttpRequest, state: _RequestState, key: str) -> None:
        route = request.route
        handler = self.handlers.get(route) if route is not None else None
        if handler is None or key in self._refreshing:
            return
        self._refreshing.add(key)
        task = asyncio.get_running_loop().create_task(
            self._refresh(request, state.rule, state.base, key, handler)
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _refresh(
        self, request: HttpRequest, rule: CacheRule, base: str, key: str, handler: Handler
    ) -> None:
        token: str | None = None
        store = self.store
        try:
            if store.shared_between_processes:
                try:
                    token = await store.acquire_lock(key, self.settings.lock_timeout)
                except Exception as exc:
                    self._failed(exc, "lock")
                    return
                if token is None:
                    return  # another process is refreshing it
            generation = self._generation
            try:
                response = await handler(request)
                if self.response_ready_chain is not None:
                    response = await self.response_ready_chain(request, response)
            except Exception:  # the stale copy stays; a later request retries
                self.logger.warning("caching: background refresh of %s failed", key, exc_info=True)
                return
            await self.store_response(request, response, rule, base, generation)
        finally:
            self._refreshing.discard(key)
            if token is not None:
                try:
                    await store.release_lock(key, token)
                except Exception as exc:
                    self._failed(exc, "unlock")

    async def close(self) -> None:
        """Cancel background refreshes, wake waiters and close the store."""
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        for flight in self._flights.values():
            flight.event.set()
        self._flights.clear()
        if self._siblings is not None:
            self._siblings.close()
            self._siblings = None
        if self._hosts is not None:
            await self._hosts.close()
            self._hosts = None
        self._siblings_joined = False
        if self._store is not None:
            await self._store.close()


def get_cache(app: Any) -> ResponseCache:
    """The :class:`ResponseCache` of ``app`` (``request.app`` in a handler)."""
    cache = app.state.get(STATE_KEY) if getattr(app, "state", None) is not None else None
    if not isinstance(cache, ResponseCache):
        message = (
            "the caching plugin is not enabled for this app "
            "(pip install areion-caching and add 'caching' to plugins)"
        )
        raise RuntimeError(message)
    return cache

