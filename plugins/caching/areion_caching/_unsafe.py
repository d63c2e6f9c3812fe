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

Only routes whose path can match a path a cached ``GET`` route also matches need to see
these answers; :func:`routes_overlap` decides that at startup, so every other route keeps
the plugin out of its hot chains.
"""

from __future__ import annotations

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


def stale_keys(request: HttpRequest, response: HttpResponse) -> list[str]:
    """The keys (without origin) of the target URI and of same-origin references."""
    keys = [path_key(request.path, request.query_string)]
    headers = response.headers
    for name in _REFERENCES:
        value = headers.get(name)
        if value:
            key = same_origin_key(request, value)
            if key is not None and key not in keys:
                keys.append(key)
    return keys


def same_origin_key(request: HttpRequest, reference: str) -> str | None:
    """The key of ``reference`` (absolute or relative to the request) if it is in this app.

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
        return path_key(unquote(path, errors="strict"), parts.query)
    except ValueError:  # urlsplit on a bad port or IPv6 literal; UnicodeDecodeError
        return None


def _segments(path: str) -> list[str]:
    return [s for s in path.split("/") if s]


def _is_param(segment: str) -> bool:
    return segment.startswith("{") and segment.endswith("}")


def routes_overlap(a: Route, b: Route) -> bool:
    """Whether some request path could match both route patterns (``/users/{id}`` and
    ``/users/me`` do; ``/users`` and ``/posts`` do not). Errs towards yes: a route that
    sees unsafe answers it need not costs a call; one that misses them leaves entries stale.
    """
    sa, sb = _segments(a.path), _segments(b.path)
    for x, y in zip(sa, sb, strict=False):
        if x != y and not _is_param(x) and not _is_param(y):
            return False
    if len(sa) == len(sb):
        return True
    shorter, longer = (a, b) if len(sa) < len(sb) else (b, a)
    # A shorter pattern ending in a catch-all takes the rest; a longer one whose only extra
    # segment is a catch-all may take an empty rest.
    return shorter.catch_all or (longer.catch_all and abs(len(sa) - len(sb)) == 1)
