"""Headers: read-only request headers, validated response headers, and the encoded response head.

This module is the one place a response's head becomes bytes: the status line, each header
line (validated when set, encoded once and cached when it repeats), the Set-Cookie lines and
the framing lines the server adds.
"""

from __future__ import annotations

import re
import string
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from http import HTTPStatus
from importlib.machinery import EXTENSION_SUFFIXES
from typing import Any, Protocol

from ._status import status_phrase

_perf_counter_ns = time.perf_counter_ns

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# Field values: visible latin-1 and SP/HTAB only (RFC 9110 §5.5); CR, LF and NUL never pass.
_BAD_VALUE = re.compile(r"[^\t\x20-\x7e\x80-\xff]")
# Names seen valid before, and their lower-case form (response headers repeat a few names).
_LOWER: dict[str, str] = {}
_CACHE_LIMIT = 4096


def _checked_lower(name: str) -> str:
    """``name`` lower-cased, after checking it is a token (cached)."""
    lower = _LOWER.get(name)
    if lower is None:
        if not isinstance(name, str) or _TOKEN.fullmatch(name) is None:
            raise ValueError(f"invalid response header name {name!r}")
        lower = name.lower()
        if len(_LOWER) < _CACHE_LIMIT:
            _LOWER[name] = lower
    return lower


def _check_value(name: str, value: str) -> None:
    # Printable ASCII (the usual case) is decided in C; anything else goes through the pattern.
    if not (value.isascii() and value.isprintable()) and _BAD_VALUE.search(value) is not None:
        raise ValueError(
            f"invalid character in response header {name!r}: {value!r} "
            "(CR, LF, NUL and other control characters are not allowed)"
        )


def _visible_ascii(text: str) -> bool:
    """Whether ``text`` is printable ASCII (SP to "~"), the usual header value: where this
    module is compiled, a loop over the string's bytes in C (headers.pxd), a fraction of what
    ``isascii()`` and ``isprintable()`` cost."""
    if _COMPILED:
        return _areion_visible_ascii(text)  # type: ignore[name-defined,no-any-return]  # noqa: F821
    for ch in text:  # noqa: SIM110 (a loop Cython turns into C; all() would be a generator)
        if ch < " " or ch > "~":
            return False
    return True


def raw_header(raw: list[tuple[bytes, bytes]], name: bytes) -> bytes | None:
    """The first value of the header ``name`` (lower-case bytes) among a request's raw pairs
    (``request.raw_headers``), or None: one lookup without building ``request.headers``, for
    plugins' hot paths (a loop in C where this module is compiled)."""
    size = len(name)
    for pair in raw:
        key = pair[0]
        if len(key) == size and (key == name or key.lower() == name):
            return pair[1]
    return None


def raw_header_values(raw: list[tuple[bytes, bytes]], names: tuple[bytes, ...]) -> tuple[bytes | None, ...]:
    """The first value of each header of ``names`` (lower-case bytes) among a request's raw
    pairs, None for a name not there, in one pass: ``host, cookie = raw_header_values(raw,
    (b"host", b"cookie"))``. Where this module is compiled, the pass and the name comparisons
    (ASCII letters in any case) are C loops that allocate nothing but the tuple."""
    if _COMPILED:
        return _areion_header_values(raw, names)  # type: ignore[name-defined,no-any-return]  # noqa: F821
    for name in names:
        if not isinstance(name, bytes):
            raise TypeError("raw_header_values: each name must be bytes")
    found: list[bytes | None] = [None] * len(names)
    for pair in raw:
        if not (isinstance(pair, tuple) and len(pair) == 2 and isinstance(pair[0], bytes)):
            raise TypeError("raw_header_values: each raw pair must be (bytes, bytes)")
        key, value = pair
        for i, name in enumerate(names):
            if found[i] is None and len(name) == len(key) and (key == name or key.lower() == name):
                found[i] = value
    return tuple(found)


#: ".000" to ".999" (a millisecond's microseconds) and "0" to "999" (whole milliseconds):
#: looked up rather than formatted, for ``elapsed_ms``.
_FRACTION_MS = tuple(f".{us:03d}" for us in range(1000))
_WHOLE_MS = tuple(str(ms) for ms in range(1000))


def elapsed_ms(received_ns: int) -> str:
    """The milliseconds since ``received_ns`` (a ``time.perf_counter_ns()`` reading: a request's
    ``received_ns``), to the microsecond, as text: ``"0.114"``, ``"1532.007"`` — a duration
    for a timing header (``Server-Timing``'s ``dur``, ``X-Response-Time``). One call, with the
    clock read and the digits in C where this module is compiled; a reading from the future
    (another clock) counts as 0."""
    if _COMPILED:
        # The clock, the arithmetic and the digits in C (headers.pxd), for an int that fits
        # 64 bits (any perf_counter_ns reading); None for anything else, done below.
        text = _areion_elapsed_ms(received_ns)  # type: ignore[name-defined]  # noqa: F821
        if text is not None:
            return text  # type: ignore[no-any-return]
    us = (_perf_counter_ns() - received_ns + 500) // 1000
    if us < 0:
        us = 0
    whole = us // 1000
    if whole < 1000:
        return _WHOLE_MS[whole] + _FRACTION_MS[us - whole * 1000]
    return f"{whole}{_FRACTION_MS[us - whole * 1000]}"


