"""The ``[plugins.security]`` section: one table per feature, each feature on only when present.

```toml
[plugins.security.cors]        # CORS (Fetch standard)
[plugins.security.hosts]       # trusted Host allow-list
[plugins.security.rate_limit]  # rate limits, memory or Redis
[plugins.security.headers]     # HSTS, nosniff, Referrer-Policy, CSP...
[plugins.security.csrf]        # Fetch-metadata CSRF checks
```

A table that is absent (or has ``enabled = false``) leaves its feature off and costs nothing.
A bad value stops startup with the full key (``plugins.security.cors.max_age``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from areion_redis import RedisSettings

from areion_core.plugin_api import SettingsReader

from .rates import ALGORITHMS, RATE_EXPECTED, KeyFunc, Rate, client_key, key_function, parse_rate

SECTION = "plugins.security"
FEATURES = ("cors", "hosts", "rate_limit", "headers", "csrf")
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # an HTTP token (RFC 9110 §5.6.2): methods, header names
_ORIGIN = re.compile(r"(null|\*|[a-z][a-z0-9+.-]*://(\*\.)?[^/?#*\s]+)")
_HOST = re.compile(r"(\*|(\*\.)?[a-z0-9.:\[\]_-]+)")
DEFAULT_HOSTS = ("127.0.0.1", "localhost")
DEFAULT_REDIS = "redis://localhost:6379/0"
DEFAULT_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
DEFAULT_CSP: dict[str, str] = {
    "default-src": "'self'",
    "base-uri": "'self'",
    "form-action": "'self'",
    "frame-ancestors": "'self'",
    "img-src": "'self' data:",
    "object-src": "'none'",
    "script-src": "'self'",
    "style-src": "'self' 'unsafe-inline'",
}


@dataclass(frozen=True, slots=True)
class CorsSettings:
    """``[plugins.security.cors]``: who may read responses across origins (see the README)."""

    origins: tuple[str, ...] = ()
    origin_regex: str | None = None
    methods: tuple[str, ...] = DEFAULT_METHODS
    headers: tuple[str, ...] = ()
    expose_headers: tuple[str, ...] = ()
    credentials: bool = False
    max_age: int = 600


@dataclass(frozen=True, slots=True)
class HostsSettings:
    """``[plugins.security.hosts]``: the Host values the app answers (``*.example.com`` allowed)."""

    allowed: tuple[str, ...] = DEFAULT_HOSTS


@dataclass(frozen=True, slots=True)
class RouteLimit:
    """One configured limit: a rate, the scope its counters share, and how to key clients."""

    rate: Rate
    scope: str | None = None
    key: KeyFunc = client_key
    algorithm: str | None = None


@dataclass(frozen=True, slots=True)
class RateLimitSettings:
    """``[plugins.security.rate_limit]``: store, algorithm, keys and limits by route."""

    store: str = "memory"
    #: Where the Redis store counts: the ``redis`` value (a URL or a table) or its alias ``url``.
    redis: RedisSettings = field(default_factory=lambda: RedisSettings.from_url(DEFAULT_REDIS))
    prefix: str = "areion:ratelimit"
    algorithm: str = "fixed-window"
    key: KeyFunc = client_key
    fail: str = "open"
    timeout: float = 0.5
    headers: bool = True
    default: Rate | None = None
    #: ``"POST /items"`` or ``"/items"`` (every method) → its limit.
    routes: Mapping[str, RouteLimit] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class HeadersSettings:
    """``[plugins.security.headers]``: the headers every response gets unless it sets its own."""

    hsts: bool = True
    hsts_max_age: int = 31536000
    hsts_include_subdomains: bool = True
    hsts_preload: bool = False
    content_type_options: bool = True
    referrer_policy: str = "strict-origin-when-cross-origin"
    frame_options: str = "SAMEORIGIN"
    cross_origin_opener_policy: str = "same-origin"
    csp: Mapping[str, str] | None = field(default_factory=lambda: dict(DEFAULT_CSP))
    csp_report_only: bool = False


@dataclass(frozen=True, slots=True)
class CsrfSettings:
    """``[plugins.security.csrf]``: Fetch-metadata checks of cookie-carrying unsafe requests."""

    trusted_origins: tuple[str, ...] = ()
    trust_cors_origins: bool = True
    allow_same_site: bool = False
    exempt: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SecuritySettings:
    """The whole section: ``None`` for each feature that is off."""

    cors: CorsSettings | None = None
    hosts: HostsSettings | None = None
    rate_limit: RateLimitSettings | None = None
    headers: HeadersSettings | None = None
    csrf: CsrfSettings | None = None
    #: Features switched off with ``enabled = false``: their route decorators are ignored too.
    off: frozenset[str] = frozenset()

    def readiness_redis(self) -> RedisSettings | None:
        """The rate limits' Redis when they fail closed (a Redis outage then answers 503s),
        which /readyz (areion-observability) checks; failing open, an outage only lifts the
        limits, and a worker stays ready."""
        limits = self.rate_limit
        if limits is None or limits.store != "redis" or limits.fail != "closed":
            return None
        return limits.redis

    @classmethod
    def from_section(cls, section: Mapping[str, Any]) -> SecuritySettings:
        """Validate ``section``; ``ConfigError`` names the first bad key, its value and what was expected."""
        read = SettingsReader(SECTION, section, keys=FEATURES, strings=True)
        return cls(
            cors=_feature(read, "cors", read_cors),
            hosts=_feature(read, "hosts", _hosts),
            rate_limit=_feature(read, "rate_limit", _rate_limit),
            headers=_feature(read, "headers", read_headers),
            csrf=_feature(read, "csrf", _csrf),
            off=frozenset(name for name in FEATURES if name in read and not read.table(name).boolean("enabled", True)),
        )


def _feature(read: SettingsReader, name: str, parse: Any) -> Any:
    """The feature's settings, or None when its table is absent or says ``enabled = false``."""
    if name not in read:
        return None
    table = read.table(name)
    if not table.boolean("enabled", True):
        return None
    return parse(table)


