"""Who sent a request, and how, when it came through proxies: ``Forwarded`` and ``X-Forwarded-*``.

A proxy in front of the app is the peer of every connection; it says who its own client was in
``Forwarded`` (RFC 7239) or in the older ``X-Forwarded-For``, ``-Proto``, ``-Host`` and
``-Prefix``. Anyone can send those headers, so they are read only when the peer is a proxy the
configuration trusts (``forwarded_allow_ips``, a :class:`TrustedProxies`), and then only as far
as trusted proxies vouch for them:

- Each proxy *appends* the address it received the request from, so the list reads client,
  proxy 1, proxy 2, ... and only its right end was written by proxies. The client is the
  rightmost hop that is not a trusted proxy: walk from the right, skipping trusted addresses.
  Whatever a client prepends lies to the left of its own address and is never reached. When
  every hop is trusted, the leftmost is the client.
- A hop that names no usable address (a missing or malformed ``for``) ends the walk: the client
  is then ``("unknown", 0)``, never the proxy — so a client cannot pass itself off as the proxy
  by sending a header that does not parse. ``for=unknown`` and obfuscated identifiers
  (``for=_hidden``, RFC 7239 §6.3) are kept as the client's name, with port 0 unless given.
- Scheme and host come from the same hop as the client (written by the first trusted proxy it
  reached), or failing that from the nearest hop to its right that gives them. An
  ``X-Forwarded-Proto``/``-Host``/``-Prefix`` list that does not have one value per hop gives
  its last value (the nearest proxy's).
- When ``Forwarded`` is present, ``X-Forwarded-For``, ``-Proto`` and ``-Host`` are not read:
  pairing the hops of two lists written by different proxies could pair the wrong ones.
  ``X-Forwarded-Prefix`` has no ``Forwarded`` counterpart and is read either way.

Nothing here runs unless ``forwarded_allow_ips`` is set, and then only when a request's
``client``, ``scheme``, ``host``, ``url`` or ``root_path`` is first read (``request.py``).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable, Sequence

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Client = tuple[str, int]

#: The client when a trusted hop does not say who its client was.
UNKNOWN: Client = ("unknown", 0)
EXPECTED_ENTRY = "an IP address (127.0.0.1, ::1), a network (10.0.0.0/8) or '*'"

_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+\Z")  # RFC 9110 §5.6.2
# A token as RFC 7239 writes values, plus ':' and brackets, which some proxies send unquoted.
_BARE_VALUE = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z:\[\]-]+\Z")
_ESCAPE = re.compile(r"\\(.)")
_OBFUSCATED = re.compile(r"_[A-Za-z0-9._-]+\Z")  # RFC 7239 §6.3 obfnode / obfport
_PORT = re.compile(r"[0-9]{1,5}\Z")
_HOST = re.compile(r"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+)(?::[0-9]{1,5})?\Z")
# Segments never empty: a prefix starting with '//' would make a redirect's Location
# protocol-relative (another site).
_PREFIX = re.compile(r"(?:/[A-Za-z0-9._~!$&'()*+;=:@%-]+)*/?\Z")
_SCHEMES = ("http", "https")
_HEADERS = (b"forwarded", b"x-forwarded-for", b"x-forwarded-proto", b"x-forwarded-host", b"x-forwarded-prefix")
#: The proxy headers' names, lower-case (``plugin_api``: a plugin scanning ``raw_headers`` once
#: for several things learns from it whether a trusted peer's headers could matter).
PROXY_HEADERS = frozenset(_HEADERS)
_CACHE_SIZE = 1024


class TrustedProxies:
    """The ``forwarded_allow_ips`` setting: the peers whose proxy headers are believed.

    Made from addresses and networks (``"10.0.0.0/8"``, ``"::1"``), or ``"*"`` for every peer.
    ``"*"`` also trusts a peer without an address (a Unix socket) and every hop in the
    headers, so the leftmost hop is the client.
    """

    __slots__ = ("_known", "addresses", "networks", "trust_all")

    def __init__(self, addresses: Iterable[Address] = (), networks: Iterable[Network] = (),
                 trust_all: bool = False) -> None:
        self.addresses = frozenset(addresses)
        self.networks = tuple(networks)
        self.trust_all = trust_all
        self._known: dict[str, bool] = {}  # host text -> trusted (bounded; see trusts())

    @classmethod
    def parse(cls, entries: Iterable[str]) -> TrustedProxies | None:
        """The set named by ``entries``; None when there are none (trust nobody).

        ValueError, with the entry as its argument, for one that is not an address, a
        network or ``"*"``.
        """
        addresses: list[Address] = []
        networks: list[Network] = []
        trust_all = False
        for raw in entries:
            entry = raw.strip()
            if not entry:
                continue
            try:
                if entry == "*":
                    trust_all = True
                elif "/" in entry:
                    networks.append(ipaddress.ip_network(entry, strict=False))
                else:
                    addresses.append(ipaddress.ip_address(entry))
            except ValueError:
                raise ValueError(entry) from None
        if not (trust_all or addresses or networks):
            return None
        return cls(addresses, networks, trust_all)

    def trusts(self, host: str | None) -> bool:
        """Whether ``host`` (an address as text, or a name from a header) is a trusted proxy."""
        if self.trust_all:
            return True
        if host is None:
            return False
        known = self._known.get(host)
        if known is None:
            if len(self._known) >= _CACHE_SIZE:
                self._known.clear()  # headers name arbitrary hosts; keep the memo small
            known = self._known[host] = self._check(host)
        return known

    def _check(self, host: str) -> bool:
        try:
            ip: Address = ipaddress.ip_address(host)
        except ValueError:
            return False  # "unknown", an obfuscated identifier: never a proxy we know
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped  # a dual-stack socket shows an IPv4 peer as ::ffff:a.b.c.d
        return ip in self.addresses or any(ip in net for net in self.networks)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TrustedProxies):
            return NotImplemented
        return (self.trust_all, self.addresses, self.networks) == (other.trust_all, other.addresses, other.networks)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        names = ["*"] if self.trust_all else []
        names += [str(a) for a in sorted(self.addresses, key=str)] + [str(n) for n in self.networks]
        return f"TrustedProxies({names!r})"


class RequestOrigin:
    """A request as its client made it: the client's address, the scheme, host and root path."""

    __slots__ = ("client", "host", "root_path", "scheme")

    def __init__(self, client: Client | None, scheme: str, host: str, root_path: str) -> None:
        self.client = client
        self.scheme = scheme
        self.host = host
        self.root_path = root_path

    def __repr__(self) -> str:
        return f"RequestOrigin({self.client!r}, {self.scheme!r}, {self.host!r}, {self.root_path!r})"