def check_header(name: str, value: str) -> None:
    """Raise ``ValueError`` unless ``name`` is a token and ``value`` holds no CR, LF, NUL or controls."""
    _checked_lower(name)
    _check_value(name, value)


# Names a response header may be set under (valid tokens, not Set-Cookie), to their lower-case
# form and the "Name: " a line added after an encoded block starts with: MutableHeaders.__setitem__'s
# one lookup for a name seen before.
_SETTABLE: dict[str, tuple[str, str]] = {}


def _settable(name: str) -> tuple[str, str]:
    """``name`` lower-cased, after checking it is a token a response header may use, and its
    line's ``"Name: "`` (``""`` for a framing header, never taken from a block); cached."""
    lower = _checked_lower(name)
    if lower == "set-cookie":
        raise ValueError("use HttpResponse.set_cookie() / .cookies for Set-Cookie")
    known = (lower, "" if lower in FRAMING else canonical_name(lower).decode("latin-1") + ": ")
    if len(_SETTABLE) < _CACHE_LIMIT:
        _SETTABLE[name] = known
    return known


def _checked_value(name: str, value: object) -> str:
    """``value`` as a string (``str(value)`` for a non-string), after the field-value check."""
    text = value if isinstance(value, str) else str(value)
    if not (text.isascii() and text.isprintable()):
        _check_value(name, text)
    return text


# --- encoding: this module is the one place header lines become bytes -------------------

_SPECIAL_CASE = {
    "etag": "ETag", "www-authenticate": "WWW-Authenticate", "content-md5": "Content-MD5",
    "x-xss-protection": "X-XSS-Protection", "te": "TE", "dnt": "DNT", "x-request-id": "X-Request-ID",
}
_CANONICAL: dict[str, bytes] = {}
# Encoded lines of (name, value) pairs seen twice or more: most responses repeat a few.
_LINES: dict[tuple[str, str], bytes] = {}
#: Framing headers are the server's to write, never taken from a response's headers.
FRAMING = frozenset({"content-length", "transfer-encoding", "connection"})


def canonical_name(lower: str) -> bytes:
    """``content-type`` → ``b"Content-Type"`` (cached; names are validated tokens already)."""
    name = _CANONICAL.get(lower)
    if name is None:
        text = _SPECIAL_CASE.get(lower) or "-".join(p[:1].upper() + p[1:] for p in lower.split("-"))
        name = text.encode("latin-1")
        if len(_CANONICAL) < _CACHE_LIMIT:
            _CANONICAL[lower] = name
    return name


# Pairs encoded once, not (yet) in _LINES: a line is cached the second time it is encoded, so
# one-off values (request ids, durations, ETags of a one-off body) never take a place in _LINES
# and the lines that repeat keep finding room. Emptied when full: it only needs to remember
# pairs long enough to see the ones that come back.
_ONCE: set[tuple[str, str]] = set()


def _encoded_line(item: tuple[str, str]) -> bytes:
    """The ``Name: value`` line of a pair missing from ``_LINES``, cached if it was seen before."""
    name, value = item
    line = canonical_name(name) + b": " + value.encode("latin-1") + b"\r\n"
    if len(value) < 128:
        once = _ONCE
        if item in once:
            once.discard(item)
            if len(_LINES) < _CACHE_LIMIT:
                _LINES[item] = line
        else:
            if len(once) >= _CACHE_LIMIT:
                once.clear()
            once.add(item)
    return line


def encode_lines(headers: Mapping[str, str]) -> bytes:
    """The ``Name: value`` lines of lower-case ``headers`` (framing headers left out)."""
    lines = _LINES
    parts = []
    for item in headers.items():
        line = lines.get(item)
        if line is None:
            if item[0] in FRAMING:
                continue
            line = _encoded_line(item)
        parts.append(line)
    return b"".join(parts)


# The lower-case bytes of header names asked for (plugins ask the same few on every request).
_WANTED: dict[str, bytes] = {}


def _wanted(key: str) -> bytes:
    """``key`` as the lower-case bytes a raw header name is compared with (cached)."""
    wanted = key.lower().encode("latin-1")
    if len(_WANTED) < _CACHE_LIMIT:
        _WANTED[key] = wanted
    return wanted


# Headers and MutableHeaders are each a class with the state and every method
# (_RequestHeaderFields, _ResponseHeaderFields) under a subclass that adds the Mapping ABC:
# when this module is compiled (Cython, _compiled.py) the first is an extension type, whose
# methods reach the fields directly and whose __setitem__ is a C slot, and an extension type
# cannot derive from an ABC. The pure-Python classes have the same shape, so both builds behave
# alike.


