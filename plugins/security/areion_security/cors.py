"""CORS as the Fetch standard defines it: preflights answered, actual responses stamped.

The browser enforces CORS; the server only says, per response, which origin may read it.
So the rules here are about never saying too much:

- ``Access-Control-Allow-Origin`` names the request's own origin (or ``*`` when any origin is
  allowed and credentials are not), never a list and never ``*`` with credentials;
- ``Vary: Origin`` on every response, so no cache (ours or a CDN's) hands one origin's
  answer to another;
- a refused preflight carries no ``Access-Control-Allow-*`` header at all: it is a 403
  problem+json (the browser fails it either way; the status and ``detail`` tell a developer
  reading the network panel or curl *why*);
- a stored (replayed) response gets the headers of the request being answered: stale
  ``Access-Control-*`` headers are removed before ours are set.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from areion_core import REPLAYED, HttpRequest, HttpResponse, MutableHeaders, problem_response
from areion_core.plugin_api import SettingsReader

if TYPE_CHECKING:
    from .settings import CorsSettings

#: Request headers a preflight never has to ask for (Fetch's CORS-safelisted request headers).
SAFELISTED = frozenset({"accept", "accept-language", "content-language", "content-type"})
_STAMPED = ("access-control-allow-origin", "access-control-allow-credentials", "access-control-expose-headers")
_PREFLIGHT_VARY = ("Origin", "Access-Control-Request-Method", "Access-Control-Request-Headers")
_LABELS = r"[a-z0-9-]+(?:\.[a-z0-9-]+)*"
_MEMO_SIZE = 256
_UNSEEN: Any = object()


def cors_settings_for(base: CorsSettings | None, overrides: Mapping[str, Any], where: str) -> CorsSettings:
    """``base`` (or the defaults) with a route's ``@cors(...)`` overrides, validated like the config."""
    # Imported here, not at the top: the package imports this module eagerly (its ``cors``
    # decorator shares the module's name) and ``settings`` is 0.6 MB an app need not hold.
    from .settings import CorsSettings, read_cors

    merged: dict[str, Any] = {k: list(v) if isinstance(v, tuple) else v
                              for k, v in asdict(base or CorsSettings()).items()}
    if merged["origin_regex"] is None:
        del merged["origin_regex"]
    merged.update({k: list(v) if isinstance(v, tuple | set | frozenset) else v for k, v in overrides.items()})
    return read_cors(SettingsReader(where, merged))


class OriginMatcher:
    """Whether an origin is on the allow-list: exact, ``https://*.example.com`` or a regex."""

    __slots__ = ("any", "exact", "pattern")

    def __init__(self, origins: tuple[str, ...], regex: str | None) -> None:
        self.any = "*" in origins
        self.exact = frozenset(o for o in origins if "*" not in o)
        alternatives = [re.escape(o).replace(r"\*\.", _LABELS + r"\.") for o in origins if "*" in o and o != "*"]
        if regex:
            alternatives.append(f"(?:{regex})")
        self.pattern = re.compile("|".join(alternatives)) if alternatives else None

    def __call__(self, origin: str) -> bool:
        if self.any or origin in self.exact:
            return True
        pattern = self.pattern
        return pattern is not None and pattern.fullmatch(origin) is not None


