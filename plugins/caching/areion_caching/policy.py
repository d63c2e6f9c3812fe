"""What the caching plugin does on one route, decided once when the route is added."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any, TypeVar

from ._unsafe import SAFE_METHODS, CachedPaths
from .cache_control import ROUTE_OPTION as CACHE_CONTROL_OPTION
from .cache_control import CacheControl
from .rules import CACHE_OPTION, ETAG_OPTION, CacheRule
from .settings import CachingSettings

if TYPE_CHECKING:
    from areion_core import Route

    from ._invalidation import Invalidation

T = TypeVar("T")

#: Name of the core's route that serves ``static_dir``.
STATIC_ROUTE = "static"


@dataclass(frozen=True, slots=True)
class RoutePolicy:
    """Server-side caching, Cache-Control and ETag settings of one route."""

    rule: CacheRule | None = None
    cache_control: CacheControl | None = None
    etag: bool = False
    #: Its unsafe-method answers invalidate cached GET entries (``invalidate_on_unsafe``).
    invalidates: bool = False

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
        if self.cache_control is not None or self.etag or self.invalidates:
            return ("response_ready",)
        return ()


def with_invalidation(
    route: Route, policies: Mapping[Route, RoutePolicy], settings: CachingSettings,
    cache: Invalidation,
) -> RoutePolicy | None:
    """``route``'s policy, marked to invalidate if an unsafe answer on it can make entries stale.

    That is: ``invalidate_on_unsafe`` is on, the route answers a method other than GET, HEAD,
    OPTIONS and TRACE, and its path is related to a cached GET route's
    (:meth:`CachedPaths.related`: the same path, a parent or a child). Called once all routes
    are known (``hot_hooks_for_route``), when the cache learns the cached routes' paths; other
    routes keep the policy they had (None: the plugin stays out of their chains).
    """
    policy = policies.get(route)
    if not settings.invalidate_on_unsafe or route.methods <= SAFE_METHODS:
        return policy
    cached = cache.cached_paths
    if cached is None:
        cached = cache.cached_paths = CachedPaths(r for r, p in policies.items() if p.rule is not None)
    if not cached.related(route):
        return policy
    return replace(policy, invalidates=True) if policy is not None else RoutePolicy(invalidates=True)


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