class _RequestHeaderFields:
    """The fields and methods of ``Headers``."""

    __slots__ = ("_all", "_first", "_raw", "_scans")

    def __init__(self, raw: Iterable[tuple[bytes, bytes]] | Mapping[str, str] = ()) -> None:
        if type(raw) is not list:  # the server's own list, as is (isinstance on an ABC is slow)
            if isinstance(raw, Mapping):
                raw = [(k.encode("latin-1"), str(v).encode("latin-1")) for k, v in raw.items()]
            raw = list(raw)
        self._raw: list[tuple[bytes, bytes]] = raw
        self._first: dict[str, str] | None = None
        self._all: dict[str, list[str]] | None = None
        self._scans = 0

    def _index(self) -> dict[str, str]:
        first: dict[str, str] = {}
        every: dict[str, list[str]] = {}
        for name, value in self._raw:
            key = name.decode("latin-1").lower()
            text = value.decode("latin-1")
            if key in first:
                every[key].append(text)
            else:
                first[key] = text
                every[key] = [text]
        self._first = first
        self._all = every
        return first

    def __getitem__(self, key: str) -> str:
        first = self._first if self._first is not None else self._index()
        return first[key.lower()]

    def get(self, key: str, default: str | None = None) -> str | None:
        first = self._first
        if first is None:
            if self._scans < 3:
                # The first few lookups scan the raw pairs: cheaper than decoding and
                # indexing every header when a request is asked about one or two of them.
                self._scans += 1
                try:
                    wanted = _WANTED[key]
                except KeyError:
                    wanted = _wanted(key)
                size = len(wanted)
                for name, value in self._raw:
                    if len(name) == size and name.lower() == wanted:
                        return value.decode("latin-1")
                return default
            first = self._index()
        return first.get(key.lower(), default)

    def get_all(self, key: str) -> list[str]:
        """Every value of ``key``, in the order received (empty list if absent)."""
        if self._all is None:
            self._index()
        assert self._all is not None
        return list(self._all.get(key.lower(), ()))

    getlist = get_all

    def __contains__(self, key: object) -> bool:
        first = self._first if self._first is not None else self._index()
        return isinstance(key, str) and key.lower() in first

    def __iter__(self) -> Iterator[str]:
        first = self._first if self._first is not None else self._index()
        return iter(first)

    def __len__(self) -> int:
        first = self._first if self._first is not None else self._index()
        return len(first)

    def raw(self) -> list[tuple[bytes, bytes]]:
        """The header pairs as received, names in their original case."""
        return list(self._raw)

    def __repr__(self) -> str:
        return f"Headers({[(n.decode('latin-1'), v.decode('latin-1')) for n, v in self._raw]!r})"


class Headers(_RequestHeaderFields, Mapping[str, str]):  # type: ignore[misc]  # get's default is str
    """Request headers: case-insensitive, multi-valued, built lazily from the raw pairs.

    ``headers["accept"]`` and ``get`` give the first value; ``get_all`` gives every value in
    the order received.
    """

    __slots__ = ()


