"""What a request's own ``Cache-Control`` and ``Pragma`` ask of the cache (RFC 9111 §5.2.1).

- ``no-store``: "a cache MUST NOT store any part of either this request or any response to
  it" — always honoured: the response is not stored (a stored one may still answer it).
- ``no-cache``, ``max-age=0`` (and ``Pragma: no-cache`` when there is no ``Cache-Control``,
  §5.4): the client wants no stored answer. Honoured only with ``honour_request_no_cache``,
  because it lets any client run the handler at will (a browser's reload sends it): the
  handler runs and its answer replaces the entry. ``max-age=N`` likewise refuses entries older
  than ``N`` seconds.
- Everything else (``max-stale``, ``min-fresh``, ``only-if-cached``, ``no-transform``) is
  ignored.

The headers are found by scanning the raw pairs, as ``has_credentials`` does: a request that
sends neither (nearly all) costs one pass over its header names and no parsing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from areion_core import HttpRequest


class RequestDirectives(NamedTuple):
    """The request directives the cache acts on."""

    #: Seconds of age the client accepts: 0 for ``no-cache`` / ``max-age=0``; None: any.
    max_age: float | None = None
    no_store: bool = False


NONE = RequestDirectives()


def request_directives(request: HttpRequest) -> RequestDirectives:
    """The ``Cache-Control`` (or, without one, ``Pragma``) directives of ``request``."""
    control: list[bytes] = []
    pragma: list[bytes] = []
    for name, value in request.raw_headers:
        size = len(name)
        if size == 13 and name.lower() == b"cache-control":
            control.append(value)
        elif size == 6 and name.lower() == b"pragma":
            pragma.append(value)
    if not control:
        if pragma and b"no-cache" in _tokens(pragma):
            return RequestDirectives(max_age=0.0)
        return NONE
    max_age: float | None = None
    no_store = False
    for item in _tokens(control):
        directive, _, argument = item.partition(b"=")
        directive = directive.strip()
        if directive == b"no-cache":
            max_age = 0.0
        elif directive == b"no-store":
            no_store = True
        elif directive == b"max-age":
            seconds = argument.strip().strip(b'"')
            if seconds.isdigit():  # anything else is not a delta-seconds: ignored
                max_age = float(seconds) if max_age is None else min(max_age, float(seconds))
    return RequestDirectives(max_age, no_store)


def _tokens(values: list[bytes]) -> list[bytes]:
    return [item.strip().lower() for value in values for item in value.split(b",")]
