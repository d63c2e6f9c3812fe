"""[plugins.caching] validation: a bad value stops startup, naming key, value, expectation."""

from __future__ import annotations

from pathlib import Path

import pytest
from areion_caching import CachingSettings, FileSystemStore, MemoryStore, RedisStore

from areion_core import AreionServerBuilder, ConfigError, Router
from tests.plugins.caching._caching_support import build_server


def test_defaults() -> None:
    s = CachingSettings.from_section({})
    assert s.store == "memory" and s.default_ttl == 60 and s.hit_header == "X-Cache"
    assert s.cacheable_statuses == frozenset({200, 203, 204, 300, 301, 308, 404, 410})
    assert isinstance(s.make_store(), MemoryStore)
    assert s.invalidate_on_unsafe is True and s.honour_request_no_cache is False
    switched = CachingSettings.from_section(
        {"invalidate-on-unsafe": False, "honour_request_no_cache": True})
    assert switched.invalidate_on_unsafe is False and switched.honour_request_no_cache is True


def test_store_choices(tmp_path: Path) -> None:
    fs = CachingSettings.from_section(
        {"store": "filesystem", "path": str(tmp_path), "max_bytes": "10MB"}
    )
    store = fs.make_store()
    assert isinstance(store, FileSystemStore) and store.max_bytes == 10 * 1024 * 1024
    assert CachingSettings.from_section({"store": "filesystem"}).max_bytes == 512 * 1024 * 1024
    redis = CachingSettings.from_section(
        {"store": "redis", "url": "redis://cache:6379/2", "namespace": "x"}
    )
    made = redis.make_store()
    assert (
        isinstance(made, RedisStore)
        and made.url == "redis://cache:6379/2"
        and made.namespace == "x"
    )


@pytest.mark.parametrize(
    ("section", "key"),
    [
        ({"store": "memcached"}, "store"),
        ({"max_entries": 0}, "max_entries"),
        ({"max_bytes": "lots"}, "max_bytes"),
        ({"default_ttl": -1}, "default_ttl"),
        ({"cacheable_statuses": [200, "404"]}, "cacheable_statuses"),
        ({"hit_header": "X Cache"}, "hit_header"),
        ({"routes": {"/a": "soon"}}, "routes./a"),
        ({"routes": {"/a": {"ttl": 5, "colour": "red"}}}, "routes./a"),
        ({"cache_control": {"/a": "public, private"}}, "cache_control./a"),
        ({"etag": 5}, "etag"),
        ({"broadcast_invalidations": "sometimes"}, "broadcast_invalidations"),
        ({"invalidate_on_unsafe": "yes"}, "invalidate_on_unsafe"),
        ({"honour_request_no_cache": 1}, "honour_request_no_cache"),
        ({"ttl": 5}, "ttl"),
    ],
)
def test_bad_values_stop_startup(section: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigError) as info:
        build_server(Router(), section)
    assert info.value.key == f"plugins.caching.{key}"


def test_lock_timeout_must_be_below_the_core_hook_timeout() -> None:
    # Waiting for another request's computation happens inside a hook the core bounds.
    builder = (AreionServerBuilder().with_router(Router()).without_config_file()
               .with_config({"hook_timeout": 2, "plugins": {"enabled": ["caching"],
                                                            "caching": {"lock_timeout": 3}}}))
    with pytest.raises(ConfigError) as info:
        builder.build()
    assert info.value.key == "plugins.caching.lock_timeout"
    assert "less than hook_timeout (2s)" in str(info.value)
    builder.with_config({"plugins": {"caching": {"lock_timeout": 1.5}}})
    assert builder.build().app.get_plugin("caching").settings.lock_timeout == 1.5


def test_routes_table_forms() -> None:
    s = CachingSettings.from_section(
        {
            "routes": {
                "/a/*": 30,
                "/b": True,
                "/c": {
                    "ttl": 5,
                    "vary": ["Accept-Language"],
                    "tags": ["c"],
                    "stale-while-revalidate": 10,
                },
                "/d": False,
            }
        }
    )
    assert s.routes["/a/*"].ttl == 30
    assert s.routes["/b"].ttl is None
    assert (
        s.routes["/c"].vary == ("accept-language",) and s.routes["/c"].stale_while_revalidate == 10
    )
    assert "/d" not in s.routes
