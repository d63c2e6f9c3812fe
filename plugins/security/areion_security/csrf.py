"""CSRF: refuse cross-site unsafe requests that carry cookies, by Fetch metadata.

The choice: Fetch-metadata checks (``Sec-Fetch-Site``), with an ``Origin``/``Referer`` fallback,
rather than a double-submit token. Every browser Areion targets sends ``Sec-Fetch-Site`` on
every request, the check needs no token in forms or JavaScript, no state, and works for JSON
APIs and HTML forms alike. The rule, for an unsafe method (``POST``, ``PUT``, ``PATCH``,
``DELETE``...) on a request that carries a ``Cookie`` (the only kind a forged cross-site
request can abuse — an ``Authorization`` header is never attached by the browser on its own):

- ``Sec-Fetch-Site: same-origin`` or ``none`` (typed in, a bookmark) → allowed;
- ``same-site`` → refused unless ``allow_same_site``;
- ``cross-site`` → allowed only from a trusted origin (``trusted_origins``, and the CORS
  allow-list when CORS allows credentials: a site you let read your cookies' answers may
  also send them);
- no ``Sec-Fetch-Site`` (an old browser, or not a browser) → ``Origin`` (else ``Referer``)
  must be this site's own origin or a trusted one; with neither, the request did not come
  from a browser page and is allowed.

A refusal is a 403 problem+json.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

from areion_core import HttpRequest, HttpResponse, problem_response

from .settings import CsrfSettings

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
_DEFAULT_PORTS = {"http": "80", "https": "443"}


def origin_of(url: str) -> str | None:
    """The origin (``scheme://host[:port]``) of an absolute URL, or None."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if not parts.scheme or not parts.netloc:
        return None
    host = parts.netloc.rpartition("@")[2]
    return f"{parts.scheme.lower()}://{host.lower()}"


def _without_default_port(origin: str) -> str:
    scheme, _, host = origin.partition("://")
    port = _DEFAULT_PORTS.get(scheme)
    if port is not None and host.endswith(":" + port):
        host = host[: -len(port) - 1]
    return f"{scheme}://{host}"


class CsrfGuard:
    """The check of one app; ``trusted(origin)`` extends the allow-list beyond the site itself."""

    __slots__ = ("allow_same_site", "extra", "trusted")

    def __init__(self, settings: CsrfSettings, extra: Callable[[str], bool] | None = None) -> None:
        self.allow_same_site = settings.allow_same_site
        self.trusted = frozenset(settings.trusted_origins)
        self.extra = extra

    def check(self, request: HttpRequest) -> HttpResponse | None:
        """None to let ``request`` through; a 403 when it is a cross-site forgery candidate."""
        if request.method in SAFE_METHODS:
            return None
        headers = request.headers
        if "cookie" not in headers:
            return None
        site = headers.get("sec-fetch-site")
        origin = headers.get("origin")
        if site is not None:
            site = site.strip().lower()
            if site in ("same-origin", "none") or (site == "same-site" and self.allow_same_site):
                return None
            if origin is not None and self._trusted(origin.lower()):
                return None
            return self._refuse(f"a {site} request")
        if origin is None:
            referer = headers.get("referer")
            origin = origin_of(referer) if referer else None
            if origin is None:
                return None  # no browser signal at all: not a page's request
        origin = origin.lower()
        if origin != "null":
            own = _without_default_port(f"{request.scheme}://{request.host.lower()}")
            if _without_default_port(origin) == own or self._trusted(origin):
                return None
        return self._refuse(f"a request from {origin}")

    def _trusted(self, origin: str) -> bool:
        return origin in self.trusted or (self.extra is not None and self.extra(origin))

    @staticmethod
    def _refuse(what: str) -> HttpResponse:
        return problem_response(403, f"CSRF: {what} with cookies is refused on this route")
