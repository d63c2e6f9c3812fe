"""areion-security: CORS, trusted hosts, rate limits, security headers and CSRF checks for Areion.

An app that only decorates its routes (``from areion_security import rate_limit``) loads the
decorators and what they need; the rest of the package (settings, stores, the guard: about 1 MB)
is imported when one of its names is first used, or when the plugin loads (PEP 562).
"""

import importlib
from typing import TYPE_CHECKING

# Eager, and in this order: the ``cors`` submodule must be loaded before the ``cors``
# decorator is bound here, or loading it later would rebind the package's ``cors`` to it.
from .cors import CorsPolicy, OriginMatcher
from .decorators import cors, csrf_exempt, rate_limit, security_headers
from .rates import Rate, client_key, header_key, parse_rate

if TYPE_CHECKING:
    from .csrf import CsrfGuard
    from .guard import SecurityGuard
    from .headers import HeaderSet, csp_text
    from .hooks import SecurityPlugin
    from .hosts import HostAllowList
    from .limiter import LimitRule, RateLimiter
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

#: The names imported on first use, and the submodule each comes from (as imported above).
_LAZY = {
    "CsrfGuard": ".csrf",
    "SecurityGuard": ".guard",
    "HeaderSet": ".headers",
    "csp_text": ".headers",
    "SecurityPlugin": ".hooks",
    "HostAllowList": ".hosts",
    "LimitRule": ".limiter",
    "RateLimiter": ".limiter",
    "CorsSettings": ".settings",
    "CsrfSettings": ".settings",
    "HeadersSettings": ".settings",
    "HostsSettings": ".settings",
    "RateLimitSettings": ".settings",
    "SecuritySettings": ".settings",
    "Decision": ".stores",
    "MemoryStore": ".stores",
    "RedisStore": ".stores",
}


def _import_lazily(name: str) -> object:
    """``areion_security.<name>`` on first use: import its submodule and keep the name here."""
    submodule = _LAZY.get(name)
    if submodule is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(submodule, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


if not TYPE_CHECKING:
    # Hidden from type checkers: they would take any name as defined in a module with __getattr__.
    __getattr__ = _import_lazily
