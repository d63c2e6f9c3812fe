"""Which cached entries an answer to an unsafe request makes stale (RFC 9111 §4.4).

A ``POST``, ``PUT``, ``PATCH`` or ``DELETE`` that succeeds changes the resource at its target
URI, so a cache "MUST invalidate the target URI" — and "MAY invalidate" the URIs in the
``Location`` and ``Content-Location`` of the answer, but only when they have the same origin:
otherwise one site could empty another's entries. "Unsafe" is every method but ``GET``,
``HEAD``, ``OPTIONS`` and ``TRACE`` (methods of unknown safety included), and "succeeds" is a
2xx or 3xx status.

The keys returned here have no origin part, so invalidating them removes the entries of
every host the path was cached for (see ``keys.py``): a resource changed under one host name
is stale under the others too, and removing too much costs misses, never a wrong answer.

Only routes whose path can match a path a cached ``GET`` route also matches, or is a parent
or a child of one, need to see these answers; :class:`CachedPaths` decides that at startup, so
every other route keeps the plugin out of its hot chains.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING
from urllib.parse import unquote, urljoin, urlsplit

from .keys import normalize_authority, path_key

if TYPE_CHECKING:
    from areion_core import HttpRequest, HttpResponse, Route

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
_REFERENCES = ("location", "content-location")


def invalidates(request: HttpRequest, response: HttpResponse) -> bool:
    """Whether ``response`` to ``request`` makes cached entries stale: unsafe and 2xx/3xx."""
    return request.method not in SAFE_METHODS and 200 <= response.status_code < 400


def stale_keys(request: HttpRequest, response: HttpResponse, cached: CachedPaths) -> list[str]:
    """The keys (without origin) of the target URI and of same-origin references that a
    cached route can have entries for."""
    keys = [path_key(request.path, request.query_string)] if cached.match(request.path) else []
    headers = response.headers
    for name in _REFERENCES:
        value = headers.get(name)
        if value:
            target = same_origin_target(request, value)
            if target is not None and cached.match(target[0]):
                key = path_key(*target)
                if key not in keys:
                    keys.append(key)
    return keys


def same_origin_target(request: HttpRequest, reference: str) -> tuple[str, str] | None:
    """The decoded path and the query of ``reference`` (absolute or relative to the request)
    if it is in this app.

    ``None`` for another scheme, host or port, for text that is not a URI reference, and for a
    path outside the app's root path (it is not one of this app's keys).
    """
    try:
        parts = urlsplit(urljoin(request.url, reference.strip()))
        scheme = parts.scheme.lower()
        if "@" in parts.netloc or scheme != request.scheme:
            return None
        if normalize_authority(scheme, parts.netloc) != normalize_authority(scheme, request.host):
            return None
        path = parts.path or "/"
        root = request.root_path
        if root:
            if path != root and not path.startswith(root + "/"):
                return None
            path = path[len(root):] or "/"
        return unquote(path, errors="strict"), parts.query
    except ValueError:  # urlsplit on a bad port or IPv6 literal; UnicodeDecodeError
        return None


def _segments(path: str) -> list[str]:
    return [s for s in path.split("/") if s]


def _is_param(segment: str) -> bool:
    return segment.startswith("{") and segment.endswith("}")


class CachedPaths:
    """The path patterns of the routes whose GET answers are cached.

    Decides, once all routes are known, which unsafe routes need to see their answers
    (:meth:`related`), and, per answer, which of its URIs can have entries at all
    (:meth:`match`), so that an answer naming only uncached paths costs no invalidation.
    """

    def __init__(self, routes: Iterable[Route]) -> None:
        self.patterns = [(_segments(route.path), route.catch_all) for route in routes]

    def match(self, path: str) -> bool:
        """Whether a cached route's pattern matches the (decoded) request path ``path``."""
        segments = _segments(path)
        for pattern, catch_all in self.patterns:
            # A catch-all takes the rest of the path, which may be empty.
            fits = len(segments) == len(pattern) or (catch_all and len(segments) >= len(pattern) - 1)
            if fits and all(p == s or _is_param(p) for p, s in zip(pattern, segments, strict=False)):
                return True
        return False

    def related(self, route: Route) -> bool:
        """Whether an unsafe answer on ``route`` can make a cached entry stale.

        Its path can match a path a cached route matches (``/users/{id}`` and ``/users/me``
        share ``/users/me``), or one of the two patterns is a parent of the other
        (``POST /users`` answers ``201`` with ``Location: /users/7``). The root ``/`` counts as
        no one's parent, so that caching the home page does not bring in every unsafe route.
        Errs towards yes: a route that sees answers it need not costs a call; one that misses
        them leaves entries stale.
        """
        mine = _segments(route.path)
        for theirs, catch_all in self.patterns:
            if not all(a == b or _is_param(a) or _is_param(b)
                       for a, b in zip(mine, theirs, strict=False)):
                continue
            shorter = min(len(mine), len(theirs))
            if len(mine) == len(theirs) or shorter > 0:
                return True
            if (catch_all and not theirs[:-1]) or (route.catch_all and not mine[:-1]):
                return True
        return False
