"""Per-route switches: decorators that set route options (``router.get(..., cors=...)`` works too).

Each decorator works above or below ``@router.get(...)``: options are read when the app is
built, where a bad value stops startup naming the route.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from areion_core import set_route_option

from .rates import KeyFunc

F = TypeVar("F", bound=Callable[..., Any])

#: The route options the plugin reads.
CORS_OPTION = "cors"
RATE_LIMIT_OPTION = "rate_limit"
HEADERS_OPTION = "security_headers"
CSRF_OPTION = "csrf"


def cors(
    enabled: bool = True,
    *,
    origins: Iterable[str] | None = None,
    origin_regex: str | None = None,
    methods: Iterable[str] | None = None,
    headers: Iterable[str] | None = None,
    expose_headers: Iterable[str] | None = None,
    credentials: bool | None = None,
    max_age: int | None = None,
) -> Callable[[F], F]:
    """This route's CORS policy: the app's ``[plugins.security.cors]`` with these keys replaced.

    ``@cors(False)`` sends no CORS headers on the route (the browser keeps other origins out);
    ``@cors(origins=["https://partner.example"])`` opens it to one more site. A route with
    ``@cors(...)`` gets CORS even when the app has no ``[plugins.security.cors]`` table.
    """
    given = {"origins": origins, "origin_regex": origin_regex, "methods": methods, "headers": headers,
             "expose_headers": expose_headers, "credentials": credentials, "max_age": max_age}
    value: Any = {k: list(v) if isinstance(v, Iterable) and not isinstance(v, str) else v
                  for k, v in given.items() if v is not None} if enabled else False
    return _option(CORS_OPTION, value)


def rate_limit(
    rate: str, *, scope: str | None = None, key: str | KeyFunc | None = None, algorithm: str | None = None,
) -> Callable[[F], F]:
    """Limit this route to ``rate`` (``"100/minute"``) per client, or per ``key(request)``.

    Routes given the same ``scope`` share one counter (a group: ``scope="api"``);
    ``algorithm`` is ``"fixed-window"`` or ``"token-bucket"`` (default: the config's).
    Needs ``[plugins.security.rate_limit]`` (it chooses the store).
    """
    value: dict[str, Any] = {"rate": rate}
    if scope is not None:
        value["scope"] = scope
    if key is not None:
        value["key"] = key
    if algorithm is not None:
        value["algorithm"] = algorithm
    return _option(RATE_LIMIT_OPTION, value)


def security_headers(enabled: bool = True, **overrides: Any) -> Callable[[F], F]:
    """This route's security headers: ``[plugins.security.headers]`` with ``overrides`` on top.

    Keys as in the config (``referrer_policy="no-referrer"``, ``hsts=False``...); ``csp`` is a
    dict of directives laid over the app's (``csp={"script-src": "'self' 'unsafe-inline'"}``) or
    False for none. ``@security_headers(False)`` sends none of them on the route.
    """
    return _option(HEADERS_OPTION, dict(overrides) if enabled else False)


def csrf_exempt(func: F) -> F:
    """Skip the CSRF check on this route (a webhook called by another site with its own auth)."""
    set_route_option(func, CSRF_OPTION, False)
    return func


def _option(name: str, value: Any) -> Callable[[F], F]:
    def decorate(func: F) -> F:
        set_route_option(func, name, value)
        return func

    return decorate
