"""Per-app state: the settings, the operation ids seen so far, and the cached document."""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

from areion_core import PluginError

from .document import (
    DuplicateOperationIdError,
    RouteLike,
    build_document,
    describe,
    documented,
    operation_ids,
    shared_names,
)
from .pages import DocsSite
from .settings import OpenAPISettings


class OpenAPIService:
    """The document for one app, built once and rebuilt only when its routes change."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.settings: OpenAPISettings = OpenAPISettings.from_section(app.config.section("openapi"))
        self.enabled = self.settings.is_on(bool(app.development))
        self.site = DocsSite(self.settings, self.document_bytes, self._root_path) if self.enabled else None
        self._ids: dict[str, str] = {}
        self._shared: frozenset[str] | None = None
        # (routes fingerprint, root_path) -> (document, JSON bytes, ETag)
        self._cached: tuple[tuple[Any, ...], dict[str, Any], bytes, str] | None = None
        # Other root paths (trusted proxies' X-Forwarded-Prefix): root_path -> (the app's ETag
        # it was made from, JSON bytes, ETag); at most _PREFIXED entries.
        self._prefixed: dict[str, tuple[str, bytes, str]] = {}

    def _root_path(self, request: Any = None) -> str:
        """The request's root path (a trusted proxy's ``X-Forwarded-Prefix``), or the app's."""
        if request is not None:
            return str(getattr(request, "root_path", "") or "")
        return str(getattr(self.app, "root_path", "") or "")

    def check_route(self, route: RouteLike) -> None:
        """Fail at startup, naming both routes, when ``route`` repeats an operationId."""
        if not documented(route):
            return
        if self._shared is None:  # app.routes is final when route_added fires
            self._shared = shared_names(self.app.routes)
        for method, op_id in operation_ids(route, self._shared):
            where = describe(route, method)
            if op_id in self._ids and self._ids[op_id] != where:
                raise DuplicateOperationIdError(
                    f"openapi: operationId {op_id!r} is used by {self._ids[op_id]} and by {where}; "
                    "give one of them @operation_id(...) or a different route name")
            self._ids[op_id] = where

    def _fingerprint(self) -> tuple[Any, ...]:
        # Route objects are replaced, not mutated, when an app's routes change, so their
        # identities are a cheap test for "the routes changed since the last build".
        return (tuple(id(r) for r in self.app.routes), self._root_path())

    def document(self) -> dict[str, Any]:
        """The document (built on first use, then reused until the routes change)."""
        return self._current()[1]

    def document_bytes(self, root_path: str | None = None) -> tuple[bytes, str]:
        """The document as JSON bytes and its ETag; with ``root_path`` (a request's, behind a
        proxy that mounts the app under a prefix), its ``servers`` entry is that path."""
        _, doc, body, etag = self._current()
        if root_path is None or root_path == self._root_path() or self.settings.servers:
            return body, etag
        found = self._prefixed.get(root_path)
        if found is None or found[0] != etag:
            if len(self._prefixed) >= _PREFIXED:
                self._prefixed.clear()  # a bound: a proxy could send any number of prefixes
            moved = _with_servers(doc, [{"url": root_path}] if root_path else [])
            moved_body = orjson.dumps(moved)
            found = self._prefixed[root_path] = (
                etag, moved_body, '"' + hashlib.sha256(moved_body).hexdigest()[:20] + '"')
        return found[1], found[2]

    def _current(self) -> tuple[tuple[Any, ...], dict[str, Any], bytes, str]:
        fingerprint = self._fingerprint()
        cached = self._cached
        if cached is None or cached[0] != fingerprint:
            doc = build_document(self.app.routes, self.settings, self._root_path())
            try:
                body = orjson.dumps(doc)
            except TypeError as exc:  # a default or example that JSON cannot hold
                raise PluginError(f"openapi: the document is not JSON-serialisable: {exc}") from exc
            etag = '"' + hashlib.sha256(body).hexdigest()[:20] + '"'
            cached = self._cached = (fingerprint, doc, body, etag)
        return cached


#: How many other root paths keep a document of their own.
_PREFIXED = 16


def _with_servers(doc: dict[str, Any], servers: list[dict[str, str]]) -> dict[str, Any]:
    """``doc`` with ``servers`` (after ``info``, where build_document puts it; none: no member)."""
    moved: dict[str, Any] = {}
    for key, value in doc.items():
        if key == "servers":
            continue
        moved[key] = value
        if key == "info" and servers:
            moved["servers"] = servers
    return moved


def service_for(current: OpenAPIService | None, app: Any) -> OpenAPIService:
    """``current`` when it was made for ``app``, else a new service for ``app``."""
    if current is None or current.app is not app:
        return OpenAPIService(app)
    return current