def resolve_origin(raw_headers: Sequence[tuple[bytes, bytes]], peer: Client | None, scheme: str, host: str,
                   root_path: str, trusted: TrustedProxies) -> RequestOrigin:
    """The request's origin: the connection's own (``peer``, ``scheme``, ``host``, ``root_path``)
    unless the peer is trusted, in which case its proxy headers say (see the module's rules)."""
    if not trusted.trusts(peer[0] if peer is not None else None):
        return RequestOrigin(peer, scheme, host, root_path)
    found = _proxy_headers(raw_headers)
    if not found:  # a trusted peer that forwarded nothing (a health check, a local client)
        return RequestOrigin(peer, scheme, host, root_path)
    forwarded = found.get(b"forwarded")
    nodes: list[str | None]
    protos: list[str | None]
    hosts: list[str | None]
    if forwarded is not None:
        elements = parse_forwarded(forwarded)
        nodes = [e.get("for") if e is not None else None for e in elements]
        protos = [e.get("proto") if e is not None else None for e in elements]
        hosts = [e.get("host") if e is not None else None for e in elements]
    else:
        nodes = list(split_list(found.get(b"x-forwarded-for")))
        protos = list(split_list(found.get(b"x-forwarded-proto")))
        hosts = list(split_list(found.get(b"x-forwarded-host")))
    client, index = client_hop(nodes, trusted)
    prefixes = list(split_list(found.get(b"x-forwarded-prefix")))
    proto = pick(protos, index, len(nodes), _valid_scheme)
    prefix = pick(prefixes, index, len(nodes), _PREFIX.match)
    return RequestOrigin(
        client if index >= 0 else peer,
        proto.lower() if proto is not None else scheme,
        pick(hosts, index, len(nodes), _HOST.match) or host,
        prefix.rstrip("/") if prefix is not None else root_path,
    )


def has_proxy_headers(raw_headers: Sequence[tuple[bytes, bytes]]) -> bool:
    """Whether any proxy header (``Forwarded``, ``X-Forwarded-*``) is among ``raw_headers``."""
    for name, _ in raw_headers:
        # Every proxy header name is 9 (forwarded) or 15..18 bytes long: most names skip lower().
        size = len(name)
        if (size == 9 or 15 <= size <= 18) and name.lower() in PROXY_HEADERS:
            return True
    return False


def _proxy_headers(raw_headers: Sequence[tuple[bytes, bytes]]) -> dict[bytes, str]:
    """The proxy headers, each header's lines joined with ", " in order (RFC 9110 §5.3)."""
    found: dict[bytes, str] = {}
    for name, value in raw_headers:
        lname = name.lower()
        if lname in _HEADERS:
            text = value.decode("latin-1")
            found[lname] = f"{found[lname]}, {text}" if lname in found else text
    return found


