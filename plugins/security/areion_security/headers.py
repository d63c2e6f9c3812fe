"""Security headers with safe defaults, each overridable per route and kept if a response set it.

A response that already carries one of these headers keeps it: a page that knows better
(the openapi plugin's ``/docs`` sends its own Content-Security-Policy, fitted to Swagger UI)
is not overruled. ``Strict-Transport-Security`` goes only on https responses
(``request.scheme``, so a TLS-terminating trusted proxy counts): over plain http a browser
ignores it, and sending it from a development server would pin ``localhost`` to https.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

from areion_core import HttpRequest, HttpResponse, MutableHeaders
from areion_core.plugin_api import SettingsReader

from .settings import DEFAULT_CSP, HeadersSettings, read_headers


def headers_settings_for(base: HeadersSettings | None, overrides: Mapping[str, Any], where: str) -> HeadersSettings:
    """``base`` (or the defaults) with a route's ``@security_headers(...)`` overrides, validated.

    A ``csp`` override is a table of directives laid over ``base``'s (``""`` or False drops one);
    ``csp=False`` sends no policy on the route.
    """
    base = base or HeadersSettings()
    merged: dict[str, Any] = asdict(base)
    base_csp = merged.pop("csp")
    if base_csp is None:
        merged["csp"] = False
    else:
        # read_headers lays a table over the default directives: drop the defaults base dropped.
        merged["csp"] = {**{name: "" for name in DEFAULT_CSP if name not in base_csp},
                         **{name: (True if value == "" else value) for name, value in base_csp.items()}}
    for name, value in overrides.items():
        if name == "csp" and isinstance(value, Mapping) and isinstance(merged["csp"], dict):
            merged["csp"] = {**merged["csp"], **value}
        else:
            merged[name] = value
    return read_headers(SettingsReader(where, merged))


def csp_text(directives: Mapping[str, str]) -> str:
    """``{"default-src": "'self'"}`` → ``"default-src 'self'"`` (directives joined by ``; ``)."""
    return "; ".join(f"{name} {value}".rstrip() for name, value in directives.items())


def _encoded(pairs: list[tuple[str, str]]) -> MutableHeaders:
    """A header block validated and encoded once (for ``MutableHeaders.add_missing``)."""
    block = MutableHeaders(pairs)
    block.preencode()
    return block


class HeaderSet:
    """The security headers of one route (or of the app), validated once at startup."""

    __slots__ = ("plain", "secure")

    def __init__(self, settings: HeadersSettings) -> None:
        pairs: list[tuple[str, str]] = []
        if settings.content_type_options:
            pairs.append(("x-content-type-options", "nosniff"))
        if settings.referrer_policy:
            pairs.append(("referrer-policy", settings.referrer_policy))
        if settings.frame_options:
            pairs.append(("x-frame-options", settings.frame_options))
        if settings.cross_origin_opener_policy:
            pairs.append(("cross-origin-opener-policy", settings.cross_origin_opener_policy))
        if settings.csp is not None:
            name = ("content-security-policy-report-only" if settings.csp_report_only
                    else "content-security-policy")
            pairs.append((name, csp_text(settings.csp)))
        self.plain = self.secure = _encoded(pairs)
        if settings.hsts:
            hsts = f"max-age={settings.hsts_max_age}"
            if settings.hsts_include_subdomains:
                hsts += "; includeSubDomains"
            if settings.hsts_preload:
                hsts += "; preload"
            self.secure = _encoded([*pairs, ("strict-transport-security", hsts)])

    def apply(self, request: HttpRequest, response: HttpResponse) -> None:
        """Add each header the response does not already carry."""
        secure = self.secure
        response.headers.add_missing(
            secure if secure is not self.plain and request.scheme == "https" else self.plain)
