"""Reading a Redis URL into its parts: one parser for every form the settings accept.

redis-py's ``from_url`` knows ``redis://``, ``rediss://`` and ``unix://`` only, and it takes
one host; Sentinel and Cluster need a list of addresses. So every form is parsed here, into
the same ``ParsedUrl``, and the client is built from parts whatever the form was.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import parse_qsl, unquote

Mode = Literal["standalone", "sentinel", "cluster"]
Address = tuple[str, int]

#: scheme -> (mode, TLS)
SCHEMES: dict[str, tuple[Mode, bool]] = {
    "redis": ("standalone", False),
    "rediss": ("standalone", True),
    "unix": ("standalone", False),
    "redis+sentinel": ("sentinel", False),
    "rediss+sentinel": ("sentinel", True),
    "redis+cluster": ("cluster", False),
    "rediss+cluster": ("cluster", True),
}
DEFAULT_PORTS: dict[Mode, int] = {"standalone": 6379, "sentinel": 26379, "cluster": 6379}

_ADDRESS = re.compile(r"(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<host>[^\s:/\[\]@,]+))(?::(?P<port>\d+))?")
_CREDENTIALS = re.compile(r"(//[^/@:]*:)[^/@]*@")


class UrlError(ValueError):
    """A URL that is not one of the accepted forms; the message says what was expected."""


@dataclass(frozen=True)
class ParsedUrl:
    """What a Redis URL says: the mode, where to connect and who to be."""

    mode: Mode
    tls: bool = False
    addresses: tuple[Address, ...] = ()
    path: str | None = None
    db: int = 0
    service: str = ""
    username: str | None = None
    password: str | None = field(default=None, repr=False)


def redact(url: str) -> str:
    """``url`` with its password replaced by ``***``, for error messages and logs."""
    return _CREDENTIALS.sub(r"\1***@", url)


def parse_address(text: str, default_port: int) -> Address:
    """``host[:port]`` or ``[v6]:port`` as ``(host, port)``."""
    match = _ADDRESS.fullmatch(text.strip())
    if match is None:
        raise UrlError(f"host[:port], not {text!r}")
    host = match.group("v6") or match.group("host")
    port = int(match.group("port")) if match.group("port") else default_port
    if not 0 < port < 65536:
        raise UrlError(f"a port from 1 to 65535, not {port}")
    return host, port


def _db(text: str) -> int:
    if not text.isdigit():
        raise UrlError(f"a database number (a whole number >= 0), not {text!r}")
    return int(text)


def parse_url(url: str) -> ParsedUrl:
    """Parse one of the accepted URL forms (``SCHEMES``); raises ``UrlError`` saying what is wrong."""
    scheme, sep, rest = url.partition("://")
    scheme = scheme.lower()
    if not sep or scheme not in SCHEMES:
        raise UrlError(f"a URL starting with one of {', '.join(s + '://' for s in SCHEMES)}")
    mode, tls = SCHEMES[scheme]
    rest, _, fragment = rest.partition("#")
    rest, _, query_text = rest.partition("?")
    if fragment:
        raise UrlError("no #fragment")
    netloc, slash, path = rest.partition("/")
    path = slash + path
    userinfo, at, hosts = netloc.rpartition("@")
    username = password = None
    if at:
        user, colon, secret = userinfo.partition(":")
        username = unquote(user) or None
        password = unquote(secret) if colon else None
    query = dict(parse_qsl(query_text, keep_blank_values=True))
    unknown = sorted(set(query) - {"db"})
    if unknown:
        raise UrlError(f"no query parameter but db (got {', '.join(unknown)})")
    if mode == "sentinel" and "db" in query:
        raise UrlError("the database in the path (/<service>/<db>), not in ?db=")
    db = _db(query["db"]) if "db" in query else 0

    if scheme == "unix":
        if hosts or not path.strip("/"):
            raise UrlError("unix:///absolute/path/to/redis.sock[?db=N]")
        return ParsedUrl(mode, tls, path=unquote(path), db=db, username=username, password=password)

    if not hosts:
        raise UrlError("at least one host in the URL")
    addresses = tuple(parse_address(h, DEFAULT_PORTS[mode]) for h in hosts.split(","))
    parts = [unquote(p) for p in path.split("/")[1:]] if path else []
    if parts and parts[-1] == "":
        parts.pop()  # a trailing slash
    if mode == "standalone":
        if len(addresses) != 1:
            raise UrlError("one host (a list of hosts is for redis+sentinel:// or redis+cluster://)")
        if len(parts) > 1 or (parts and "db" in query):
            raise UrlError(f"{scheme}://[user:pass@]host[:port][/db]")
        if parts:
            db = _db(parts[0])
        return ParsedUrl(mode, tls, addresses, db=db, username=username, password=password)
    if mode == "sentinel":
        if not parts or not parts[0] or len(parts) > 2:
            raise UrlError(f"{scheme}://[user:pass@]host:port[,host:port...]/<service>[/<db>]")
        db = _db(parts[1]) if len(parts) == 2 else 0
        return ParsedUrl(mode, tls, addresses, db=db, service=parts[0], username=username, password=password)
    if (parts and parts != ["0"]) or db:
        raise UrlError("no database in a cluster URL (a Redis Cluster has only database 0)")
    return ParsedUrl(mode, tls, addresses, username=username, password=password)
