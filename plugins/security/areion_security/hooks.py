"""The plugin class: hook implementations only (the logic lives in ``guard`` and its modules)."""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING

from areion_core import hookimpl

from .guard import SecurityGuard
from .settings import SecuritySettings

if TYPE_CHECKING:
    from areion_core import App, AreionConfig, Route


class SecurityPlugin(SecurityGuard):
    """CORS, trusted hosts, rate limits, security headers and CSRF (``[plugins.security.*]``).

    The plugin is its app's :class:`SecurityGuard` (made again from the config in
    ``configure``), so the hot hooks below are the guard's own methods: one call per hook
    and request, not a call that forwards to another.
    """

    __slots__ = ()
    name = "security"

    def __init__(self) -> None:
        super().__init__(SecuritySettings())

    @hookimpl
    def configure(self, app: App, config: AreionConfig) -> None:
        self.reset(SecuritySettings.from_section(config.section(self.name)))

    @hookimpl
    def route_added(self, app: App, route: Route) -> None:
        self.add_route(app, route)

    @hookimpl
    def hot_hooks_for_route(self, app: App, route: Route) -> Collection[str]:
        # A route with nothing to check or stamp keeps this plugin out of its chains.
        return self.routes[route].hooks()

    @hookimpl
    def startup(self, app: App) -> None:
        self.check_config(app)

    @hookimpl
    async def shutdown(self, app: App) -> None:
        await self.close()

    # --- hot hooks: the guard's methods -------------------------------------------------------
    # request_started: every request, before routing's answers, any cache and any handler
    # (refuse a host outside the allow-list, answer a CORS preflight).
    request_started = hookimpl(SecurityGuard.request_started)
    # tryfirst: CSRF and rate limits run before the cache (trylast) can answer a hit.
    request_received = hookimpl(tryfirst=True)(SecurityGuard.request_received)
    # Not skip_replayed: a cache hit must carry the CORS headers of *this* request's origin.
    # trylast: the cache (trylast, registered earlier) stores the response before we stamp
    # per-request headers on it, and we stamp whatever response the others settled on.
    response_ready = hookimpl(trylast=True)(SecurityGuard.response_ready)