def client_hop(nodes: Sequence[str | None], trusted: TrustedProxies) -> tuple[Client, int]:
    """The client named by a list of hops (``for`` values, leftmost first) and its index.

    The rightmost hop that is not a trusted proxy; the leftmost when all are; ``UNKNOWN`` at a
    hop that names no node. Index -1 (and ``UNKNOWN``) when there are no hops at all.
    """
    client = UNKNOWN
    for index in range(len(nodes) - 1, -1, -1):
        raw = nodes[index]
        node = parse_node(raw) if raw is not None else None
        if node is None:
            return UNKNOWN, index
        client = node
        if not trusted.trusts(node[0]):
            return client, index
    return client, 0 if nodes else -1


def pick(values: Sequence[str | None], index: int, hops: int, valid: Callable[[str], object]) -> str | None:
    """The value for the client's hop: at ``index`` when there is one value per hop (or the
    nearest valid one to its right), else the last value; None when there is none."""
    if not values:
        return None
    start = index if index >= 0 and len(values) == hops else len(values) - 1
    for value in values[start:]:
        if value is not None and valid(value):
            return value
    return None


def _valid_scheme(value: str) -> bool:
    return value.lower() in _SCHEMES


def split_list(value: str | None) -> Iterable[str]:
    """The items of a comma-separated header value (RFC 9110 §5.6.1: empty items are ignored)."""
    if not value:
        return ()
    return (item for item in (part.strip() for part in value.split(",")) if item)


def parse_forwarded(value: str) -> list[dict[str, str] | None]:
    """The elements of a ``Forwarded`` value (RFC 7239 §4), leftmost first.

    Each is a dict of its parameters (names lower-cased, quoted values unquoted), or None when
    the element does not parse (a pair without ``=``, a bad token, a parameter given twice).
    A quote left open swallows the rest of the value into one element, which then does not
    parse either.
    """
    elements: list[dict[str, str] | None] = []
    for text in _split_outside_quotes(value, ","):
        if text.strip():
            elements.append(_parse_element(text))
    return elements


def _parse_element(text: str) -> dict[str, str] | None:
    pairs: dict[str, str] = {}
    for part in _split_outside_quotes(text, ";"):
        part = part.strip()
        if not part:
            continue  # forwarded-element = [ forwarded-pair ] *( ";" [ forwarded-pair ] )
        name, eq, value = part.partition("=")
        name, value = name.strip().lower(), value.strip()
        if not eq or not _TOKEN.match(name) or name in pairs:  # §4: each parameter at most once
            return None
        if value.startswith('"'):
            inner = value[1:-1]
            unescaped = _ESCAPE.sub("", inner)  # what is left may hold no quote, end in no backslash
            if len(value) < 2 or not value.endswith('"') or '"' in unescaped or unescaped.endswith("\\"):
                return None
            value = _ESCAPE.sub(r"\1", inner)
        elif not _BARE_VALUE.match(value):
            return None
        pairs[name] = value
    return pairs


def _split_outside_quotes(text: str, separator: str) -> list[str]:
    """``text`` split at ``separator`` where it is not inside a quoted string (RFC 9110 §5.6.4)."""
    if '"' not in text:
        return text.split(separator)
    parts: list[str] = []
    start, quoted, escaped = 0, False, False
    for i, char in enumerate(text):
        if escaped:
            escaped = False
        elif quoted and char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == separator and not quoted:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return parts


def parse_node(text: str) -> Client | None:
    """A hop's ``(host, port)``, or None when ``text`` is not a node (RFC 7239 §6).

    Accepts ``192.0.2.1``, ``192.0.2.1:8080``, ``[2001:db8::1]``, ``[2001:db8::1]:8080``, a bare
    ``2001:db8::1`` (as ``X-Forwarded-For`` writes it), ``unknown`` and obfuscated identifiers
    (``_hidden``, ``_hidden:_port``). Addresses come back in their canonical text; the port is 0
    when absent or obfuscated.
    """
    text = text.strip()
    if text.startswith("["):
        end = text.find("]")
        host, rest = text[1:end], text[end + 1:]
        if end < 0 or (rest and not rest.startswith(":")) or ":" not in host:
            return None
        port_text = rest[1:] if rest else None
    elif text.count(":") > 1:
        host, port_text = text, None
    else:
        host, colon, port_part = text.partition(":")
        port_text = port_part if colon else None
    port = _parse_port(port_text)
    if port is None:
        return None
    if host.lower() == "unknown":
        return "unknown", port
    if _OBFUSCATED.match(host):
        return host, port
    try:
        return str(ipaddress.ip_address(host)), port
    except ValueError:
        return None


def _parse_port(text: str | None) -> int | None:
    """0 for no port or an obfuscated one; None for one that is neither a number nor obfuscated."""
    if text is None or _OBFUSCATED.match(text):
        return 0
    if _PORT.match(text) and int(text) <= 65535:
        return int(text)
    return None