class _ResponseHeaderFields:
    """The fields and methods of ``MutableHeaders``."""

    __slots__ = ("_d", "_own", "_stamp", "_stamped", "_tail", "_wire")

    def __init__(self, items: Mapping[str, object] | Iterable[tuple[str, object]] | None = None) -> None:
        self._d: dict[str, str] = {}
        #: A compiled ``HeaderStamp`` set on these headers and not yet written into them, and
        #: its values (see ``_stamp_values``): its lines are written straight into the head
        #: when the response is sent, and any other use of the headers writes them in first
        #: (``_settle``). Always None where this module is not compiled.
        self._stamp: _CompiledStamp | None = None
        self._stamped: tuple[str, ...] | None = None
        #: The encoded header lines, kept by :meth:`preencode` until a line changes (an added
        #: line is appended to them).
        self._wire: bytes | None = None
        #: The lines of headers added after ``_wire`` was encoded, as text: one string build per
        #: line here, one encode for all of them when the head is written.
        self._tail = ""
        #: Whether ``_d`` is this object's alone (False: shared with copies, copied on write).
        self._own = True
        if items is not None:
            pairs = items.items() if isinstance(items, Mapping) else items
            for k, v in pairs:
                self[k] = v

    def __getitem__(self, key: str) -> str:
        if self._stamp is not None:
            self._settle()
        return self._d[key.lower()]

    def __setitem__(self, key: str, value: object) -> None:
        # Plugins set headers on every response: the checks of a name seen before and of a
        # printable-ASCII value (the usual case) are a dict lookup and two string methods in C.
        # (Subscripts in a try, not dict.get: the cached case is the usual one, and a subscript
        # costs a fraction of a method call.)
        if self._stamp is not None:
            self._settle()
        try:
            lower, prefix = _SETTABLE[key]
        except KeyError:
            lower, prefix = _settable(key)
        if type(value) is not str or not _visible_ascii(value):
            value = _checked_value(key, value)
        d = self._d
        if self._wire is None:
            d[lower] = value
            return
        if lower in d:
            self._unshare()  # a line of the encoded block changes: encoded again when sent
            self._d[lower] = value
            return
        # A line added to an encoded block (a plugin's header on a handler's answer or a cached
        # response): the block stays valid with the line appended.
        if not self._own:
            d = self._d = d.copy()  # shared with a template or a stored response: copy on write
            self._own = True
        d[lower] = value
        if prefix:  # framing headers are never written from a block
            # Not through the _LINES cache: a header a plugin adds per response usually carries
            # a per-response value (an id, a duration). Text now, bytes once when sent.
            self._tail = f"{self._tail}{prefix}{value}\r\n"

    def __delitem__(self, key: str) -> None:
        if self._wire is not None or not self._own:
            self._unshare()
        del self._d[key.lower()]

    def _settle(self) -> None:
        # A stamp set lazily becomes entries and lines like any other header's, before the
        # headers are read through or written to in any other way.
        stamp = self._stamp
        values = self._stamped
        self._stamp = None
        self._stamped = None
        if stamp is not None and values is not None:
            _apply_stamp(stamp, self, values)

    def _unshare(self) -> None:
        # Before a line is removed: a private dict, and no encoded lines.
        if self._stamp is not None:
            self._settle()
        self._d = dict(self._d)
        self._own = True
        self._wire = None
        self._tail = ""

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, str):
            return False
        lower = key.lower()
        # A pending stamp's names are answered without writing it in (the send path asks
        # for "etag" and "last-modified" on every 200).
        return lower in self._d or (self._stamp is not None and lower in self._stamp.names)

    def __iter__(self) -> Iterator[str]:
        if self._stamp is not None:
            self._settle()
        return iter(self._d)

    def __len__(self) -> int:
        if self._stamp is not None:
            self._settle()
        return len(self._d)

    def get(self, key: str, default: Any = None) -> Any:
        lower = key.lower()
        if self._stamp is not None and lower in self._stamp.names:
            self._settle()
        return self._d.get(lower, default)

    def pop(self, key: str, default: str | None = None) -> str | None:
        if self._wire is not None or not self._own:
            self._unshare()
        return self._d.pop(key.lower(), default)

    def setdefault(self, key: str, value: str) -> str:
        if self._stamp is not None:
            self._settle()
        lower = key.lower()
        if lower not in self._d:
            self[key] = value
        return self._d[lower]

    def update(self, other: Mapping[str, object]) -> None:
        for k, v in other.items():
            self[k] = v

    def add_missing(self, defaults: MutableHeaders) -> None:
        """Add each header of ``defaults`` that this block does not already have.

        For constant headers a plugin puts on every response unless the response set its own
        (security headers, CORS answers): ``defaults`` was validated when it was built and is
        encoded once (call ``defaults.preencode()``), so when none of its names is here — the
        usual case — this is one dictionary merge and, on a pre-encoded block (most handler
        answers), one append of the encoded lines.
        """
        if self._stamp is not None:
            self._settle()
        if defaults._stamp is not None:
            defaults._settle()
        mine = defaults._d
        d = self._d
        if not d.keys().isdisjoint(mine):
            for name, value in mine.items():
                if name not in d:
                    self[name] = value
            return
        if not self._own:
            self._d = d = dict(d)  # shared with a template or a stored response: copy on write
            self._own = True
        d.update(mine)
        if self._wire is not None:
            self._wire = self.encoded() + defaults.encoded()  # framing headers are never in encoded()
            self._tail = ""

    def add_all_if_absent(self, block: MutableHeaders) -> bool:
        """Add every header of ``block`` when this block has none of its names, and return True;
        otherwise change nothing and return False.

        ``add_missing``'s merge for a plugin whose headers must go together or not at all (a
        CORS answer and its ``Vary``: a response with a ``Vary`` of its own needs it merged, one
        with its own ``Access-Control-Allow-Origin`` keeps its CORS headers) — the usual
        response costs the plugin one call, and it handles the rest its own way.
        """
        if self._stamp is not None:
            self._settle()
        if block._stamp is not None:
            block._settle()
        mine = block._d
        d = self._d
        if not d.keys().isdisjoint(mine):
            return False
        if not self._own:
            self._d = d = dict(d)  # shared with a template or a stored response: copy on write
            self._own = True
        d.update(mine)
        if self._wire is not None:
            extra = block._wire
            self._wire = self.encoded() + (block.encoded() if extra is not None else encode_lines(mine))
            self._tail = ""
        return True

    def add_vary(self, *names: str) -> None:
        """Merge header names into ``Vary`` without duplicates (case-insensitive)."""
        current = self._d.get("vary")
        if current is None and len(names) == 1:
            self["vary"] = names[0]  # the common case: the first name, nothing to merge
            return
        current = current or ""
        if current.strip() == "*":
            return
        present = {p.strip().lower() for p in current.split(",") if p.strip()}
        parts = [p.strip() for p in current.split(",") if p.strip()]
        for name in names:
            if name.lower() not in present:
                parts.append(name)
                present.add(name.lower())
        self["vary"] = ", ".join(parts)

    def items_lower(self) -> Iterable[tuple[str, str]]:
        """(lower-case name, value) pairs, as they go on the wire."""
        if self._stamp is not None:
            self._settle()
        return self._d.items()

    def copy(self) -> MutableHeaders:
        new = (_areion_blank_headers(MutableHeaders) if _COMPILED  # type: ignore[name-defined]  # noqa: F821
               else _ResponseHeaderFields.__new__(MutableHeaders))
        wire = new._wire = self._wire
        new._tail = self._tail
        # A pending stamp goes with the copy (its values never change): each writes it in
        # on its own when it must.
        new._stamp = self._stamp
        new._stamped = self._stamped
        # A pre-encoded block is copied on write: until then copies share its dict.
        if wire is not None:
            new._d = self._d
            new._own = self._own = False
        else:
            new._d = self._d.copy()
            new._own = True
        return new

    def preencode(self) -> None:
        """Encode the header lines once and reuse them until the next change.

        For a header block that is sent many times unchanged (a cached response's): copies
        made with :meth:`copy` share the dict and the encoded lines until one of them is
        written to, which then takes its own copy (a header added to it appends its line;
        one replaced or removed drops the encoded lines).
        """
        if self._stamp is not None:
            self._settle()
        self._wire = encode_lines(self._d)
        self._tail = ""

    def encoded(self) -> bytes:
        """The header lines as they go on the wire (``Name: value\\r\\n`` each, framing headers left out)."""
        if self._stamp is not None:
            self._settle()
        wire = self._wire
        if wire is None:
            return encode_lines(self._d)
        tail = self._tail
        return wire + tail.encode("latin-1") if tail else wire

    @classmethod
    def trusted(cls, lower: dict[str, str]) -> MutableHeaders:
        """Headers from a dict of lower-case names to values the caller has already validated."""
        new = _ResponseHeaderFields.__new__(cls)
        new._d = lower
        new._wire = None
        new._tail = ""
        new._own = True
        new._stamp = None
        new._stamped = None
        return new  # type: ignore[return-value]  # cls is MutableHeaders (or a subclass)

    def __repr__(self) -> str:
        if self._stamp is not None:
            self._settle()
        return f"MutableHeaders({self._d!r})"


