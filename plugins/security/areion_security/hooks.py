"""The plugin class: hook implementations only (the logic lives in ``guard`` and its modules)."""

from __future__ import annotations

from collections.abc import Awaitable, Collection
from typing import TYPE_CHECKING

from areion_core import hookimpl

from .guard import SecurityGuard
from .settings import SecuritySettings

if TYPE_CHECKING:
    from areion_core import App, AreionConfig, HttpRequest, HttpResponse, Route


class SecurityPlugin:
    """CORS, trusted hosts, rate limits, security headers and CSRF (``[plugins.security.*]``)."""

    name = "security"

    def __init__(self) -> None:
        self.guard = SecurityGuard(SecuritySettings())

    @hookimpl
    def configure(self, app: App, config: AreionConfig) -> None:
        self.guard = SecurityGuard(SecuritySettings.from_section(config.section(self.name)))

    @hookimpl
    def route_added(self, app: App, route: Route) -> None:
        self.guard.add_route(app, route)

    @hookimpl
    def hot_hooks_for_route(self, app: App, route: Route) -> Collection[str]:
        # A route with nothing to check or stamp keeps this plugin out of its chains.
        return self.guard.routes[route].hooks()

    @hookimpl
    def startup(self, app: App) -> None:
        self.guard.check_config()

    @hookimpl
    async def shutdown(self, app: App) -> None:
        await self.guard.close()

    # --- hot hooks ------------------------------------------------------------------------
    @hookimpl
    def request_started(self, request: HttpRequest) -> HttpResponse | None:
        return self.guard.request_started(request)

    @hookimpl(tryfirst=True)
    def request_received(self, request: HttpRequest) -> HttpResponse | Awaitable[HttpResponse | None] | None:
        # tryfirst: CSRF and rate limits run before the cache (trylast) can answer a hit.
        return self.guard.request_received(request)

    # Not @skip_replayed: a cache hit must carry the CORS headers of *this* request's origin.
    @hookimpl(trylast=True)
    def response_ready(self, request: HttpRequest, response: HttpResponse) -> None:
        # trylast: the cache (trylast, registered earlier) stores the response before we stamp
        # per-request headers on it, and we stamp whatever response the others settled on.
        self.guard.response_ready(request, response)
