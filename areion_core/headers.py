"""Header containers: read-only request headers and validated, mutable response headers."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# Field values: visible latin-1 and SP/HTAB only (RFC 9110 §5.5); CR, LF and NUL never pass.
_BAD_VALUE = re.compile(r"[^\t\x20-\x7e\x80-\xff]")
_valid_names: set[str] = set()


def check_header(name: str, value: str) -> None:
    """Raise ``ValueError`` unless ``name`` is a token and ``value`` holds no CR, LF, NUL or controls."""
    if name not in _valid_names:
        if not isinstance(name, str) or _TOKEN.fullmatch(name) is None:
            raise ValueError(f"invalid response header name {name!r}")
        if len(_valid_names) < 4096:
            _valid_names.add(name)
    if _BAD_VALUE.search(value) is not None:
        raise ValueError(
            f"invalid character in response header {name!r}: {value!r} "
            "(CR, LF, NUL and other control characters are not allowed)"
        )


class Headers(Mapping[str, str]):
    """Request headers: case-insensitive, multi-valued, built lazily from the raw pairs.

    ``headers["accept"]`` and ``get`` give the first value; ``get_all`` gives every value in
    the order received.
    """

    __slots__ = ("_all", "_first", "_raw", "_scans")

    def __init__(self, raw: Iterable[tuple[bytes, bytes]] | Mapping[str, str] = ()) -> None:
        if isinstance(raw, Mapping):
            raw = [(k.encode("latin-1"), str(v).encode("latin-1")) for k, v in raw.items()]
        self._raw: list[tuple[bytes, bytes]] = list(raw) if not isinstance(raw, list) else raw
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

    def get(self, key: str, default: str | None = None) -> str | None:  # type: ignore[override]
        first = self._first
        if first is None:
            if self._scans < 3:
                # The first few lookups scan the raw pairs: cheaper than decoding and
                # indexing every header when a request is asked about one or two of them.
                self._scans += 1
                wanted = key.lower().encode("latin-1")
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


class MutableHeaders(Mapping[str, str]):
    """Response headers: case-insensitive, validated on every write.

    Names are stored lower-case; a name or value with CR, LF, NUL or another control
    character raises ``ValueError`` at the point it is set, so it can never reach the wire.
    ``Set-Cookie`` lives in ``HttpResponse.cookies``, not here, because it cannot be folded.
    """

    __slots__ = ("_d", "_wire")

    def __init__(self, items: Mapping[str, object] | Iterable[tuple[str, object]] | None = None) -> None:
        self._d: dict[str, str] = {}
        #: The encoded header lines, kept by :meth:`preencode` until the next change.
        self._wire: bytes | None = None
        if items is not None:
            pairs = items.items() if isinstance(items, Mapping) else items
            for k, v in pairs:
                self[k] = v

    def __getitem__(self, key: str) -> str:
        return self._d[key.lower()]

    def __setitem__(self, key: str, value: object) -> None:
        text = value if isinstance(value, str) else str(value)
        check_header(key, text)
        lower = key.lower()
        if lower == "set-cookie":
            raise ValueError("use HttpResponse.set_cookie() / .cookies for Set-Cookie")
        if self._wire is not None:
            self._unshare()
        self._d[lower] = text

    def __delitem__(self, key: str) -> None:
        if self._wire is not None:
            self._unshare()
        del self._d[key.lower()]

    def _unshare(self) -> None:
        # Pre-encoded blocks share their dict with their copies (see preencode): the first
        # write takes a private copy and drops the encoded lines.
        self._d = dict(self._d)
        self._wire = None

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key.lower() in self._d

    def __iter__(self) -> Iterator[str]:
        return iter(self._d)

    def __len__(self) -> int:
        return len(self._d)

    def get(self, key: str, default: Any = None) -> Any:
        return self._d.get(key.lower(), default)

    def pop(self, key: str, default: str | None = None) -> str | None:
        if self._wire is not None:
            self._unshare()
        return self._d.pop(key.lower(), default)

    def setdefault(self, key: str, value: str) -> str:
        lower = key.lower()
        if lower not in self._d:
            self[key] = value
        return self._d[lower]

    def update(self, other: Mapping[str, object]) -> None:
        for k, v in other.items():
            self[k] = v

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
        return self._d.items()

    def copy(self) -> MutableHeaders:
        new = _new(MutableHeaders)
        wire = new._wire = self._wire
        # A pre-encoded block is copied on write: until then copies share its dict.
        new._d = self._d if wire is not None else self._d.copy()
        return new

    def preencode(self) -> None:
        """Encode the header lines once and reuse them until the next change.

        For a header block that is sent many times unchanged (a cached response's): copies
        made with :meth:`copy` share the dict and the encoded lines until one of them is
        written to, which then takes its own copy and drops the encoded lines.
        """
        from ._wire import encode_lines

        self._wire = encode_lines(self._d)

    def __repr__(self) -> str:
        return f"MutableHeaders({self._d!r})"


_new = object.__new__