class MutableHeaders(_ResponseHeaderFields, Mapping[str, str]):
    """Response headers: case-insensitive, validated on every write.

    Names are stored lower-case; a name or value with CR, LF, NUL or another control
    character raises ``ValueError`` at the point it is set, so it can never reach the wire.
    ``Set-Cookie`` lives in ``HttpResponse.cookies``, not here, because it cannot be folded.

    A block may carry its encoded lines (:meth:`preencode`, a copy of a pre-encoded block):
    a header added later appends its line to them; one replaced or removed drops them.
    """

    __slots__ = ()


class HeaderStamp:
    """Headers a plugin sets on every response from a few values of that response (a request
    id, a duration): names, templates and line prefixes checked and made once.

    ``HeaderStamp({"X-Request-ID": "{0}", "Server-Timing": "app;dur={1}", "X-Response-Time":
    "{1}ms"})``: each header's value is its template with ``{n}`` replaced by ``set``'s n-th
    value (``{{`` and ``}}`` for braces). ``stamp.set(headers, v0, v1, ...)`` sets every header,
    in order, when ``headers`` has none of the names, and returns True. When ``headers``
    already has one of them (a response replayed from a cache carries an older id) it changes
    nothing and returns False: the caller sets them one by one, merging as it needs. A value
    with CR, LF, NUL or another control character raises ``ValueError`` naming the header, as
    setting it would; a value that is not a string is written as ``format(value)``.

    Setting one header costs a method call, a check, a copy-on-write and a text append; a
    stamp does each once for all its headers, each value checked once however many headers
    use it, through a function made for the stamp when it is built (as ``dataclasses`` makes
    ``__init__``): no loop and no call per header. Where this module is compiled, ``set`` is
    a method of an extension type (``_CompiledStamp``), with no Python frame; on a copy of a
    pre-encoded block (most responses) it checks the values and notes them, and the stamp's
    lines are written straight into the head when the response is sent: the headers read as
    if they had been set, and any other use of them sets them first.
    """

    __slots__ = ("names", "set")

    def __init__(self, headers: Mapping[str, str]) -> None:
        if not headers:
            raise ValueError("HeaderStamp needs at least one header")
        known = [_settable(name) for name in headers]
        framing = [name for name, (_lower, prefix) in zip(headers, known, strict=True) if not prefix]
        if framing:
            raise ValueError(f"HeaderStamp: {framing[0]!r} is a framing header, written by the server")
        if len({lower for lower, _prefix in known}) != len(known):
            raise ValueError(f"HeaderStamp: a header name is given twice in {list(headers)!r}")
        templates = [_template(name, template) for name, template in headers.items()]
        used = {part for parts in templates for part in parts if isinstance(part, int)}
        if used != set(range(len(used))):
            raise ValueError(f"HeaderStamp: the templates use the values {sorted(used)}: they must "
                             "number them from {0} on, with no gap")
        #: The header names, as given.
        self.names = tuple(headers)
        self.set: Callable[..., bool]
        if _COMPILED:
            self.set = _CompiledStamp(self.names, known, templates, len(used)).set
        else:
            self.set = _stamp_function(self.names, known, templates, len(used))

    def __repr__(self) -> str:
        return f"HeaderStamp{self.names!r}"