def _tokens(read: SettingsReader, name: str, default: tuple[str, ...], *, upper: bool = False) -> tuple[str, ...]:
    values = read.strings_list(name, list(default))
    for value in values:
        if value != "*" and not _TOKEN.fullmatch(value):
            raise read.error(name, values, "a list of HTTP tokens (method or header names) or '*'")
    return tuple(v.upper() if upper else v.lower() for v in values)


def read_cors(read: SettingsReader) -> CorsSettings:
    read.check_keys(("enabled", "origins", "origin_regex", "methods", "headers", "expose_headers",
                     "credentials", "max_age"))
    origins = tuple(o.lower().rstrip("/") for o in read.strings_list("origins", []))
    for origin in origins:
        if not _ORIGIN.fullmatch(origin):
            raise read.error("origins", origin, "origins such as 'https://app.example.com', "
                             "'https://*.example.com', 'null' or '*'")
    regex = read.text("origin_regex", "") or None
    if regex is not None:
        try:
            re.compile(regex)
        except re.error as exc:
            raise read.error("origin_regex", regex, f"a regular expression ({exc})") from exc
    credentials = read.boolean("credentials", False)
    expose = _tokens(read, "expose_headers", ())
    if credentials and "*" in origins:
        # Fetch refuses "*" with credentials, and echoing any origin would hand every site the
        # user's cookies: list the origins instead.
        raise read.error("origins", list(origins), "explicit origins when credentials = true (not '*')")
    if credentials and "*" in expose:
        raise read.error("expose_headers", list(expose), "header names when credentials = true (not '*')")
    return CorsSettings(
        origins=origins, origin_regex=regex,
        methods=_tokens(read, "methods", DEFAULT_METHODS, upper=True),
        headers=_tokens(read, "headers", ()),
        expose_headers=expose, credentials=credentials,
        max_age=read.integer("max_age", 600, minimum=0, maximum=86400),
    )


def _hosts(read: SettingsReader) -> HostsSettings:
    read.check_keys(("enabled", "allowed"))
    allowed = tuple(h.lower() for h in read.strings_list("allowed", list(DEFAULT_HOSTS)))
    if not allowed:
        raise read.error("allowed", [], "at least one host ('*' allows every host)")
    for host in allowed:
        if not _HOST.fullmatch(host):
            raise read.error("allowed", host, "host names such as 'example.com', '*.example.com', "
                             "'127.0.0.1' or '*'")
    return HostsSettings(allowed=allowed)


def _rate_limit(read: SettingsReader) -> RateLimitSettings:
    read.check_keys(("enabled", "store", "redis", "url", "prefix", "algorithm", "key", "fail", "timeout", "headers",
                     "default", "routes"))
    defaults = RateLimitSettings()
    default = read.value("default")
    routes = read.table("routes")
    prefix = read.text("prefix", defaults.prefix)
    if "{" in prefix or "}" in prefix:
        raise read.error("prefix", prefix, "a key prefix without braces (the scope is the keys' hash tag)")
    return RateLimitSettings(
        store=read.choice("store", defaults.store, ("memory", "redis")),
        redis=_redis(read),
        prefix=prefix,
        algorithm=read.choice("algorithm", defaults.algorithm, ALGORITHMS),
        key=_key(read, "key", "client"),
        fail=read.choice("fail", defaults.fail, ("open", "closed")),
        timeout=read.seconds("timeout", defaults.timeout),
        headers=read.boolean("headers", defaults.headers),
        default=None if default is None else _rate(read, "default", default),
        routes={name: _route_limit(routes, name) for name in routes},
    )


