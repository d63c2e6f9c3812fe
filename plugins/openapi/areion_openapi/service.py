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

    def _root_path(self) -> str:
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

    def document_bytes(self) -> tuple[bytes, str]:
        """The document as JSON bytes and its ETag."""
        _, _, body, etag = self._current()
        return body, etag

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


def service_for(current: OpenAPIService | None, app: Any) -> OpenAPIService:
    """``current`` when it was made for ``app``, else a new service for ``app``."""
    if current is None or current.app is not app:
        return OpenAPIService(app)
    return current