class CorsPolicy:
    """One CORS policy (the app's, or a route's override), with its header values made once."""

    __slots__ = ("allow_headers", "answers", "any_header", "any_method", "credentials", "expose", "matcher",
                 "max_age", "methods", "methods_text", "settings", "wildcard")

    def __init__(self, settings: CorsSettings) -> None:
        self.settings = settings
        self.matcher = OriginMatcher(settings.origins, settings.origin_regex)
        self.credentials = settings.credentials
        # "*" in the response only when any origin is allowed and cookies are not (Fetch §3.2.5).
        self.wildcard = self.matcher.any and not settings.credentials
        self.any_method = "*" in settings.methods
        self.methods = frozenset(settings.methods)
        self.methods_text = ", ".join(settings.methods)
        self.any_header = "*" in settings.headers
        self.allow_headers = frozenset(settings.headers) | SAFELISTED
        self.expose = ", ".join(settings.expose_headers)
        self.max_age = str(settings.max_age)
        #: Origin → the headers its actual responses get (None: refused); bounded.
        self.answers: dict[str, tuple[MutableHeaders, MutableHeaders] | None] = {}

    def allows(self, origin: str) -> bool:
        """Whether ``origin`` may read this policy's responses."""
        return self.matcher(origin.lower())

    def stamp(self, request: HttpRequest, response: HttpResponse) -> None:
        """Set the headers of an actual (non-preflight) response.

        A replayed (cached) response carries the headers of the request that made it: they are
        removed first. A fresh response whose handler set ``Access-Control-Allow-Origin`` itself
        is left as the handler made it (``Vary: Origin`` added).
        """
        headers = response.headers
        extensions = response.extensions
        if extensions is not None and REPLAYED in extensions:
            for name in _STAMPED:
                if name in headers:
                    del headers[name]
        elif "access-control-allow-origin" in headers:
            headers.add_vary("Origin")
            return
        origin = request.headers.get("origin")
        answer = None
        if origin is not None:
            answer = self.answers.get(origin, _UNSEEN)
            if answer is _UNSEEN:
                answer = self._answer(origin)
        if "vary" in headers:
            headers.add_vary("Origin")
            if answer is not None:
                headers.add_missing(answer[0])
        else:  # the usual case: Vary and the answer in one merge of pre-encoded lines
            headers.add_missing(_VARY_ORIGIN if answer is None else answer[1])

    def _answer(self, origin: str) -> tuple[MutableHeaders, MutableHeaders] | None:
        """The headers an allowed ``origin`` gets, without and with ``Vary: Origin`` (None:
        refused), remembered in a bounded memo."""
        answer = None
        if self.matcher(origin.lower()):
            pairs = [("access-control-allow-origin", "*" if self.wildcard else origin)]
            if self.credentials:
                pairs.append(("access-control-allow-credentials", "true"))
            if self.expose:
                pairs.append(("access-control-expose-headers", self.expose))
            answer = (_encoded(pairs), _encoded([("vary", "Origin"), *pairs]))
        if len(self.answers) >= _MEMO_SIZE:
            self.answers.clear()  # a flood of made-up origins must not grow it for ever
        self.answers[origin] = answer
        return answer

    def answer_block(self, origin: str | None) -> MutableHeaders:
        """What :meth:`stamp` adds to a response with neither ``Vary`` nor
        ``Access-Control-Allow-Origin`` for a request from ``origin`` (None: none sent):
        ``Vary: Origin``, then the answer when the origin is allowed."""
        if origin is None:
            return _VARY_ORIGIN
        answer = self.answers.get(origin, _UNSEEN)
        if answer is _UNSEEN:
            answer = self._answer(origin)
        return _VARY_ORIGIN if answer is None else answer[1]

    def preflight(self, request: HttpRequest, origin: str, method: str) -> HttpResponse:
        """The answer to a preflight: 204 with the ``Access-Control-Allow-*`` set, or a 403."""
        vary = {"vary": ", ".join(_PREFLIGHT_VARY)}
        if not self.matcher(origin.lower()):
            return problem_response(403, f"CORS: origin {origin} is not allowed", headers=vary)
        if not self.any_method and method not in self.methods:
            return problem_response(403, f"CORS: method {method} is not allowed", headers=vary)
        requested = request.headers.get("access-control-request-headers") or ""
        names = [n.strip().lower() for n in requested.split(",") if n.strip()]
        if not self.any_header:
            refused = [n for n in names if n not in self.allow_headers]
            if refused:
                return problem_response(403, f"CORS: header(s) {', '.join(refused)} not allowed", headers=vary)
        headers = {
            **vary,
            "access-control-allow-origin": "*" if self.wildcard else origin,
            # Echo the method: a "*" means any only without credentials (Fetch), echoing works always.
            "access-control-allow-methods": method if self.any_method else self.methods_text,
            "access-control-max-age": self.max_age,
        }
        if names:
            headers["access-control-allow-headers"] = ", ".join(names)
        if self.credentials:
            headers["access-control-allow-credentials"] = "true"
        return HttpResponse(None, 204, headers=headers)


def _encoded(pairs: list[tuple[str, str]]) -> MutableHeaders:
    """A header block validated and encoded once (for ``MutableHeaders.add_missing``)."""
    block = MutableHeaders(pairs)
    block.preencode()
    return block


_VARY_ORIGIN = _encoded([("vary", "Origin")])


def preflight_of(request: HttpRequest) -> tuple[str, str] | None:
    """``(origin, requested method)`` when ``request`` is a CORS preflight, else None."""
    headers = request.headers
    origin = headers.get("origin")
    if origin is None:
        return None
    method = headers.get("access-control-request-method")
    if not method:
        return None
    return origin, method.strip().upper()
