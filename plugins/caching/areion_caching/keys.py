"""Cache keys: which requests may share a stored response.

A key is ``GET:`` (GET and HEAD share; nothing else is cached), the path, and the query
string with its parameters sorted by name — ``?b=2&a=1`` and ``?a=1&b=2`` are one entry,
``?a=1`` and ``?a=2`` are two. A response that varies on request headers is stored under
that key plus ``#vary:`` and the value of each such header, reduced by the app's vary
normalizer where one exists (``accept-encoding`` → the encoding that would be chosen), so
a client only ever gets a variant made for a request like its own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from functools import lru_cache
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, quote, urlencode

if TYPE_CHECKING:
    from areion_core import HttpRequest

METHOD_CLASS = "GET:"
VARY_MARK = "#vary:"
#: Pseudo-header that keeps requests with credentials apart from anonymous ones.
CREDENTIALS = "@credentials"

Normalizer = Callable[["HttpRequest"], str]


@lru_cache(maxsize=4096)
def normalize_query(query_string: str) -> str:
    """Sort parameters by name (keeping the order of repeated names) and re-encode them."""
    try:
        pairs = parse_qsl(query_string, keep_blank_values=True, errors="strict")
    except (UnicodeDecodeError, ValueError):
        # The handler will reject it; keep the raw text so it can never alias another query.
        return "!" + query_string
    pairs.sort(key=lambda kv: kv[0])
    return urlencode(pairs, quote_via=quote)


def base_key(request: HttpRequest, custom: Callable[[HttpRequest], str] | None = None) -> str:
    """The key of a request before any ``Vary``: method class, path, normalised query."""
    if custom is not None:
        return METHOD_CLASS + str(custom(request))
    qs = request.query_string
    if qs:
        return f"{METHOD_CLASS}{request.path}?{normalize_query(qs)}"
    return METHOD_CLASS + request.path


def user_key(key: str) -> str:
    """The store key for a key as users write it (``/users?page=2`` → ``GET:/users?page=2``)."""
    return key if key.startswith(METHOD_CLASS) else METHOD_CLASS + key


_CREDENTIAL_HEADERS = (b"authorization", b"cookie")


def has_credentials(request: HttpRequest) -> bool:
    """Whether the request carries ``Authorization`` or ``Cookie``.

    Reads the raw pairs rather than the parsed headers: most requests never need their
    header index built, and a cache hit should not build it just for this.
    """
    for name, _ in request.raw_headers:
        if (len(name) == 6 or len(name) == 13) and name.lower() in _CREDENTIAL_HEADERS:
            return True
    return False


def parse_vary(value: str | None) -> tuple[str, ...] | None:
    """Header names in a ``Vary`` value, lower-cased; ``None`` for ``Vary: *`` (never shareable)."""
    if not value:
        return ()
    names = []
    for part in value.split(","):
        name = part.strip().lower()
        if name == "*":
            return None
        if name:
            names.append(name)
    return tuple(names)


def header_value(request: HttpRequest, name: str, normalizers: Mapping[str, Normalizer]) -> str:
    """What of header ``name`` selects a variant: the normaliser's answer, or its values."""
    if name == CREDENTIALS:
        return "1" if has_credentials(request) else "0"
    normalize = normalizers.get(name)
    if normalize is not None:
        return str(normalize(request))
    values = request.headers.get_all(name)
    # Whitespace around list items does not change meaning (RFC 9110 §5.6.1).
    return ",".join(" ".join(v.split()) for v in values)


def variant_key(
    base: str, request: HttpRequest, names: Iterable[str], normalizers: Mapping[str, Normalizer]
) -> str:
    """``base`` plus the selecting value of each header in ``names`` (already sorted)."""
    parts = [f"{name}={quote(header_value(request, name, normalizers), safe='')}" for name in names]
    return base + VARY_MARK + "&".join(parts)
