"""Constant header blocks a plugin adds to responses, merged once per shared header template.

A plugin that puts the same headers on every response (security headers, a CORS answer and
its ``Vary``) would merge its block into each response's headers: a dictionary copy, an
update and an encoded-bytes append per response. Most responses, though, carry an unchanged
copy of a shared template — the core's one block per content type for the dicts and strings
handlers return (``content_type_only``), or a stored response's — whose dictionary is shared
copy-on-write. :class:`HeaderBlock` merges itself with each such template once and hands
every later response the merged result, shared the same way: one dictionary lookup per
response. Headers of a response's own (a handler's ``HttpResponse(headers=...)``) are merged
as ``MutableHeaders.add_all_if_absent`` does.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from .headers import MutableHeaders

#: Most templates one block remembers (content types, stored responses); cleared when full.
_MEMO_SIZE = 64
#: A template's dict (compared by identity), and that dict and its encoded lines merged with
#: the block — or Nones when the template has one of the block's names.
_Merged = tuple[dict[str, str], dict[str, str] | None, bytes | None]


class HeaderBlock:
    """Response headers added together, or not at all, to responses that carry none of them.

    Validated and encoded once (``ValueError`` for a bad name or value, as when set on a
    response). ``block.add_to(headers)`` does what ``headers.add_all_if_absent(block.headers)``
    does — adds every header and returns True when ``headers`` has none of the block's names,
    otherwise changes nothing and returns False — at the cost of a dictionary lookup for
    headers that are an unchanged copy of a shared template.
    """

    __slots__ = ("_merged", "headers")

    def __init__(self, headers: Mapping[str, object] | Iterable[tuple[str, object]]) -> None:
        block = MutableHeaders(headers)
        block.preencode()
        #: The block as a pre-encoded ``MutableHeaders`` (for ``add_missing`` and reading).
        self.headers = block
        #: A template's encoded lines (a bytes object keeps its hash) → its merge with the block.
        self._merged: dict[bytes, _Merged] = {}

    def add_to(self, headers: MutableHeaders) -> bool:
        """Add the whole block to ``headers`` if it has none of its names (True), else nothing (False)."""
        if headers._stamp is not None:
            headers._settle()  # a stamp set lazily: its names count
        wire = headers._wire
        if headers._own or wire is None:
            # Headers of this response's own: merged into them (nothing shared to remember).
            return headers.add_all_if_absent(self.headers)
        # A dict shared copy-on-write is never written to, so the same dict means the same
        # headers, and the merged pair stays true for every response that shares it.
        shared = headers._d
        entry = self._merged.get(wire)
        if entry is None or entry[0] is not shared:
            entry = self._remember(shared, wire)
        merged = entry[1]
        if merged is None:
            return False
        headers._d = merged
        headers._wire = entry[2]
        return True

    def _remember(self, shared: dict[str, str], wire: bytes) -> _Merged:
        mine = self.headers._d
        entry: _Merged = (shared, None, None)
        if shared.keys().isdisjoint(mine):
            entry = (shared, {**shared, **mine}, wire + self.headers.encoded())
        memo = self._merged
        if len(memo) >= _MEMO_SIZE:
            memo.clear()
        memo[wire] = entry
        return entry

    def __repr__(self) -> str:
        return f"HeaderBlock({dict(self.headers.items_lower())!r})"
