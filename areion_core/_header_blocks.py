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
_new = object.__new__


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
        #: A template's encoded lines → (its dict; the template merged with the block, or None
        #: when the template has one of the block's names). Keyed by the lines, whose hash the
        #: bytes object keeps; the dict is compared by identity.
        self._merged: dict[bytes, tuple[dict[str, str], MutableHeaders | None]] = {}

    def add_to(self, headers: MutableHeaders) -> bool:
        """Add the whole block to ``headers`` if it has none of its names (True), else nothing (False)."""
        wire = headers._wire
        if headers._own or wire is None:
            # Headers of this response's own: merged into them (nothing shared to remember).
            return headers.add_all_if_absent(self.headers)
        shared = headers._d
        entry = self._merged.get(wire)
        if entry is None or entry[0] is not shared:
            entry = self._remember(shared, wire)
        merged = entry[1]
        if merged is None:
            return False
        # A shared dict is never written to (copy-on-write), so the merged pair stays true.
        headers._d = merged._d
        headers._wire = merged._wire
        return True

    def _remember(self, shared: dict[str, str], wire: bytes) -> tuple[dict[str, str], MutableHeaders | None]:
        mine = self.headers._d
        merged: MutableHeaders | None = None
        if shared.keys().isdisjoint(mine):
            merged = _new(MutableHeaders)
            merged._d = {**shared, **mine}
            merged._wire = wire + self.headers.encoded()
            merged._own = False  # shared with every response it is handed to
        memo = self._merged
        if len(memo) >= _MEMO_SIZE:
            memo.clear()
        entry = memo[wire] = (shared, merged)
        return entry

    def __repr__(self) -> str:
        return f"HeaderBlock({dict(self.headers.items_lower())!r})"
