"""``Accept-Encoding`` negotiation (RFC 9110 §12.5.3).

The rules, in the order they apply:

- Codings are case-insensitive tokens; ``x-gzip`` means ``gzip`` (RFC 9110 §8.4.1.3).
- ``q=0`` refuses a coding; a missing weight is ``q=1``; weights above 1 count as 1.
- ``*`` gives its weight to every available coding not named explicitly (and to ``identity``
  when ``identity`` is not named).
- ``identity`` is acceptable unless refused by ``identity;q=0`` or by ``*;q=0`` without an
  explicit ``identity`` entry. When it is acceptable only implicitly, any acceptable coding
  beats it; an explicit ``identity`` (or one covered by ``*``) beats a coding only with a
  strictly higher weight, so ties go to compression.
- Among codings of equal weight the server's preference decides.
- An element whose weight is malformed (``q=abc``, ``q=``, ``q="1"``) is ignored: we never
  send a coding the client did not clearly accept, and never treat garbage as a refusal of
  ``identity``. A coding listed twice keeps its lowest weight.
- No header, or an empty one, means identity: RFC 9110 allows any coding when the header is
  absent, but clients that omit it (scripts, health checks) rarely decode anything.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from functools import lru_cache
from typing import TypeVar

IDENTITY = "identity"
#: Server preference when the client weighs codings equally: smallest output first.
DEFAULT_PREFERENCE: tuple[str, ...] = ("br", "zstd", "gzip")

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9a-z]+")
# Lenient qvalue: RFC 9110 allows at most three decimals and no value above 1, but clients
# that send "q=0.8000" or "q=2" mean something clear; only non-numbers are rejected.
_QVALUE = re.compile(r"[0-9]+(?:\.[0-9]*)?|\.[0-9]+")
_ALIASES = {"x-gzip": "gzip"}
# Header strings longer than this are negotiated but not cached, so a client sending huge
# random values cannot make the cache hold more than _CACHE_SIZE * _CACHEABLE_LENGTH chars.
_CACHEABLE_LENGTH = 256
_CACHE_SIZE = 1024
_V = TypeVar("_V")


def parse_accept_encoding(value: str) -> dict[str, float]:
    """Map each coding named in an ``Accept-Encoding`` value to its weight (0.0–1.0).

    Names are lower-cased and ``x-gzip`` becomes ``gzip``; elements that are not tokens or
    carry a malformed weight are left out.
    """
    weights: dict[str, float] = {}
    for element in value.split(","):
        name, _, params = element.partition(";")
        name = name.strip().lower()
        if not name or _TOKEN.fullmatch(name) is None:
            continue
        weight = _weight(params) if params else 1.0
        if weight is None:
            continue
        name = _ALIASES.get(name, name)
        previous = weights.get(name)
        weights[name] = weight if previous is None else min(previous, weight)
    return weights


def _weight(params: str) -> float | None:
    """The ``q`` parameter of one element (1.0 when absent), or None when it is malformed."""
    for param in params.split(";"):
        key, sep, raw = param.partition("=")
        if key.strip().lower() != "q":
            continue  # extension parameters do not change the weight
        if not sep:
            return None
        raw = raw.strip()
        if _QVALUE.fullmatch(raw) is None:
            return None
        return min(float(raw), 1.0)
    return 1.0


def order_by_preference(available: Iterable[str], preference: Sequence[str]) -> tuple[str, ...]:
    """``available`` codings sorted by ``preference``; unlisted ones follow, alphabetically."""
    names = {name.lower() for name in available if name.lower() != IDENTITY}
    ranked = [name for name in (p.lower() for p in preference) if name in names]
    return tuple(ranked) + tuple(sorted(names.difference(ranked)))


def choose_encoding(weights: Mapping[str, float], ordered: Sequence[str]) -> str | None:
    """Pick from ``ordered`` (most preferred first) given parsed client ``weights``.

    Returns a coding, ``"identity"``, or None when identity is refused and no coding is
    acceptable.
    """
    star = weights.get("*")
    best: str | None = None
    best_q = 0.0
    for coding in ordered:
        q = weights.get(coding, star)
        # Strictly greater: an equal weight later in `ordered` is less preferred by us.
        if q is not None and q > best_q:
            best, best_q = coding, q
    explicit_identity = weights.get(IDENTITY, star)
    if best is not None:
        if explicit_identity is not None and explicit_identity > best_q:
            return IDENTITY
        return best
    if explicit_identity is None or explicit_identity > 0:
        return IDENTITY
    return None


def negotiate_encoding(
    accept_encoding: str | None,
    available: Collection[str],
    preference: Sequence[str] = DEFAULT_PREFERENCE,
) -> str | None:
    """The content coding to send for an ``Accept-Encoding`` value (RFC 9110 §12.5.3).

    ``available`` are the codings the server can produce; ``preference`` breaks ties between
    equally weighted codings (codings not in it rank last). Returns a coding name,
    ``"identity"``, or None when the client refuses identity and accepts nothing available
    (the caller answers 406 or sends identity anyway). Results are cached per header value.
    """
    if not accept_encoding:
        return IDENTITY
    ordered = order_by_preference(available, preference)
    if len(accept_encoding) > _CACHEABLE_LENGTH:
        return choose_encoding(parse_accept_encoding(accept_encoding), ordered)
    return _negotiate_cached(accept_encoding, ordered)


@lru_cache(maxsize=_CACHE_SIZE)
def _negotiate_cached(accept_encoding: str, ordered: tuple[str, ...]) -> str | None:
    return choose_encoding(parse_accept_encoding(accept_encoding), ordered)


class EncodingNegotiator:
    """Negotiation for one fixed set of codings, with a bounded cache per header value.

    The plugin builds one per app at startup; ``negotiate`` is on the hot path, so a header
    value seen before costs one dict lookup.
    """

    __slots__ = ("_parsed", "_results", "ordered")

    def __init__(self, available: Iterable[str], preference: Sequence[str] = DEFAULT_PREFERENCE) -> None:
        #: The available codings, most preferred first.
        self.ordered = order_by_preference(available, preference)
        self._results: dict[str, str | None] = {}
        self._parsed: dict[str, dict[str, float]] = {}

    def negotiate(self, accept_encoding: str | None) -> str | None:
        """What to send for this header value: a coding, ``"identity"`` or None (see module doc)."""
        if not accept_encoding:
            return IDENTITY
        try:
            return self._results[accept_encoding]
        except KeyError:
            pass
        result = choose_encoding(self.weights(accept_encoding), self.ordered)
        _remember(self._results, accept_encoding, result)
        return result

    def negotiate_among(self, accept_encoding: str | None, available: Collection[str]) -> str | None:
        """Like ``negotiate`` but only among ``available`` (e.g. the precompressed files present)."""
        if not accept_encoding:
            return IDENTITY
        ordered = tuple(name for name in self.ordered if name in available)
        return choose_encoding(self.weights(accept_encoding), ordered)

    def weights(self, accept_encoding: str) -> dict[str, float]:
        """The parsed header (cached); callers must not modify the returned dict."""
        parsed = self._parsed.get(accept_encoding)
        if parsed is None:
            parsed = parse_accept_encoding(accept_encoding)
            _remember(self._parsed, accept_encoding, parsed)
        return parsed


def _remember(cache: dict[str, _V], key: str, value: _V) -> None:
    if len(key) > _CACHEABLE_LENGTH:
        return
    if len(cache) >= _CACHE_SIZE:
        # Evict the oldest entry (dicts keep insertion order): cheap, and real traffic has a
        # handful of distinct browser strings that are re-inserted as soon as they recur.
        del cache[next(iter(cache))]
    cache[key] = value
