"""The caching plugin's hook implementations (wiring only; the logic lives in the modules)."""

from __future__ import annotations

import argparse
from collections.abc import Awaitable
from typing import TYPE_CHECKING

from areion_core import Telemetry, hookimpl, skip_replayed

from . import cli
from ._pipeline import response_ready_chain
from ._unsafe import SAFE_METHODS
from .policy import RoutePolicy, policy_for, with_invalidation
from .representation import add_etag
from .response_cache import STATE_KEY, ResponseCache
from .settings import CachingSettings

if TYPE_CHECKING:
    from areion_core import App, AreionConfig, HttpRequest, HttpResponse, Route

    from .response_cache import Handler


class CachingPlugin:
    """Server-side response cache, Cache-Control and ETags for an Areion app (one per app).

    The hot hooks are plain functions that return an awaitable only when there is I/O to
    do, so a memory-store hit costs no coroutine at all.
    """

    name = "caching"

    def __init__(self) -> None:
        self.settings = CachingSettings()
        #: One cache for the plugin's life (``configure`` sets it up again in place).
        self.cache = ResponseCache(self.settings)
        # Keyed by the Route object: route names need not be unique across routers.
        self.policies: dict[Route, RoutePolicy] = {}

    @hookimpl
    def configure(self, app: App, config: AreionConfig) -> None:
        self.settings = CachingSettings.from_section(config.section(self.name))
        self.settings.check_hook_timeout(config.hook_timeout)
        self.cache.configure(self.settings, app.logger, normalizers=lambda: app.vary_normalizers)
        self.cache.response_ready_chain = response_ready_chain(self.name, self.apply_cache_control)
        app.state[STATE_KEY] = self.cache
        # The hot request_received, bound to the cache itself: the compiled chains call it
        # (read when the app is built), with no call through this class in between — a hit
        # is the path that must cost least. The method below stays the registered hookimpl.
        self.request_received = self.cache.on_request  # type: ignore[method-assign]

    @hookimpl
    def route_added(self, app: App, route: Route) -> None:
        policy = policy_for(route, self.settings)
        if policy.active:
            self.policies[route] = policy

    @hookimpl
    def hot_hooks_for_route(self, app: App, route: Route) -> tuple[str, ...]:
        # Every route_added has run: whether an unsafe route shares a cached path is known.
        policy = with_invalidation(route, self.policies, self.settings, self.cache)
        if policy is None:
            return ()
        self.policies[route] = policy
        if policy.rule is not None:
            self.cache.rules[route] = policy.rule
        return policy.hot_hooks()

    @hookimpl(trylast=True)
    def wrap_handler(self, app: App, route: Route, handler: Handler) -> None:
        # Kept (not wrapped) so a stale-while-revalidate refresh can run the route again;
        # trylast makes it the outermost handler, with every other plugin's wrapper inside.
        policy = self.policies.get(route)
        if policy is not None and policy.refreshes_in_background:
            self.cache.handlers[route] = handler

    @hookimpl
    def cli_commands(self, subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
        cli.add_commands(subparsers)

    @hookimpl
    def startup(self, app: App) -> None:
        # The recorder is installed by now (configure): the core's own records nothing.
        self.cache.report_hits = app.telemetry.__class__ is not Telemetry
        # Only entries need invalidating: an app that caches no route joins no sibling group.
        if any(policy.rule is not None for policy in self.policies.values()):
            self.cache.join_siblings()

    @hookimpl
    async def shutdown(self, app: App) -> None:
        await self.cache.close()

    # --- hot hooks ------------------------------------------------------------------------
    @hookimpl(trylast=True)
    def request_received(
        self, request: HttpRequest
    ) -> HttpResponse | Awaitable[HttpResponse | None] | None:
        # trylast: other plugins (auth, rate limits) see the request before a hit answers it.
        return self.cache.on_request(request)

    # Both response_ready impls skip hits: a hit replays the headers as stored, Cache-Control
    # and validators among them, and is already in the store.
    @skip_replayed
    @hookimpl(tryfirst=True, specname="response_ready")
    def apply_cache_control(self, request: HttpRequest, response: HttpResponse) -> None:
        # tryfirst: compression and others must see no-transform and friends.
        route = request.route
        policy = self.policies.get(route) if route is not None else None
        if policy is not None and policy.cache_control is not None:
            policy.cache_control.apply(response)

    @skip_replayed
    @hookimpl(trylast=True)
    def response_ready(
        self, request: HttpRequest, response: HttpResponse
    ) -> Awaitable[HttpResponse | None] | None:
        # trylast: store what is really sent, after compression made its variant.
        route = request.route
        policy = self.policies.get(route) if route is not None else None
        if policy is None:
            return None
        if policy.invalidates and request.method not in SAFE_METHODS:
            if policy.etag:
                add_etag(response)
            return self.cache.after_unsafe(request, response)
        if policy.rule is not None and self.cache.pending(request):
            return self.cache.on_miss_response(request, response, etag=policy.etag)
        if policy.etag:
            add_etag(response)
        return None

    @skip_replayed  # a hit has nothing to release
    @hookimpl
    def response_sent(self, request: HttpRequest, response: HttpResponse) -> Awaitable[None] | None:
        # Normally nothing to do: response_ready released it. This covers a response_ready
        # chain that broke before reaching this plugin.
        return self.cache.finish(request) if self.cache.needs_finish(request) else None

