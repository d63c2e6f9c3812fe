"""RedisSettings: every URL form and table form, and a clear error naming the key for each bad value."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from areion_redis import RedisSettings

from areion_core import ConfigError

PREFIX = "plugins.caching.redis"


def read(section: Any) -> RedisSettings:
    return RedisSettings.from_config(section, PREFIX)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("redis://cache.internal:6380/2", dict(mode="standalone", host="cache.internal", port=6380, db=2, tls=False)),
        ("redis://cache.internal", dict(mode="standalone", host="cache.internal", port=6379, db=0)),
        ("redis://127.0.0.1:6379?db=2", dict(host="127.0.0.1", db=2)),
        ("redis://[::1]:7000/1", dict(host="::1", port=7000, db=1)),
        ("redis://app:s%40cret@h:1/3", dict(username="app", password="s@cret", db=3)),
        ("redis://:onlypass@h", dict(username=None, password="onlypass")),
        ("rediss://h:6380/0", dict(mode="standalone", tls=True, port=6380)),
        ("unix:///run/redis/redis.sock?db=4", dict(mode="standalone", path="/run/redis/redis.sock", db=4)),
        ("unix://user:pw@/tmp/r.sock", dict(path="/tmp/r.sock", username="user", password="pw", db=0)),
        ("redis+sentinel://s1:26379,s2:26380,s3/mymaster/5",
         dict(mode="sentinel", sentinels=(("s1", 26379), ("s2", 26380), ("s3", 26379)), service="mymaster", db=5)),
        ("redis+sentinel://u:p@s1/mymaster",
         dict(mode="sentinel", service="mymaster", db=0, username="u", password="p")),
        ("rediss+sentinel://s1/mymaster/0", dict(mode="sentinel", tls=True)),
        ("redis+cluster://h1:7000,h2:7001", dict(mode="cluster", nodes=(("h1", 7000), ("h2", 7001)), db=0)),
        ("redis+cluster://:pw@h1:7000/", dict(mode="cluster", password="pw")),
        ("rediss+cluster://h1:7000", dict(mode="cluster", tls=True)),
    ],
)
def test_every_url_form(url: str, expected: dict[str, Any]) -> None:
    settings = read({"url": url})
    for name, value in expected.items():
        assert getattr(settings, name) == value, name
    # A plain string is the same as a table holding only the URL.
    assert read(url) == settings


def test_table_forms() -> None:
    assert read({"mode": "sentinel", "sentinels": ["h1:26379", "h2:26380"], "service": "mymaster", "db": 1}) == (
        RedisSettings(mode="sentinel", sentinels=(("h1", 26379), ("h2", 26380)), service="mymaster", db=1)
    )
    assert read({"mode": "cluster", "nodes": ["h1:7000", "h2"]}) == (
        RedisSettings(mode="cluster", nodes=(("h1", 7000), ("h2", 6379)))
    )
    assert read({"host": "h", "port": 6380, "db": 3}) == RedisSettings(host="h", port=6380, db=3)
    assert read({"path": "/tmp/r.sock"}) == RedisSettings(path="/tmp/r.sock")
    assert read(None) == read({}) == RedisSettings()


def test_options_and_their_defaults(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("not read until connecting")
    settings = read({
        "url": "rediss://h:6380/0", "username": "app", "password": "pw", "tls_ca_file": str(ca),
        "tls_verify": False, "socket_timeout": 0.25, "connect_timeout": 2, "retries": 5, "retry_on_timeout": False,
        "backoff_base": 0.01, "backoff_cap": 0.5, "health_check_interval": 30, "max_connections": 8,
    })
    assert (settings.username, settings.password) == ("app", "pw")
    assert (settings.tls_ca_file, settings.tls_verify) == (str(ca), False)
    assert (settings.socket_timeout, settings.connect_timeout, settings.retries) == (0.25, 2.0, 5)
    assert settings.retry_on_timeout is False
    assert (settings.backoff_base, settings.backoff_cap, settings.health_check_interval) == (0.01, 0.5, 30.0)
    assert settings.max_connections == 8
    defaults = read({})
    assert (defaults.socket_timeout, defaults.connect_timeout, defaults.retries, defaults.max_connections) == (
        1.0, 1.0, 3, 64)
    assert defaults.retry_on_timeout is True


def test_env_references_are_expanded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AREION_TEST_REDIS_PASSWORD", "from-env")
    monkeypatch.setenv("AREION_TEST_REDIS_RETRIES", "7")
    settings = read({"url": "redis://h/0", "password": "${AREION_TEST_REDIS_PASSWORD}",
                     "retries": "${AREION_TEST_REDIS_RETRIES}"})
    assert (settings.password, settings.retries) == ("from-env", 7)


def test_passwords_stay_out_of_repr_and_describe() -> None:
    settings = read("redis+sentinel://u:topsecret@s1:26379,s2:26379/mymaster/2")
    assert "topsecret" not in repr(settings)
    assert settings.describe() == "redis+sentinel://s1:26379,s2:26379/mymaster/2"
    assert read("redis://:topsecret@[::1]:7000/1").describe() == "redis://[::1]:7000/1"
    assert read("unix:///tmp/r.sock?db=2").describe() == "unix:///tmp/r.sock?db=2"
    assert read("rediss+cluster://h1:7000").describe() == "rediss+cluster://h1:7000"


def test_settings_are_hashable_cache_keys() -> None:
    assert len({read("redis://h/0"), read({"host": "h"}), read("redis://h/1")}) == 2


@pytest.mark.parametrize(
    ("section", "key", "says"),
    [
        ({"url": "http://h:6379"}, "url", "redis://"),
        ({"url": "redis://h:99999/0"}, "url", "port from 1 to 65535"),
        ({"url": "redis://h/x"}, "url", "database number"),
        ({"url": "redis://h1,h2/0"}, "url", "one host"),
        ({"url": "redis://h/0?timeout=3"}, "url", "no query parameter but db"),
        ({"url": "redis://h/1?db=1"}, "url", "[/db]"),
        ({"url": "redis://"}, "url", "at least one host"),
        ({"url": "unix://"}, "url", "unix:///absolute/path"),
        ({"url": "redis+sentinel://s1:26379"}, "url", "/<service>"),
        ({"url": "redis+sentinel://s1/m/0/extra"}, "url", "/<service>"),
        ({"url": "redis+cluster://h1:7000/3"}, "url", "no database in a cluster URL"),
        ({"url": 6379}, "url", "a non-empty string"),
        ({"url": "redis://h", "host": "other"}, "host", "give url or them, not both"),
        ({"url": "redis://u:p@h", "password": "q"}, "password", "already has one"),
        ({"mode": "primary"}, "mode", "one of standalone, sentinel, cluster"),
        ({"mode": "sentinel", "service": "m"}, "sentinels", "host:port"),
        ({"mode": "sentinel", "sentinels": ["h:26379"]}, "service", "service"),
        ({"mode": "sentinel", "sentinels": [], "service": "m"}, "sentinels", "at least one"),
        ({"mode": "sentinel", "sentinels": ["h:port"], "service": "m"}, "sentinels", "host:port"),
        ({"mode": "sentinel", "sentinels": [26379], "service": "m"}, "sentinels", "host:port"),
        ({"mode": "cluster", "nodes": ["h:7000"], "db": 1}, "db", "no db with mode = 'cluster'"),
        ({"mode": "cluster"}, "nodes", "host:port"),
        ({"mode": "standalone", "nodes": ["h:1"]}, "nodes", "no nodes with mode = 'standalone'"),
        ({"host": "h", "path": "/tmp/r.sock"}, "path", "not both"),
        ({"port": 0}, "port", "from 1 to 65535"),
        ({"db": -1}, "db", ">= 0"),
        ({"db": "1"}, "db", "whole number"),
        ({"url": "redis://h", "tls_ca_file": "/etc/ssl/ca.pem"}, "tls_ca_file", "TLS on"),
        ({"url": "rediss://h", "tls_ca_file": "/nonexistent/ca.pem"}, "tls_ca_file", "readable file"),
        ({"url": "rediss://h", "tls": False}, "tls", "rediss://"),
        ({"url": "unix:///tmp/r.sock", "tls": True}, "tls", "unix socket"),
        ({"url": "redis://h", "tls": "yes"}, "tls", "true or false"),
        ({"socket_timeout": 0}, "socket_timeout", "seconds > 0"),
        ({"connect_timeout": -1}, "connect_timeout", "seconds > 0"),
        ({"retries": 1.5}, "retries", "whole number"),
        ({"retries": -1}, "retries", "whole number"),
        ({"backoff_base": 0.5, "backoff_cap": 0.1}, "backoff_cap", ">= backoff_base"),
        ({"health_check_interval": -5}, "health_check_interval", ">= 0"),
        ({"max_connections": 0}, "max_connections", ">= 1"),
        ({"protocol": 1}, "protocol", "2 or 3"),
        ({"url": "redis://h", "sentinel_password": "x"}, "sentinel_password", "mode = 'sentinel'"),
        ({"urll": "redis://h"}, "urll", "one of"),
    ],
)
def test_bad_values_name_the_key(section: Any, key: str, says: str) -> None:
    with pytest.raises(ConfigError) as caught:
        read(section)
    assert caught.value.key == f"{PREFIX}.{key}"
    assert says in str(caught.value)


def test_a_bad_url_error_hides_the_password() -> None:
    with pytest.raises(ConfigError) as caught:
        read({"url": "redis://user:topsecret@h:notaport/0"})
    assert "topsecret" not in str(caught.value)
    assert "user:***@" in str(caught.value)


@pytest.mark.parametrize(("value", "says"), [("", "a non-empty string"), ("http://h", "redis://"),
                                             ("redis://u:topsecret@h:0", "port from 1")])
def test_a_bad_bare_url_names_the_key_itself(value: str, says: str) -> None:
    with pytest.raises(ConfigError) as caught:
        read(value)
    assert caught.value.key == PREFIX
    assert says in str(caught.value) and "topsecret" not in str(caught.value)


def test_a_section_that_is_no_table() -> None:
    with pytest.raises(ConfigError) as caught:
        read(["redis://h"])
    assert caught.value.key == PREFIX


def test_reading_settings_does_not_import_redis_py() -> None:
    # redis-py costs memory an app that never reaches Redis should not pay: only get_client imports it.
    code = ("import sys, areion_redis; areion_redis.RedisSettings.from_config('redis+cluster://h:7000', 'r'); "
            "sys.exit(1 if 'redis' in sys.modules else 0)")
    assert subprocess.run([sys.executable, "-c", code], check=False, timeout=60).returncode == 0
