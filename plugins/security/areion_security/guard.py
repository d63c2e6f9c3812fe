"""The plugin's work per app: each route's policies decided at startup, applied per request.

Where each feature acts, and why there:

- ``request_started`` (every request, matched or not, before any cache or handler): trusted
  hosts, then CORS preflights — answered here because routing would turn an ``OPTIONS`` into
  a 405 or its automatic 204, neither of which a browser accepts;
- ``request_received`` (per route, ``tryfirst``: before the cache can answer a hit): CSRF,
  then the rate limit, so cached answers are limited too;
- ``response_ready`` (every response, replayed cache hits included, ``trylast``: after the cache
  stored the response, so stored copies carry none of our per-request headers): CORS headers
  of the request being answered, security headers, RateLimit headers.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Mapping
from typing import TYPE_CHECKING, Any

from areion_core import ConfigError, HttpRequest, HttpResponse, RouteError, problem_response
from areion_core.plugin_api import HeaderBlock

from .cors import CorsPolicy, cors_settings_for, preflight_of
from .csrf import CsrfGuard
from .decorators import CORS_OPTION, CSRF_OPTION, HEADERS_OPTION, RATE_LIMIT_OPTION
from .headers import HeaderSet, headers_settings_for
from .hosts import HostAllowList
from .limiter import LimitRule, RateLimiter, stamp_rate_limit
from .rates import ALGORITHMS, client_key, key_function, parse_rate
from .settings import RateLimitSettings, RouteLimit, SecuritySettings

if TYPE_CHECKING:
    from areion_core import PluginApp, Route

log = logging.getLogger("areion.security")
#: ``response.extensions`` key marking our preflight answers (their CORS headers are final).
PREFLIGHT = "security.preflight"
#: Most merged header blocks one route keeps (one per origin seen, and scheme).
_MEMO_SIZE = 256


class RouteSecurity:
    """What one route gets: its CORS policy, headers, CSRF check and limits (None: feature off).

    The headers a response gets from CORS and the security headers together are one block per
    request origin (and scheme, when HSTS is on), merged and encoded once (:meth:`block`): an
    ordinary response — fresh, none of the block's headers of its own — gets them in one
    ``HeaderBlock.add_to`` (for a handler's usual answer, the block already merged with its
    shared header template), the same as stamping CORS and then the security headers.
    Routes with the app's policies and nothing of their own share one (``unmatched``).
    """

    __slots__ = ("blocks", "cors", "csrf", "headers", "hsts", "limits", "one_block", "secure_blocks")

    def __init__(self, cors: CorsPolicy | None, headers: HeaderSet | None, csrf: bool,
                 limits: Mapping[str, LimitRule]) -> None:
        self.cors = cors
        self.headers = headers
        self.csrf = csrf
        #: Method (or "*" for every method) → its rule.
        self.limits = limits
        #: Whether response_ready may add one merged block (the RateLimit headers, if due, after it).
        self.one_block = cors is not None or headers is not None
        #: Whether an https request gets another block (Strict-Transport-Security).
        self.hsts = headers is not None and headers.secure is not headers.plain
        #: Raw ``Origin`` value (None: none sent) → the merged block, for http and https; bounded.
        self.blocks: dict[bytes | None, HeaderBlock] = {}
        self.secure_blocks: dict[bytes | None, HeaderBlock] = {}

    def hooks(self) -> tuple[str, ...]:
        """The hot hooks this route needs (``hot_hooks_for_route``)."""
        wanted = []
        if self.csrf or self.limits:
            wanted.append("request_received")
        if self.cors is not None or self.headers is not None or self.limits:
            wanted.append("response_ready")
        return tuple(wanted)

    def block(self, origin: bytes | None, https: bool) -> HeaderBlock:
        """The CORS answer for ``origin`` (``Vary: Origin`` first) and the security headers, as
        one encoded block, made once and remembered (in a bounded memo)."""
        pairs: list[tuple[str, str]] = []
        cors = self.cors
        if cors is not None:
            pairs.extend(cors.answer_block(origin.decode("latin-1") if origin is not None else None).items_lower())
        headers = self.headers
        if headers is not None:
            pairs.extend((headers.secure if https else headers.plain).items_lower())
        block = HeaderBlock(pairs)
        memo = self.secure_blocks if https else self.blocks
        if len(memo) >= _MEMO_SIZE:
            memo.clear()  # a flood of made-up origins must not grow it for ever
        memo[origin] = block
        return block


class SecurityGuard:
    """Every feature of one app, built from its settings and its routes' options.

    Slotted: pluggy reads a plugin's ``dir()`` when registering it, which gives a plain
    instance its ``__dict__`` for good, and Python 3.11 then looks each ``self.x`` up the slow
    way (~10 times a slot's cost) in the hot hooks.
    """

    __slots__ = ("_config_limits", "_used_limits", "app", "cors", "csrf", "headers", "hosts", "limiter",
                 "preflights", "proxies_trusted", "routes", "settings", "unmatched")

    def __init__(self, settings: SecuritySettings) -> None:
        self.reset(settings)

    def reset(self, settings: SecuritySettings) -> None:
        """Start over from ``settings`` (the plugin's ``configure``), forgetting every route."""
        self.settings = settings
        self.app: PluginApp | None = None
        self.hosts = HostAllowList(settings.hosts.allowed) if settings.hosts else None
        self.cors = CorsPolicy(settings.cors) if settings.cors else None
        self.headers = HeaderSet(settings.headers) if settings.headers else None
        self.csrf = CsrfGuard(settings.csrf, self._cors_trusts) if settings.csrf else None
        self.limiter = RateLimiter(settings.rate_limit) if settings.rate_limit else None
        self.routes: dict[Route, RouteSecurity] = {}
        #: The app's policies, for requests that matched no route (404, 405, automatic OPTIONS)
        #: and shared by every route with nothing of its own (and so is its memo of blocks).
        self.unmatched = RouteSecurity(self.cors, self.headers, False, {})
        self.preflights = self.cors is not None
        #: Whether the app believes proxies' headers (forwarded_allow_ips): request.host and
        #: .scheme then decide; otherwise the raw Host and the connection do. Set at startup.
        self.proxies_trusted = True
        self._config_limits = dict(settings.rate_limit.routes) if settings.rate_limit else {}
        self._used_limits: set[str] = set()

    # --- startup ---------------------------------------------------------------------------
    def add_route(self, app: PluginApp, route: Route) -> RouteSecurity:
        """Decide ``route``'s policies from the settings and its options (a bad option: RouteError)."""
        self.app = app
        try:
            security = self._route_security(route)
        except ConfigError as exc:  # a route option read like the config: name the route
            raise RouteError(f"route {route.path}: option {exc.key.removeprefix('route ')!r}: got {exc.value!r}, "
                             f"expected {exc.expected}") from None
        self.routes[route] = security
        return security

    def _route_security(self, route: Route) -> RouteSecurity:
        where = f"route {route.path} option"
        options = route.options
        off = self.settings.off
        cors = self.cors
        if CORS_OPTION in options and "cors" not in off:
            value = options[CORS_OPTION]
            cors = None if value is False else CorsPolicy(
                cors_settings_for(self.settings.cors, _mapping(value, where, CORS_OPTION), "route cors"))
            self.preflights = self.preflights or cors is not None
        headers = self.headers
        if HEADERS_OPTION in options and "headers" not in off:
            value = options[HEADERS_OPTION]
            headers = None if value is False else HeaderSet(headers_settings_for(
                self.settings.headers, _mapping(value, where, HEADERS_OPTION), "route security_headers"))
        csrf = self.csrf is not None and options.get(CSRF_OPTION, True) is not False and not _exempt(
            route.path, self.settings.csrf.exempt if self.settings.csrf else ())
        limits = self._limits(route, where)
        if cors is self.cors and headers is self.headers and not csrf and not limits:
            return self.unmatched  # the app's policies and nothing else
        return RouteSecurity(cors, headers, csrf, limits)

    def _limits(self, route: Route, where: str) -> dict[str, LimitRule]:
        if "rate_limit" in self.settings.off:
            return {}
        settings = self.settings.rate_limit or RateLimitSettings()
        limits: dict[str, LimitRule] = {}
        for name, limit in self._config_limits.items():
            method, _, path = name.rpartition(" ")
            if _template(path) == route.path and (not method or method.upper() in route.methods):
                self._used_limits.add(name)
                limits[method.upper() or "*"] = _rule(limit, limit.scope or name, settings, route)
        value = route.options.get(RATE_LIMIT_OPTION)
        if value is not None and value is not False:
            limits = {"*": _rule(_route_limit(value, where), None, settings, route)}
        elif not limits and settings.default is not None and value is not False:
            limits = {"*": _rule(RouteLimit(settings.default), None, settings, route)}
        if limits and self.limiter is None:
            self.limiter = RateLimiter(settings)  # a @rate_limit without the table: the memory store
        return limits

    def check_config(self, app: PluginApp) -> None:
        """Read what the per-request checks need of the app's config; warn about configured
        limits that matched no route (a typo, or a route still to come)."""
        self.proxies_trusted = app.config.forwarded_allow_ips is not None
        for name in self._config_limits:
            if name not in self._used_limits:
                log.warning("[plugins.security.rate_limit.routes] %r matches no route", name)

    # --- per request -----------------------------------------------------------------------
    def request_started(self, request: HttpRequest) -> HttpResponse | None:
        """Refuse a host outside the allow-list; answer a CORS preflight."""
        hosts = self.hosts
        if hosts is not None:
            if self.proxies_trusted:
                host: str | bytes = request.host  # maybe a trusted proxy's X-Forwarded-Host
            else:
                # The Host header as sent (what request.host decodes): the first line as spelled
                # here from nearly every client (RFC 9112 §3.2 asks for it first), else looked for.
                raw = request.raw_headers
                host = raw[0][1] if raw and raw[0][0] == b"Host" else _raw_host(raw)
            if hosts.memo.get(host) is not True and not hosts.allows(host):  # the memo, inline
                return hosts.refusal(host)
        if self.preflights and request.method == "OPTIONS":
            found = preflight_of(request)
            if found is not None:
                return self._preflight(request, *found)
        return None

    def _preflight(self, request: HttpRequest, origin: str, method: str) -> HttpResponse | None:
        app = self.app
        target = app.find_route(method, request.raw_path) if app is not None else None
        policy = self.routes[target].cors if target in self.routes else self.cors
        if policy is None:
            if target is None:
                return None  # no CORS anywhere near this path: routing answers
            response = problem_response(403, f"CORS: route {target.path} does not allow cross-origin requests")
        else:
            response = policy.preflight(request, origin, method)
        response.ext()[PREFLIGHT] = True
        return response

    def request_received(self, request: HttpRequest) -> HttpResponse | Awaitable[HttpResponse | None] | None:
        """The CSRF check, then the route's rate limit."""
        security = self.routes[request.route]  # type: ignore[index]  # only routes we asked for
        if security.csrf:
            refused = self.csrf.check(request)  # type: ignore[union-attr]  # csrf is set with its guard
            if refused is not None:
                return refused
        limits = security.limits
        if limits:
            rule = limits.get(request.method) or limits.get("*")
            if rule is None and request.method == "HEAD":
                rule = limits.get("GET")
            if rule is not None:
                return self.limiter.check(request, rule)  # type: ignore[union-attr]  # made with the rules
        return None

    def response_ready(self, request: HttpRequest, response: HttpResponse) -> None:
        """CORS headers for this request, security headers, RateLimit headers."""
        security = self.routes.get(request.route) or self.unmatched  # type: ignore[arg-type]  # None: unmatched
        if security.one_block and response.extensions is None:
            # A fresh response (not replayed, not our preflight): CORS and the security
            # headers are one block, added whole when the response has none of its headers (no
            # Vary to merge into, no CORS or security header of its own), then the RateLimit
            # headers if due; otherwise each is stamped below, as it would be alone.
            origin = None
            if security.cors is not None:
                for name, value in request.raw_headers:  # the first Origin, as headers.get() finds it
                    if len(name) == 6 and (name == b"Origin" or name.lower() == b"origin"):
                        origin = value
                        break
            # Strict-Transport-Security on https only.
            if security.hsts and (request.scheme == "https" if self.proxies_trusted
                                  else (conn := request.conn) is not None and conn.tls):
                block = security.secure_blocks.get(origin) or security.block(origin, True)
            else:
                block = security.blocks.get(origin) or security.block(origin, False)
            if block.add_to(response.headers):
                if security.limits:
                    stamp_rate_limit(request, response)
                return
        cors = security.cors
        if cors is not None:
            extensions = response.extensions
            if extensions is None or PREFLIGHT not in extensions:
                cors.stamp(request, response)
        header_set = security.headers
        if header_set is not None:
            header_set.apply(request, response)
        if security.limits:
            stamp_rate_limit(request, response)

    def _cors_trusts(self, origin: str) -> bool:
        """CSRF's extra trust: origins the app's CORS policy lets read credentialed answers."""
        cors = self.cors
        return cors is not None and cors.credentials and cors.allows(origin)

    async def close(self) -> None:
        if self.limiter is not None:
            await self.limiter.close()


def _raw_host(raw: list[tuple[bytes, bytes]]) -> bytes:
    """The first ``Host`` of the raw header pairs (b"" without one)."""
    for name, value in raw:
        if len(name) == 4 and name.lower() == b"host":
            return value
    return b""


def _mapping(value: Any, where: str, option: str) -> Mapping[str, Any]:
    if value is True:
        return {}
    if not isinstance(value, Mapping):
        raise RouteError(f"{where} {option!r}: expected a dict of settings or False, got {value!r}")
    return value


def _exempt(path: str, patterns: tuple[str, ...]) -> bool:
    return any(path == p or (p.endswith("*") and path.startswith(p[:-1])) for p in patterns)


def _template(path: str) -> str:
    """``/users/:id`` → ``/users/{id}``, the form ``route.path`` has."""
    return re.sub(r":([A-Za-z_][A-Za-z0-9_]*)", r"{\1}", path)


def _route_limit(value: Any, where: str) -> RouteLimit:
    """A ``rate_limit`` route option: ``"100/minute"`` or a dict from ``@rate_limit``."""
    spec = {"rate": value} if isinstance(value, str) else value
    if not isinstance(spec, Mapping) or "rate" not in spec:
        raise RouteError(f"{where} 'rate_limit': expected a rate such as '100/minute', got {value!r}")
    try:
        rate = parse_rate(spec["rate"])
        key = key_function(spec["key"]) if spec.get("key") is not None else None
    except ValueError as exc:
        raise RouteError(f"{where} 'rate_limit': {exc}, got {value!r}") from None
    algorithm = spec.get("algorithm")
    if algorithm is not None and algorithm not in ALGORITHMS:
        raise RouteError(f"{where} 'rate_limit': algorithm must be one of {', '.join(ALGORITHMS)}, "
                         f"got {algorithm!r}")
    limit = RouteLimit(rate, scope=spec.get("scope"), algorithm=algorithm)
    return limit if key is None else RouteLimit(rate, limit.scope, key, algorithm)


def _rule(limit: RouteLimit, scope: str | None, settings: RateLimitSettings, route: Route) -> LimitRule:
    key = settings.key if limit.key is client_key else limit.key
    return LimitRule(limit.rate, limit.scope or scope or route.path, key,
                     limit.algorithm or settings.algorithm, route.path)
