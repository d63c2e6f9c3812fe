"""Cache keys: which requests may share a stored response.

A key is ``GET:`` (GET and HEAD share; nothing else is cached), the path, the query string
with its parameters sorted by name — ``?b=2&a=1`` and ``?a=1&b=2`` are one entry, ``?a=1``
and ``?a=2`` are two — and then ``#@`` and the request's origin: scheme, authority and root
path, as the handler sees them (``request.scheme``, ``request.host``, ``request.root_path``:
after trusted-proxy handling). RFC 9111 §2 keys a response on its target URI; a response
built for ``Host: evil.example`` (an absolute link in it, say) must never be served to a
client of another host. A response that varies on request headers is stored under that key
plus ``#vary:`` and the value of each such header, reduced by the app's vary normalizer
where one exists (``accept-encoding`` → the encoding that would be chosen), so a client only
ever gets a variant made for a request like its own.

``#`` separates the parts, so no part may hold one of its own: the (decoded) path has ``%``,
``?`` and ``#`` percent-encoded (and ``{``, ``}``: no key a request gets holds a brace, so a
store can use ``{key}`` as a Redis Cluster hash tag), the query is re-encoded, and the origin
is percent-encoded (``/`` in the host too). Each part is then read back unambiguously, and no request can forge
another path's, another origin's or another variant's key (``/a%3Fb`` is not ``/a?b``;
``/a%23vary:...`` is not a variant of ``/a``).

The origin comes last so that a key written without one — ``invalidate("/users")``, a
prefix — is the start of the keys of every origin: invalidation by path reaches every host.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from functools import lru_cache
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, quote, unquote, urlencode

from areion_core.plugin_api import has_proxy_headers, raw_header_values

if TYPE_CHECKING:
    from areion_core import HttpRequest

METHOD_CLASS = "GET:"
#: Starts the origin part of a key (``GET:/p?q=1#@https://example.com``).
ORIGIN_MARK = "#@"
VARY_MARK = "#vary:"
#: Starts every suffix of a key's path and query (origin, ``Vary`` values).
SUFFIX_MARK = "#"
DEFAULT_PORTS = {"http": "80", "https": "443"}
#: Longest path plus query (characters) whose key is memoised.
MEMO_LIMIT = 512
# Characters left as they are in the host and the root path of a key's origin. Not "%" (so an
# escape in the text is not read as one), "#" (the separator), "/" in the host (where the
# root path begins) or "?".
_HOST_SAFE = "!$&'()*+,;=:[]-._~"
_ROOT_SAFE = _HOST_SAFE + "/@"
#: Pseudo-header that keeps requests with credentials apart from anonymous ones.
CREDENTIALS = "@credentials"

Normalizer = Callable[["HttpRequest"], str]


def normalize_query(query_string: str) -> str:
    """Sort parameters by name (keeping the order of repeated names) and re-encode them."""
    if len(query_string) <= MEMO_LIMIT:
        return _normalize_query_memo(query_string)
    return _normalize_query(query_string)


def _normalize_query(query_string: str) -> str:
    try:
        pairs = parse_qsl(query_string, keep_blank_values=True, errors="strict")
    except (UnicodeDecodeError, ValueError):
        # The handler will reject it; keep the raw text so it can never alias another query
        # (with "#" escaped: the raw text must not end the query part either).
        return "!" + query_string.replace("%", "%25").replace("#", "%23")
    pairs.sort(key=lambda kv: kv[0])
    return urlencode(pairs, quote_via=quote)


# Memoised for short text only: a client can send any number of distinct URLs up to the
# server's limit (8 KiB), and 4096 of those should not hold tens of megabytes.
_normalize_query_memo = lru_cache(maxsize=4096)(_normalize_query)


def escape_path(path: str) -> str:
    """A decoded path as it appears in keys: ``%``, ``?``, ``#``, ``{`` and ``}`` percent-encoded.

    The braces too, so that no key a request gets holds one: a store may then wrap a key in
    ``{...}`` as a Redis Cluster hash tag (the query and the origin are escaped already).
    """
    if "%" in path or "?" in path or "#" in path or "{" in path or "}" in path:
        return (path.replace("%", "%25").replace("?", "%3F").replace("#", "%23")
                .replace("{", "%7B").replace("}", "%7D"))
    return path


def normalize_authority(scheme: str, host: str) -> str:
    """``host`` lower-cased, without the scheme's default port (RFC 3986 §6.2.2-3).

    ``Example.COM:80`` over http is ``example.com``; ``example.com:8080`` keeps its port. Text
    that is not ``name[:port]`` or ``[v6]:port`` is left as it is (but lower-cased): it can
    only ever share an entry with the very same text.
    """
    host = host.lower()
    name, colon, port = host.rpartition(":")
    if not colon or not (port == "" or (port.isascii() and port.isdigit())):
        return host
    if ":" in name and not (name.startswith("[") and name.endswith("]")):
        return host  # an unbracketed IPv6 address: its last group is not a port
    port = str(int(port)) if port else ""
    if port in ("", DEFAULT_PORTS.get(scheme)):
        return name
    return f"{name}:{port}"


def origin_text(scheme: str, host: str, root_path: str = "") -> str:
    """The origin part of a key: ``scheme://authority/root`` normalised and escaped."""
    if len(host) + len(root_path) <= MEMO_LIMIT:
        return _origin_text_memo(scheme, host, root_path)
    return _origin_text(scheme, host, root_path)


def _origin_text(scheme: str, host: str, root_path: str) -> str:
    scheme = scheme.lower()
    authority = quote(normalize_authority(scheme, host), safe=_HOST_SAFE)
    return f"{ORIGIN_MARK}{scheme}://{authority}{quote(root_path, safe=_ROOT_SAFE)}"


