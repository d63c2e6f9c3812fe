"""The ``[plugins.caching]`` section, validated at startup."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from areion_core.exceptions import ConfigError

from .cache_control import CacheControl, CacheControlError
from .rules import CacheRule
from .stores import CacheStore, FileSystemStore, MemoryStore, RedisStore

DEFAULT_STATUSES = frozenset({200, 203, 204, 300, 301, 308, 404, 410})
STORES = ("memory", "filesystem", "redis")
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmg]?)(i?b)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}


@dataclass
class CachingSettings:
    """Every option of ``[plugins.caching]`` with its default (see the README for each)."""

    store: str = "memory"
    url: str = "redis://127.0.0.1:6379/0"
    namespace: str = "areion:cache"
    path: str = ".areion-cache"
    max_entries: int = 10_000
    max_bytes: int = 64 * 1024 * 1024
    max_entry_bytes: int = 8 * 1024 * 1024
    default_ttl: float = 60.0
    cacheable_statuses: frozenset[int] = DEFAULT_STATUSES
    hit_header: str | None = "X-Cache"
    lock_timeout: float = 5.0
    store_timeout: float = 0.5
    retry_interval: float = 1.0
    routes: dict[str, CacheRule] = field(default_factory=dict)
    cache_control: dict[str, CacheControl] = field(default_factory=dict)
    static_cache_control: CacheControl | None = None
    etag: tuple[str, ...] = ()

    def make_store(self) -> CacheStore:
        """A new store as configured (connections are opened lazily, on first use)."""
        if self.store == "redis":
            return RedisStore(self.url, self.namespace, timeout=self.store_timeout)
        if self.store == "filesystem":
            return FileSystemStore(self.path, self.max_entries, self.max_bytes)
        return MemoryStore(self.max_entries, self.max_bytes)

    @classmethod
    def from_section(cls, section: Mapping[str, Any]) -> CachingSettings:
        """Validate a section; raise ``ConfigError`` naming the key, value and expectation."""
        s = cls()
        known = set(cls.__dataclass_fields__)
        for key, value in section.items():
            name = str(key).replace("-", "_")
            where = f"plugins.caching.{key}"
            if name not in known:
                raise ConfigError(where, value, f"one of {', '.join(sorted(known))}")
            setattr(s, name, _convert(name, value, where))
        if s.store == "filesystem" and "max_bytes" not in section:
            s.max_bytes = 512 * 1024 * 1024
        return s


def _convert(name: str, value: Any, where: str) -> Any:
    if name == "store":
        if value not in STORES:
            raise ConfigError(where, value, f"one of {', '.join(STORES)}")
        return value
    if name in ("url", "namespace", "path"):
        if not isinstance(value, str) or not value:
            raise ConfigError(where, value, "a non-empty string")
        return value
    if name in ("max_bytes", "max_entry_bytes"):
        return _size(value, where)
    if name == "max_entries":
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(where, value, "a whole number >= 1")
        return value
    if name in ("default_ttl", "lock_timeout", "store_timeout", "retry_interval"):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            raise ConfigError(where, value, "a number of seconds > 0")
        return float(value)
    if name == "cacheable_statuses":
        if not isinstance(value, (list, tuple)) or not all(
            isinstance(v, int) and not isinstance(v, bool) and 100 <= v <= 599 for v in value
        ):
            raise ConfigError(where, value, "a list of HTTP status codes")
        return frozenset(value)
    if name == "hit_header":
        if value is False or value == "":
            return None
        if not isinstance(value, str) or not re.fullmatch(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+", value):
            raise ConfigError(where, value, 'a header name, or false/"" to send none')
        return value
    if name == "routes":
        if not isinstance(value, Mapping):
            raise ConfigError(where, value, "a table of route pattern = ttl or settings")
        rules: dict[str, CacheRule] = {}
        for pattern, item in value.items():
            try:
                rule = CacheRule.from_value(item, f"{where}.{pattern}")
            except (ValueError, TypeError) as exc:
                raise ConfigError(f"{where}.{pattern}", item, str(exc)) from None
            if rule is not None:
                rules[str(pattern)] = rule
        return rules
    if name == "cache_control":
        if not isinstance(value, Mapping):
            raise ConfigError(where, value, 'a table of route pattern = "directives" or settings')
        out: dict[str, CacheControl] = {}
        for pattern, item in value.items():
            out[str(pattern)] = _cache_control(item, f"{where}.{pattern}")
        return out
    if name == "static_cache_control":
        return None if value in (False, "") else _cache_control(value, where)
    if name == "etag":
        if isinstance(value, str):
            value = [value]
        if value is True:
            value = ["*"]
        if value is False:
            value = []
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
            raise ConfigError(where, value, "a list of route patterns (or true for every route)")
        return tuple(value)
    raise ConfigError(where, value, "a known setting")  # pragma: no cover - names checked above


def _cache_control(value: Any, where: str) -> CacheControl:
    try:
        return CacheControl.from_config(value)
    except (CacheControlError, TypeError) as exc:
        raise ConfigError(where, value, f"a valid Cache-Control ({exc})") from None


def _size(value: Any, where: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return value
    if isinstance(value, str):
        match = _SIZE.match(value)
        if match:
            return int(float(match.group(1)) * _UNITS[match.group(2).lower()])
    raise ConfigError(where, value, 'a size in bytes >= 1 (an integer, or text such as "64MB")')