def _template(name: str, template: str) -> list[str | int]:
    """A stamp's value template as literal texts (checked) and argument numbers."""
    if not isinstance(template, str):
        raise TypeError(f"HeaderStamp: the template of {name!r} must be a string, got {template!r}")
    parts: list[str | int] = []
    try:
        fields = list(_FORMATTER.parse(template))
    except ValueError as exc:
        raise ValueError(f"HeaderStamp: the template of {name!r}, {template!r}: {exc}") from None
    for literal, field, spec, conversion in fields:
        if literal:
            parts.append(_checked_value(name, literal))
        if field is None:
            continue
        if not field.isdigit() or spec or conversion:
            raise ValueError(f"HeaderStamp: the template of {name!r}, {template!r}, may only hold "
                             "{0}, {1}... (the values set() is given)")
        parts.append(int(field))
    return parts


_FORMATTER = string.Formatter()

#: The function a ``HeaderStamp`` sets its headers with ("{...}" filled in per stamp).
_STAMP_SOURCE = """\
def set(headers, {args}):
    d = headers._d
    if d is not clean[0]:
        if {present}:
            return False
        if not headers._own:
            clean[0] = d  # shared, so never written to: without our names for good
    {args}, = {formatted},
    text = {text}
    if not (text.isascii() and text.isprintable()):
        check(({args},))
    if not headers._own:
        headers._d = d = {{**d}}
        headers._own = True
    {values}
    {stores}
    if headers._wire is not None:
        headers._tail = {tail}
    return True
"""


_COMPILED = __file__.endswith(tuple(EXTENSION_SUFFIXES))


def _stamp_function(names: tuple[str, ...], known: list[tuple[str, str]], templates: list[list[str | int]],
                    count: int) -> Callable[..., bool]:
    """``set(headers, v0, v1, ...)`` for a ``HeaderStamp``, compiled once.

    Only the arguments ``v0``... and names of its scope enter the source: ``L0``... (lower-case
    names), ``P0``... (``"\r\nName: "``) and ``T0_0``... (the templates' literal texts).
    """
    scope: dict[str, Any] = {}

    def fstring(index: int, parts: list[str | int]) -> str:
        if len(parts) == 1 and isinstance(parts[0], int):
            return f"v{parts[0]}"  # the value as given, no new string
        pieces = []
        for j, part in enumerate(parts):
            if isinstance(part, int):
                pieces.append(f"{{v{part}}}")
            else:
                scope[f"T{index}_{j}"] = part
                pieces.append(f"{{T{index}_{j}}}")
        return 'f"' + "".join(pieces) + '"'

    # Each header's value: an argument as given, or a local ``h<i>`` made once from its template.
    values = [fstring(i, parts) for i, parts in enumerate(templates)]
    made = [(f"h{i}", value) for i, value in enumerate(values) if value.startswith('f"')]
    value_names = [f"h{i}" if value.startswith('f"') else value for i, value in enumerate(values)]
    arguments = range(count)
    source = _STAMP_SOURCE.format(
        args=", ".join(f"v{i}" for i in arguments),
        present=" or ".join(f"L{i} in d" for i in range(len(names))),
        formatted=", ".join(f'f"{{v{i}}}"' for i in arguments),
        text='f"' + "".join(f"{{v{i}}}" for i in arguments) + '"',
        values="; ".join(f"{local} = {value}" for local, value in made) or "pass",
        stores="; ".join(f"d[L{i}] = {value}" for i, value in enumerate(value_names)),
        # Each line is "\r\nName: value" (P<i>), the first without its "\r\n": the lines end
        # with one last "\r\n".
        tail='f"{headers._tail}' + "".join(f"{{P{i}}}{{{v}}}" for i, v in enumerate(value_names)) + '\\r\\n"',
    )

    def check(given: tuple[str, ...]) -> None:
        for name, parts in zip(names, templates, strict=True):
            for part in parts:
                if isinstance(part, int):
                    _check_value(name, given[part])

    scope.update(check=check, clean=[None], NAMES=tuple(lower for lower, _prefix in known),
                 PREFIXES=tuple(prefix for _lower, prefix in known))
    # The last shared dict (a template's, copied on write) seen without any of the names is
    # kept in ``clean``: most responses carry a copy of the same one, and the check is then
    # one identity comparison. Held there, that dict cannot be freed and its identity reused.
    for i, (lower, prefix) in enumerate(known):
        scope[f"L{i}"] = lower
        scope[f"P{i}"] = prefix if i == 0 else "\r\n" + prefix
    exec(compile(source, f"<HeaderStamp{names!r}>", "exec"), scope)
    function: Callable[..., bool] = scope["set"]
    return function


