"""The ``[plugins.caching]`` section, validated at startup."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from areion_redis import RedisSettings

from areion_core import ConfigError
from areion_core.plugin_api import EnvText, SettingsReader

from .cache_control import FLAG_DIRECTIVES, SECONDS_DIRECTIVES, CacheControl, CacheControlError
from .rules import CacheRule
from .stores import CacheStore, FileSystemStore, MemoryStore, RedisStore

SECTION = "plugins.caching"
DEFAULT_STATUSES = frozenset({200, 203, 204, 300, 301, 308, 404, 410})
STORES = ("memory", "filesystem", "redis")
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmg]?)(i?b)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}
_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


@dataclass
class CachingSettings:
    """Every option of ``[plugins.caching]`` with its default (see the README for each)."""

    store: str = "memory"
    #: Where the Redis store is (``redis`` table or URL; ``url`` is the older spelling of it).
    redis: RedisSettings = field(default_factory=lambda: RedisSettings.from_url("redis://127.0.0.1:6379/0"))
    url: str | None = None
    local_cache: bool = True
    local_cache_max_entries: int = 1000
    local_cache_max_bytes: int = 64 * 1024 * 1024
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
    broadcast_invalidations: bool = True
    invalidate_on_unsafe: bool = True
    honour_request_no_cache: bool = False
    #: With the memory store: also send invalidations to every other host through pub/sub on
    #: the ``redis`` (or ``url``) Redis, and apply theirs.
    invalidate_across_hosts: bool = False

    def make_store(self) -> CacheStore:
        """A new store as configured (connections are opened lazily, on first use)."""
        if self.store == "redis":
            return RedisStore(self.redis, self.namespace, timeout=self.store_timeout,
                              local_cache=self.local_cache, local_cache_max_entries=self.local_cache_max_entries,
                              local_cache_max_bytes=self.local_cache_max_bytes)
        if self.store == "filesystem":
            return FileSystemStore(self.path, self.max_entries, self.max_bytes)
        return MemoryStore(self.max_entries, self.max_bytes)

    def check_hook_timeout(self, hook_timeout: float) -> None:
        """Refuse a ``lock_timeout`` the core's ``hook_timeout`` would cut short.

        A request waits up to ``lock_timeout`` for another's computation inside
        ``request_received``; past ``hook_timeout`` the core would cancel it as a hung plugin.
        """
        if self.lock_timeout >= hook_timeout:
            raise ConfigError(f"{SECTION}.lock_timeout", self.lock_timeout,
                              f"less than hook_timeout ({hook_timeout:g}s)")

    def readiness_redis(self) -> RedisSettings | None:
        """The Redis store's server, which /readyz (areion-observability) checks; None for the
        memory and filesystem stores."""
        return self.redis if self.store == "redis" else None

    @classmethod
    def from_section(cls, section: Mapping[str, Any]) -> CachingSettings:
        """Validate a section; raise ``ConfigError`` naming the key, value and expectation."""
        s = cls()
        known = set(cls.__dataclass_fields__)
        read = SettingsReader(SECTION, section)
        for key in read:
            name = str(key).replace("-", "_")  # keys may be spelled max-entries or max_entries
            if name not in known:
                raise read.error(key, section[key], f"one of {', '.join(sorted(known))}")
            setattr(s, name, _convert(read, key, name))
        given = [str(k) for k in read if str(k).replace("-", "_") in ("redis", "url")]
        if len(given) > 1:
            raise read.error(given[1], read.value(given[1]),
                             f"either {SECTION}.redis or {SECTION}.url (an alias), not both")
        if s.url is not None:
            s.redis = RedisSettings.from_config(s.url, f"{SECTION}.url")
        if s.store == "filesystem" and "max_bytes" not in section:
            s.max_bytes = 512 * 1024 * 1024
        return s


def _convert(read: SettingsReader, key: str, name: str) -> Any:
    if name == "store":
        return read.choice(key, None, STORES)
    if name == "redis":
        return RedisSettings.from_config(read.value(key), f"{SECTION}.{key}")
    if name == "local_cache_max_entries":
        return read.integer(key, None, minimum=1, expected="a whole number >= 1")
    if name in ("broadcast_invalidations", "invalidate_on_unsafe", "honour_request_no_cache", "local_cache",
                "invalidate_across_hosts"):
        return read.boolean(key, None)
    if name in ("url", "namespace", "path"):
        return read.text(key, None)
    if name in ("max_bytes", "max_entry_bytes", "local_cache_max_bytes"):
        return _size(read, key)
    if name == "max_entries":
        return read.integer(key, None, minimum=1, expected="a whole number >= 1")
    if name in ("default_ttl", "lock_timeout", "store_timeout", "retry_interval"):
        return read.seconds(key, None)
    if name == "cacheable_statuses":
        expected = "a list of HTTP status codes"
        return frozenset(read.items(key, (), expected=expected, item=lambda k, v: read.as_integer(
            k, v, minimum=100, maximum=599, expected=expected)))
    if name == "hit_header":
        value = read.value(key)
        if value is False or value == "" or (isinstance(value, EnvText) and value.lower() == "false"):
            return None
        return read.as_text(key, value, pattern=_HEADER_NAME, expected='a header name, or false/"" to send none')
    if name == "routes":
        table = read.table(key)
        rules: dict[str, CacheRule] = {}
        for pattern in table:
            try:
                rule = CacheRule.from_value(_rule_value(table, pattern), table.key(pattern))
            except (ValueError, TypeError) as exc:
                raise table.error(pattern, table.value(pattern), str(exc)) from None
            if rule is not None:
                rules[str(pattern)] = rule
        return rules
    if name == "cache_control":
        table = read.table(key)
        return {str(pattern): _cache_control(table, pattern) for pattern in table}
    if name == "static_cache_control":
        value = read.value(key)
        return None if value in (False, "") else _cache_control(read, key)
    if name == "etag":
        value = _typed(read, key, read.value(key), read.as_boolean)
        if value is True:
            return ("*",)
        if value is False:
            return ()
        expected = "a list of route patterns (or true for every route)"
        return tuple(read.as_items(key, value, single=True, expected=expected,
                                   item=lambda k, v: read.as_text(k, v, expected=expected)))
    raise read.error(key, read.value(key), "a known setting")  # pragma: no cover - names checked above


_Convert = Callable[[str, Any], Any]


def _typed(read: SettingsReader, key: str, value: Any, convert: _Convert) -> Any:
    """``value`` converted when it is text from ``${VAR}``; as it is otherwise (checked later)."""
    if isinstance(value, EnvText):
        try:
            return convert(key, value)
        except ConfigError:
            return value  # not of this type: left for the caller's own check and message
    return value


def _rule_value(table: SettingsReader, pattern: str) -> Any:
    """A route's rule with the text of ``${VAR}`` read as what each field expects."""
    value = table.value(pattern)
    if isinstance(value, EnvText):
        return _typed(table, pattern, _typed(table, pattern, value, table.as_boolean), table.as_number)
    if not isinstance(value, Mapping):
        return value
    rule = table.table(pattern)
    converters: dict[str, _Convert] = {
        "ttl": rule.as_number, "stale_while_revalidate": rule.as_number, "stale_if_error": rule.as_number,
        "allow_authorized": rule.as_boolean, "vary": rule.as_items, "tags": rule.as_items,
    }
    return {field: _typed(rule, field, item, converters.get(field.replace("-", "_"), _same))
            for field, item in value.items()}


def _cache_control(read: SettingsReader, key: str) -> CacheControl:
    value = read.value(key)
    if isinstance(value, Mapping):
        table = read.table(key)
        value = {field: _typed(table, field, item, _directive_converter(table, field))
                 for field, item in value.items()}
    try:
        return CacheControl.from_config(value)
    except (CacheControlError, TypeError) as exc:
        raise read.error(key, value, f"a valid Cache-Control ({exc})") from None


def _directive_converter(table: SettingsReader, field: str) -> _Convert:
    name = field.lower().replace("-", "_")
    if name in SECONDS_DIRECTIVES:
        return table.as_integer
    if name in FLAG_DIRECTIVES:
        return table.as_boolean
    if name == "cache_on_status":
        return lambda k, v: table.as_items(k, v, item=table.as_integer)
    return _same


def _same(key: str, value: Any) -> Any:
    return value


def _size(read: SettingsReader, key: str) -> int:
    value = read.value(key)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return value
    if isinstance(value, str):
        match = _SIZE.match(value)
        if match:
            return int(float(match.group(1)) * _UNITS[match.group(2).lower()])
    raise read.error(key, value, 'a size in bytes >= 1 (an integer, or text such as "64MB")')
