"""Rate-limit declarations: ``"100/minute"`` parsed into a :class:`Rate`, and the request keys.

A limit is counted per *scope* (a route, or a group of routes sharing one name) and per *key*
(by default the client's address as ``request.client`` reports it, so behind a trusted proxy
it is the real client). Both are decided at startup; per request only the key function runs.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from areion_core import HttpRequest

#: A function of the request giving the identity one counter belongs to (an API key, a user id).
KeyFunc = Callable[["HttpRequest"], str]

ALGORITHMS = ("fixed-window", "token-bucket")
_UNITS = {"s": 1, "second": 1, "m": 60, "minute": 60, "h": 3600, "hour": 3600, "d": 86400, "day": 86400}
_RATE = re.compile(r"\s*(\d+)\s*(?:/|per)\s*(\d+)?\s*([a-z]+?)s?\s*", re.IGNORECASE)
RATE_EXPECTED = "a rate such as '100/minute', '10/second', '5 per 10 seconds' or '1000/day'"


@dataclass(frozen=True, slots=True)
class Rate:
    """``limit`` requests per ``window`` seconds."""

    limit: int
    window: int

    def __str__(self) -> str:
        return f"{self.limit}/{self.window}s"


def parse_rate(text: str) -> Rate:
    """``"100/minute"`` → ``Rate(100, 60)``; ValueError for anything else (or a zero)."""
    match = _RATE.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError(RATE_EXPECTED)
    count, multiple, unit = int(match[1]), int(match[2] or 1), match[3].lower()
    seconds = _UNITS.get(unit)
    if seconds is None or count < 1 or multiple < 1:
        raise ValueError(RATE_EXPECTED)
    return Rate(count, multiple * seconds)


def client_key(request: HttpRequest) -> str:
    """The client's address (after trusted-proxy handling); ``"-"`` off a socket."""
    client = request.client
    return client[0] if client else "-"


def header_key(name: str) -> KeyFunc:
    """A key function reading the header ``name`` (an API key), falling back to the client address."""
    lowered = name.lower()

    def key(request: HttpRequest) -> str:
        value = request.headers.get(lowered)
        return f"{lowered}={value}" if value else client_key(request)

    return key


def key_function(spec: str | KeyFunc) -> KeyFunc:
    """The key function ``spec`` names: ``"client"``, ``"header:X-API-Key"``, ``"module:function"``
    or a callable (returned as is). ValueError when it names nothing usable."""
    if callable(spec):
        return spec
    if spec == "client":
        return client_key
    if spec.startswith("header:") and spec[7:].strip():
        return header_key(spec[7:].strip())
    module, _, attr = spec.partition(":")
    if not module or not attr:
        raise ValueError("'client', 'header:<name>' or 'module:function'")
    try:
        found = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"an importable 'module:function' ({exc})") from exc
    if not callable(found):
        raise ValueError("'module:function' naming a callable")
    key: KeyFunc = found
    return key