def _redis(read: SettingsReader) -> RedisSettings:
    """``redis`` (a URL or a table: standalone, Sentinel, Cluster) or ``url``, its older name."""
    if "redis" in read and "url" in read:
        raise read.error("url", read.value("url"), f"either {read.key('redis')} or {read.key('url')} (an alias), "
                         "not both")
    name = "url" if "url" in read else "redis"
    return RedisSettings.from_config(read.value(name) if name in read else DEFAULT_REDIS, read.key(name))


def _key(read: SettingsReader, name: str, default: str) -> KeyFunc:
    spec = read.text(name, default)
    try:
        return key_function(spec)
    except ValueError as exc:
        raise read.error(name, spec, str(exc)) from exc


def _rate(read: SettingsReader, name: str, value: Any) -> Rate:
    try:
        return parse_rate(value)
    except ValueError:
        raise read.error(name, value, RATE_EXPECTED) from None


def _route_limit(routes: SettingsReader, name: str) -> RouteLimit:
    """``"POST /items" = "100/minute"`` or ``"/api/x" = { limit = "...", scope = "api", key = "..." }``."""
    method, _, path = name.rpartition(" ")
    if not path.startswith("/") or (method and not _TOKEN.fullmatch(method)):
        raise routes.error(name, routes.value(name), "a route written 'METHOD /path' or '/path'")
    value = routes.value(name)
    if not isinstance(value, Mapping):
        return RouteLimit(_rate(routes, name, value))
    table = routes.table(name, keys=("limit", "scope", "key", "algorithm"))
    if "limit" not in table:
        raise table.error("limit", None, RATE_EXPECTED)
    return RouteLimit(
        rate=_rate(table, "limit", table.value("limit")),
        scope=table.text("scope", "") or None,
        key=_key(table, "key", "client"),
        algorithm=table.choice("algorithm", None, ALGORITHMS),
    )


def read_headers(read: SettingsReader) -> HeadersSettings:
    read.check_keys(("enabled", "hsts", "hsts_max_age", "hsts_include_subdomains", "hsts_preload",
                     "content_type_options", "referrer_policy", "frame_options", "cross_origin_opener_policy",
                     "csp", "csp_report_only"))
    d = HeadersSettings()
    return HeadersSettings(
        hsts=read.boolean("hsts", d.hsts),
        hsts_max_age=read.integer("hsts_max_age", d.hsts_max_age, minimum=0),
        hsts_include_subdomains=read.boolean("hsts_include_subdomains", d.hsts_include_subdomains),
        hsts_preload=read.boolean("hsts_preload", d.hsts_preload),
        content_type_options=read.boolean("content_type_options", d.content_type_options),
        referrer_policy=read.text("referrer_policy", d.referrer_policy, empty=True),
        frame_options=read.choice("frame_options", d.frame_options, ("DENY", "SAMEORIGIN", "")),
        cross_origin_opener_policy=read.choice(
            "cross_origin_opener_policy", d.cross_origin_opener_policy,
            ("same-origin", "same-origin-allow-popups", "unsafe-none", "")),
        csp=_csp(read),
        csp_report_only=read.boolean("csp_report_only", d.csp_report_only),
    )


def _csp(read: SettingsReader) -> dict[str, str] | None:
    """The default directives with the table's on top; ``csp = false`` sends none, ``"" `` drops one."""
    value = read.value("csp")
    if value is None:
        return dict(DEFAULT_CSP)
    if value is False or value == "false":
        return None
    if not isinstance(value, Mapping):
        raise read.error("csp", value, "a table of directives (such as script-src = \"'self'\") or false")
    table = read.table("csp")
    directives = dict(DEFAULT_CSP)
    for name in map(str, table):
        raw = table.value(name)
        if not re.fullmatch(r"[a-z][a-z-]*", name):
            raise table.error(name, raw, "a CSP directive name such as 'script-src'")
        if raw is True:  # a directive without a value: upgrade-insecure-requests = true
            directives[name] = ""
            continue
        text = "" if raw is False else table.text(name, "", empty=True)
        if any(c in text for c in ";,\r\n"):
            raise table.error(name, text, "source expressions without ';' or ','")
        if text:
            directives[name] = text
        else:
            directives.pop(name, None)
    return directives


def _csrf(read: SettingsReader) -> CsrfSettings:
    read.check_keys(("enabled", "trusted_origins", "trust_cors_origins", "allow_same_site", "exempt"))
    trusted = tuple(o.lower().rstrip("/") for o in read.strings_list("trusted_origins", []))
    for origin in trusted:
        if not _ORIGIN.fullmatch(origin) or origin == "*":
            raise read.error("trusted_origins", origin, "origins such as 'https://app.example.com'")
    exempt = tuple(read.strings_list("exempt", []))
    for path in exempt:
        if not path.startswith("/"):
            raise read.error("exempt", path, "paths starting with '/' (a trailing '*' matches a prefix)")
    return CsrfSettings(
        trusted_origins=trusted,
        trust_cors_origins=read.boolean("trust_cors_origins", True),
        allow_same_site=read.boolean("allow_same_site", False),
        exempt=exempt,
    )