_origin_text_memo = lru_cache(maxsize=1024)(_origin_text)


def base_key(request: HttpRequest, custom: Callable[[HttpRequest], str] | None = None) -> str:
    """The key of a request before any ``Vary``: method class, path, query, origin.

    The origin is ``request.scheme``, ``.host`` and ``.root_path``: exactly what the handler
    sees of them. When they are the connection's own — no ``forwarded_allow_ips``, or a request
    with no proxy header, or from a peer not trusted — they are read here directly: the
    connection's scheme, the ``Host`` from the raw pairs (as ``has_credentials`` reads its
    headers) and the app's root path; a cache hit should not build the request's header index
    or work out a forwarded origin for it. ``test_keys.py`` and ``test_poisoning.py`` hold the
    two ways equal. A route's own ``key`` function replaces all three parts (origin included:
    a function that keys on something else, a tenant say, decides what shares an entry).
    """
    key = lookup_key(request, custom, True)
    assert key is not None  # credentials allowed: always a key
    return key


def lookup_key(request: HttpRequest, custom: Callable[[HttpRequest], str] | None,
               allow_credentials: bool) -> str | None:
    """``base_key(request, custom)``, or None when ``request`` carries credentials
    (``has_credentials``) and ``allow_credentials`` is False — the headers it needs found in
    one pass over the raw pairs (``raw_header_values``, a loop in C)."""
    raw = request.raw_headers
    # One pass over the raw pairs, in C: a hit builds no header index.
    host, authorization, cookie = raw_header_values(raw, _KEY_HEADERS)
    if not allow_credentials and (authorization is not None or cookie is not None):
        return None
    if custom is not None:
        return METHOD_CLASS + str(custom(request))
    app = request.app
    origin_host: str | bytes
    if app is not None and app.config.forwarded_allow_ips is not None and has_proxy_headers(raw):
        # A proxy header, read only if the peer is trusted (request.py decides that).
        scheme, origin_host, root_path = request.scheme, request.host, request.root_path
    else:
        # What request.scheme, .host and .root_path are then, without their lookups.
        conn = request.conn
        scheme = "https" if conn is not None and conn.tls else "http"
        origin_host = b"" if host is None else host
        root_path = "" if app is None else app.root_path
    # Memoised whole (one lookup on a hit, not a decode, an escape and a query sort), for
    # URLs and hosts of ordinary length (the root path is the app's or a checked prefix).
    parts = (request.raw_path, request.query_string, scheme, origin_host, root_path)
    key = _KEYS.get(parts)
    if key is None:
        key = _key(*parts)
        if len(parts[0]) + len(parts[1]) + len(origin_host) <= MEMO_LIMIT:
            if len(_KEYS) >= _KEYS_SIZE:
                _KEYS.clear()  # bounded: a client can send any number of distinct URLs
            _KEYS[parts] = key
    return key


def _key(raw_path: str, query: str, scheme: str, host: str | bytes, root_path: str) -> str:
    # The path decoded as request.path decodes it (a path that does not decode raises, as
    # reading request.path would, and is not memoised).
    path = unquote(raw_path, errors="strict") if "%" in raw_path else raw_path
    if isinstance(host, bytes):
        host = host.decode("latin-1")
    return path_key(path, query) + origin_text(scheme, host, root_path)


#: (raw path, query, scheme, host, root path) → key, for keys of ordinary length; bounded.
_KEYS: dict[tuple[str, str, str, str | bytes, str], str] = {}
_KEYS_SIZE = 4096


def path_key(path: str, query: str = "") -> str:
    """The key of a decoded path and a query as a request for it is keyed, without origin."""
    escaped = escape_path(path)
    return f"{METHOD_CLASS}{escaped}?{normalize_query(query)}" if query else METHOD_CLASS + escaped


def user_key(key: str) -> str:
    """The store key for a key as users write it (``/users?page=2`` → ``GET:/users?page=2``)."""
    return key if key.startswith(METHOD_CLASS) else METHOD_CLASS + key


def user_keys(key: str, *, prefix: bool = False) -> tuple[str, ...]:
    """The store keys (or prefixes) a key written by a user may mean, without origin: one or two.

    The text as written (what a route's ``key`` function returned, or a key copied from the
    store), and, for a path, the key a request for it gets: its path decoded (``%20`` and a
    space are one) and escaped as keys escape it, its query sorted and re-encoded (a
    ``prefix``'s query is kept as written: it may be cut anywhere).
    """
    literal = user_key(key)
    text = literal[len(METHOD_CLASS):]
    if not text.startswith("/") or SUFFIX_MARK in text:
        return (literal,)
    path, question, query = text.partition("?")
    if prefix:
        canonical = METHOD_CLASS + escape_path(unquote(path)) + question + query
    else:
        canonical = path_key(unquote(path), query)
    return (literal,) if canonical == literal else (literal, canonical)


_CREDENTIAL_HEADERS = (b"authorization", b"cookie")
#: What a key needs of the raw headers: the origin's host, and the credentials.
_KEY_HEADERS = (b"host", *_CREDENTIAL_HEADERS)


def has_credentials(request: HttpRequest) -> bool:
    """Whether the request carries ``Authorization`` or ``Cookie``.

    Reads the raw pairs rather than the parsed headers: most requests never need their
    header index built, and a cache hit should not build it just for this.
    """
    authorization, cookie = raw_header_values(request.raw_headers, _CREDENTIAL_HEADERS)
    return authorization is not None or cookie is not None


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