class _CompiledStamp:
    """A ``HeaderStamp``'s ``set`` where this module is compiled: an extension type's method,
    so a stamp costs no Python frame. When every value is a printable-ASCII ``str`` (the
    usual case) C fills in the templates, checking the values as it goes (``areion_fill`` in
    headers.pxd), and writes the lines into one new string (``areion_lines``); otherwise the
    values are formatted and checked as ``MutableHeaders.__setitem__`` checks one."""

    __slots__ = ("clean", "count", "display", "lines", "names", "prefixes", "templates")

    def __init__(self, names: tuple[str, ...], known: list[tuple[str, str]],
                 templates: list[list[str | int]], count: int) -> None:
        #: The names as given (for errors), lower-case (the keys), and each line's "Name: ".
        self.display = names
        self.names = tuple(lower for lower, _prefix in known)
        self.prefixes = tuple(prefix for _lower, prefix in known)
        #: Each header's template: a tuple of literal texts (checked) and value numbers.
        self.templates = tuple(tuple(parts) for parts in templates)
        #: Each header's line as the head gets it from a pending stamp (``encode_head``): its
        #: "Name: " and template; None when a literal text is not ASCII (the stamp is then
        #: always written in at once).
        self.lines: tuple[tuple[str | int, ...], ...] | None = None
        if all(part.isascii() for parts in templates for part in parts if isinstance(part, str)):
            self.lines = tuple(_joined_literals([prefix, *parts]) for prefix, parts in
                               zip(self.prefixes, templates, strict=True))
        self.count = count
        #: The last shared dict (a template's, copied on write) seen without any of the names:
        #: most responses carry a copy of the same one, and the check is then one identity
        #: comparison. Held here, that dict cannot be freed and its identity reused.
        self.clean: object = None

    def set(self, headers: MutableHeaders, *values: Any) -> bool:
        return _stamp_values(self, headers, values)


def _joined_literals(parts: list[str | int]) -> tuple[str | int, ...]:
    """``parts`` with each run of adjacent literal texts made one."""
    joined: list[str | int] = []
    for part in parts:
        if isinstance(part, str) and joined and isinstance(joined[-1], str):
            joined[-1] += part
        elif part != "":
            joined.append(part)
    return tuple(joined)


def _stamp_values(stamp: _CompiledStamp, headers: MutableHeaders, values: tuple[Any, ...]) -> bool:
    """``HeaderStamp.set``, compiled: the names are set when ``headers`` has none of them.

    On pre-encoded headers (most responses: a template's copy) with printable-ASCII values
    the stamp is only noted, with its values: ``encode_head`` writes its lines straight into
    the head, and nothing else is made for it — no filled-in values, no dict copy, no text
    lines. Any other use of the headers first writes it in (``_settle``), as it would have
    been written at once.
    """
    if len(values) != stamp.count:
        raise TypeError(f"HeaderStamp.set takes the headers and {stamp.count} values, got {len(values)}")
    if not isinstance(headers, _ResponseHeaderFields):
        raise TypeError(f"HeaderStamp.set: {headers!r} is not a MutableHeaders")
    fields = headers
    if fields._stamp is not None:
        fields._settle()  # another stamp's, pending: written in, then this one's names checked
    names = stamp.names
    d = fields._d
    if d is not stamp.clean:
        for name in names:
            if name in d:
                return False
        if not fields._own:
            stamp.clean = d  # shared, so never written to: without our names for good
    if fields._wire is not None and stamp.lines is not None and _areion_all_visible(values):  # type: ignore[name-defined]  # noqa: F821
        fields._stamp = stamp
        fields._stamped = values
        return True
    _apply_stamp(stamp, fields, values)
    return True


def _apply_stamp(stamp: _CompiledStamp, fields: _ResponseHeaderFields, values: tuple[Any, ...]) -> int:
    """A stamp's values written into ``fields``: its entries and, on pre-encoded headers, its lines."""
    names = stamp.names
    d = fields._d
    filled = _areion_fill(stamp.templates, values)  # type: ignore[name-defined]  # noqa: F821
    visible = filled is not None
    if not visible:  # a value that is not a printable-ASCII str: formatted, then checked
        filled = tuple([_filled(parts, values) for parts in stamp.templates])
        for i in range(len(names)):
            _check_value(stamp.display[i], filled[i])
    if not fields._own:
        fields._d = d = d.copy()
        fields._own = True
    for i in range(len(names)):
        d[names[i]] = filled[i]
    if fields._wire is not None:
        tail = fields._tail
        if visible and _areion_is_ascii(tail):  # type: ignore[name-defined]  # noqa: F821
            fields._tail = _areion_lines(tail, stamp.prefixes, filled)  # type: ignore[name-defined]  # noqa: F821
        else:
            prefixes = stamp.prefixes
            fields._tail = tail + "".join([f"{prefixes[i]}{filled[i]}\r\n" for i in range(len(names))])
    return 0


