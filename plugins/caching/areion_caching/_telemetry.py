"""What the cache reports through ``app.telemetry``: lookups by route and result, a span per store lookup."""

from __future__ import annotations

from typing import TYPE_CHECKING

from areion_core import StandardMetrics, Telemetry

if TYPE_CHECKING:
    from areion_core import HttpRequest


_NO_TELEMETRY = Telemetry()


def telemetry(request: HttpRequest) -> Telemetry:
    """The app's recorder, read when reporting (an observability plugin installs one in configure)."""
    app = request.app
    return app.telemetry if app is not None else _NO_TELEMETRY


def report(request: HttpRequest, result: str) -> None:
    """Count one lookup (``hit``, ``miss``, ``stale``) of the request's route."""
    app, route = request.app, request.route
    if app is not None and route is not None:
        app.telemetry.inc(StandardMetrics.cache_lookups, route=route.path, result=result)
