"""areion-security: CORS, trusted hosts, rate limits, security headers and CSRF checks for Areion."""

from .cors import CorsPolicy, OriginMatcher
from .csrf import CsrfGuard
from .decorators import cors, csrf_exempt, rate_limit, security_headers
from .guard import SecurityGuard
from .headers import HeaderSet, csp_text
from .hooks import SecurityPlugin
from .hosts import HostAllowList
from .limiter import LimitRule, RateLimiter
from .rates import Rate, client_key, header_key, parse_rate
from .settings import (
    CorsSettings,
    CsrfSettings,
    HeadersSettings,
    HostsSettings,
    RateLimitSettings,
    SecuritySettings,
)
from .stores import Decision, MemoryStore, RedisStore

__all__ = [
    "CorsPolicy",
    "CorsSettings",
    "CsrfGuard",
    "CsrfSettings",
    "Decision",
    "HeaderSet",
    "HeadersSettings",
    "HostAllowList",
    "HostsSettings",
    "LimitRule",
    "MemoryStore",
    "OriginMatcher",
    "Rate",
    "RateLimitSettings",
    "RateLimiter",
    "RedisStore",
    "SecurityGuard",
    "SecurityPlugin",
    "SecuritySettings",
    "client_key",
    "cors",
    "csp_text",
    "csrf_exempt",
    "header_key",
    "parse_rate",
    "rate_limit",
    "security_headers",
]
