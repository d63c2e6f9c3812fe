"""What the caching plugin does on one route, decided once when the route is added."""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any, TypeVar

from .cache_control import ROUTE_OPTION as CACHE_CONTROL_OPTION
from .cache_control import CacheControl
from .rules import CACHE_OPTION, ETAG_OPTION, CacheRule
from .settings import CachingSettings

if TYPE_CHECKING:
    from areion_core import Route

T = TypeVar("T")

#: Name of the core's route that serves ``static_dir``.
STATIC_ROUTE = "static"


@dataclass(frozen=True, slots=True)
class RoutePolicy:
    """Server-side caching, Cache-Control and ETag settings of one route."""

    rule: CacheRule | None = None
    cache_control: CacheControl | None = None
    etag: bool = False

    @property
    def active(self) -> bool:
        return self.rule is not None or self.cache_control is not None or self.etag

    @property
    def refreshes_in_background(self) -> bool:
        """Whether a stale copy is served while the handler runs again (stale-while-revalidate)."""
        return self.rule is not None and bool(self.rule.stale_while_revalidate)

    def hot_hooks(self) -> tuple[str, ...]:
        if self.rule is not None:
            return ("request_received", "response_ready", "response_sent")
        if self.cache_control is not None or self.etag:
            return ("response_ready",)
        return ()


def _match(patterns: dict[str, T], path: str) -> T | None:
    for pattern, value in patterns.items():
        if fnmatchcase(path, pattern):
            return value
    return None


def policy_for(route: Route, settings: CachingSettings) -> RoutePolicy:
    """Combine the route's own options (decorators, ``add_route`` keywords) with config defaults.

    A route's own option wins over a config pattern; ``cache=False`` on a route turns off
    caching a pattern would give it. Only routes answering GET can be cached.
    """
    options: dict[str, Any] = dict(route.options or {})
    where = f"route {route.path!r} ({route.name})"
    if CACHE_OPTION in options:
        rule = CacheRule.from_value(options[CACHE_OPTION], f"{where} option {CACHE_OPTION!r}")
    else:
        rule = _match(settings.routes, route.path)
    if rule is not None:
        rule = rule.with_default_ttl(settings.default_ttl)
        if "GET" not in route.methods:
            rule = None
    if CACHE_CONTROL_OPTION in options and options[CACHE_CONTROL_OPTION] is not None:
        control: CacheControl | None = CacheControl.from_config(options[CACHE_CONTROL_OPTION])
    else:
        control = _match(settings.cache_control, route.path)
        if control is None and route.name == STATIC_ROUTE:
            control = settings.static_cache_control
    etag = bool(options.get(ETAG_OPTION)) or any(fnmatchcase(route.path, p) for p in settings.etag)
    return RoutePolicy(rule, control, etag)
