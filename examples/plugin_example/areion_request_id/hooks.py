"""The plugin class: hook implementations only (the logic lives in the other modules).

The core finds this class through the ``areion.plugins`` entry point named ``request_id``
and makes one instance per app, so everything an app needs lives on ``self``.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from areion_core import hookimpl

from . import cli
from .decorators import ROUTE_OPTION
from .settings import RequestIdSettings
from .stamp import RequestIdStamper

if TYPE_CHECKING:
    from areion_core import App, AreionConfig, Route


class RequestIdPlugin(RequestIdStamper):
    """``X-Request-ID`` on every response; ``Server-Timing`` and ``X-Response-Time`` on routed ones.

    The plugin is its own stamper: the two hot hooks are ``RequestIdStamper``'s methods
    themselves, so a request costs the core's call into each and nothing in between.
    """

    #: Matches the entry-point name, so ``with_plugins(RequestIdPlugin())`` behaves the same.
    name = "request_id"

    def __init__(self) -> None:
        super().__init__(RequestIdSettings())
        self.skipped: list[str] = []

    # --- cold hooks: once, at startup -------------------------------------------------------
    @hookimpl
    def configure(self, app: App, config: AreionConfig) -> None:
        # A ConfigError raised here stops startup with the key, the value and what we expected.
        self.apply(RequestIdSettings.from_section(config.section(self.name)))

    @hookimpl
    def route_added(self, app: App, route: Route) -> None:
        value = route.options.get(ROUTE_OPTION, True)
        if not isinstance(value, bool):
            raise TypeError(f"route {route.path!r}: option {ROUTE_OPTION!r} must be true or false, "
                            f"got {value!r}")
        if value is False:
            self.skipped.append(route.path)

    @hookimpl
    def hot_hooks_for_route(self, app: App, route: Route) -> tuple[str, ...] | None:
        # () keeps this plugin out of the route's compiled chains: a skipped route pays nothing.
        return () if route.options.get(ROUTE_OPTION) is False else None

    @hookimpl
    def cli_commands(self, subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
        cli.add_commands(subparsers)

    # --- hot hooks: compiled into each route's call chains ----------------------------------
    # tryfirst: start the clock and pick the id before another plugin (a cache hit) answers.
    request_received = hookimpl(tryfirst=True)(RequestIdStamper.begin)
    # trylast: stamp the response the tryfirst and plain impls settled on, and time them too.
    response_ready = hookimpl(trylast=True)(RequestIdStamper.finish)