def _filled(parts: tuple[str | int, ...], values: tuple[Any, ...]) -> str:
    """A header's value: its template with the values, each formatted as an f-string does."""
    return "".join([part if isinstance(part, str) else format(values[part]) for part in parts])


def content_type_only(content_type: str) -> MutableHeaders:
    """Headers holding just ``Content-Type`` (a trusted value), encoded once per content type.

    The headers of most responses a handler returns as a ``dict`` or a ``str``: copies of one
    pre-encoded block per content type, copied on write like a cached response's.
    """
    try:
        template = _BY_CONTENT_TYPE[content_type]
    except KeyError:
        template = _content_type_template(content_type)
    # The base's __new__ (no __init__: the fields are set here): object's in pure Python, the
    # extension type's own when compiled, called directly (headers.pxd).
    new = (_areion_blank_headers(MutableHeaders) if _COMPILED  # type: ignore[name-defined]  # noqa: F821
           else _ResponseHeaderFields.__new__(MutableHeaders))
    new._wire = template._wire
    new._tail = ""
    new._d = template._d
    new._own = False
    if not _COMPILED:  # the extension type's fields start as None
        new._stamp = None
        new._stamped = None
    return new


_BY_CONTENT_TYPE: dict[str, MutableHeaders] = {}


def _content_type_template(content_type: str) -> MutableHeaders:
    template = MutableHeaders.trusted({"content-type": content_type})
    template.preencode()
    if len(_BY_CONTENT_TYPE) < 64:
        _BY_CONTENT_TYPE[content_type] = template
    return template


# --- the response head -------------------------------------------------------------------


class _Head(Protocol):
    """What a response head is made from (an ``HttpResponse``)."""

    status_code: int
    headers: MutableHeaders
    cookies: list[str] | None


def _status_line(code: int) -> bytes:
    # RFC 9110's reason phrases on every Python ("422 Unprocessable Content"), as in problem titles.
    phrase = status_phrase(code) or "Unknown"
    return f"HTTP/1.1 {code} {phrase}\r\n".encode("latin-1")


STATUS_LINES: dict[int, bytes] = {s.value: _status_line(s.value) for s in HTTPStatus}

#: Statuses that never carry a body (RFC 9110 §6.4.1).
NO_BODY_STATUSES = frozenset({204, 304}) | frozenset(range(100, 200))

# Set-Cookie lines: set_cookie() builds valid ones, but ``response.cookies`` is a plain list a
# caller may append to, so each line is checked here, the one place every line passes.
_BAD_COOKIE_LINE = re.compile(r"[^\t\x20-\x7e]")


def status_line(code: int) -> bytes:
    """``HTTP/1.1 <code> <reason>\\r\\n`` (ValueError for a code outside 100-999)."""
    line = STATUS_LINES.get(code)
    if line is None:
        if not 100 <= code <= 999:
            raise ValueError(f"invalid HTTP status code {code}")
        line = _status_line(code)
    return line


def encode_head(
    response: _Head,
    constant_headers: bytes,
    keep_alive: bool,
    content_length: int | None,
    chunked: bool = False,
    body: bytes = b"",
) -> bytes:
    """Status line and header block of ``response``, ending with the blank line, then ``body``.

    ``constant_headers`` is the pre-encoded ``Date``/``Server``/global-header block.
    ``content_length`` None with ``chunked`` False means the body is close-delimited.
    """
    code = response.status_code
    headers = response.headers
    wire = headers._wire  # encoded(), inline: it runs for every response
    parts = [STATUS_LINES.get(code) or status_line(code), constant_headers,
             wire if wire is not None else encode_lines(headers._d)]
    if wire is not None:
        if headers._tail:
            parts.append(headers._tail.encode("latin-1"))
        stamp = headers._stamp
        if stamp is not None:  # a stamp set lazily (only on pre-encoded headers): its lines
            parts.append(_areion_stamp_lines(stamp.lines, headers._stamped))  # type: ignore[name-defined]  # noqa: F821
    cookies = response.cookies
    if cookies:
        for cookie in cookies:
            if _BAD_COOKIE_LINE.search(cookie) is not None:
                raise ValueError(f"invalid Set-Cookie line {cookie!r}: use HttpResponse.set_cookie()")
            parts.append(b"Set-Cookie: " + cookie.encode("ascii") + b"\r\n")
    if content_length is not None:
        parts.append(b"Content-Length: %d\r\n" % content_length)
    elif chunked:
        parts.append(b"Transfer-Encoding: chunked\r\n")
    parts.append(b"\r\n" if keep_alive else b"Connection: close\r\n\r\n")
    if body:
        parts.append(body)
    return b"".join(parts)
