"""``[plugins.security]``: each feature on only when its table is present; bad values name the key."""

from __future__ import annotations

from typing import Any

import pytest
from areion_security import SecuritySettings
from areion_security.rates import Rate, parse_rate

from areion_core import ConfigError, Router
from tests.plugins.security._security_support import build_server


def test_nothing_is_on_without_tables() -> None:
    settings = SecuritySettings.from_section({})
    assert (settings.cors, settings.hosts, settings.rate_limit, settings.headers, settings.csrf) == (
        None, None, None, None, None)


def test_a_present_table_switches_its_feature_on_with_defaults() -> None:
    settings = SecuritySettings.from_section({"hosts": {}, "headers": {}, "rate_limit": {}, "csrf": {}, "cors": {}})
    assert settings.hosts is not None and settings.hosts.allowed == ("127.0.0.1", "localhost")
    assert settings.rate_limit is not None and settings.rate_limit.store == "memory"
    assert settings.headers is not None and settings.headers.csp is not None
    assert settings.cors is not None and settings.cors.credentials is False
    assert settings.csrf is not None


@pytest.mark.parametrize(("value", "mode", "describe"), [
    ("redis+sentinel://s1:26379,s2:26380/mymaster/2", "sentinel", "redis+sentinel://s1:26379,s2:26380/mymaster/2"),
    ("redis+cluster://n1:7000,n2:7001", "cluster", "redis+cluster://n1:7000,n2:7001"),
    ({"mode": "sentinel", "sentinels": ["s1", "s2:26380"], "service": "svc", "password": "secret"}, "sentinel",
     "redis+sentinel://s1:26379,s2:26380/svc/0"),
    ({"mode": "cluster", "nodes": ["n1:7000"]}, "cluster", "redis+cluster://n1:7000"),
    ({"url": "rediss://cache:6380/1", "socket_timeout": 2}, "standalone", "rediss://cache:6380/1"),
])
@pytest.mark.parametrize("key", ["redis", "url"])
def test_the_redis_store_takes_every_form_of_areion_redis(value: Any, mode: str, describe: str, key: str) -> None:
    settings = SecuritySettings.from_section({"rate_limit": {"store": "redis", key: value}}).rate_limit
    assert settings is not None
    assert settings.redis.mode == mode
    assert settings.redis.describe() == describe  # and no password shown


def test_the_redis_store_defaults_to_the_local_redis() -> None:
    settings = SecuritySettings.from_section({"rate_limit": {"store": "redis"}}).rate_limit
    assert settings is not None and settings.redis.describe() == "redis://localhost:6379/0"


def test_enabled_false_switches_a_feature_off() -> None:
    settings = SecuritySettings.from_section({"cors": {"enabled": False, "origins": ["https://a.example"]}})
    assert settings.cors is None
    assert settings.off == frozenset({"cors"})


@pytest.mark.parametrize(("section", "key", "expected"), [
    ({"corz": {}}, "plugins.security.corz", "one of"),
    ({"cors": {"origin": ["x"]}}, "plugins.security.cors.origin", "one of"),
    ({"cors": {"origins": ["example.com"]}}, "plugins.security.cors.origins", "origins such as"),
    ({"cors": {"origins": ["*"], "credentials": True}}, "plugins.security.cors.origins", "not '*'"),
    ({"cors": {"origins": ["https://a.example"], "credentials": True, "expose_headers": ["*"]}},
     "plugins.security.cors.expose_headers", "not '*'"),
    ({"cors": {"max_age": -1}}, "plugins.security.cors.max_age", "from 0 to 86400"),
    ({"cors": {"methods": ["GET POST"]}}, "plugins.security.cors.methods", "HTTP tokens"),
    ({"cors": {"origin_regex": "("}}, "plugins.security.cors.origin_regex", "regular expression"),
    ({"hosts": {"allowed": []}}, "plugins.security.hosts.allowed", "at least one host"),
    ({"hosts": {"allowed": ["exa mple.com"]}}, "plugins.security.hosts.allowed", "host names"),
    ({"rate_limit": {"store": "memcached"}}, "plugins.security.rate_limit.store", "memory, redis"),
    ({"rate_limit": {"redis": "redis://a:1/0", "url": "redis://b:2/0"}}, "plugins.security.rate_limit.url",
     "an alias), not both"),
    ({"rate_limit": {"redis": "memcached://x"}}, "plugins.security.rate_limit.redis", ""),
    ({"rate_limit": {"redis": {"mode": "sentinel", "sentinels": ["s1:26379"]}}},
     "plugins.security.rate_limit.redis.service", ""),
    ({"rate_limit": {"url": {"mode": "cluster", "nodes": "n1"}}}, "plugins.security.rate_limit.url.nodes", ""),
    ({"rate_limit": {"prefix": "rl:{x}"}}, "plugins.security.rate_limit.prefix", "without braces"),
    ({"rate_limit": {"algorithm": "leaky"}}, "plugins.security.rate_limit.algorithm", "fixed-window"),
    ({"rate_limit": {"default": "lots"}}, "plugins.security.rate_limit.default", "a rate such as"),
    ({"rate_limit": {"fail": "maybe"}}, "plugins.security.rate_limit.fail", "open, closed"),
    ({"rate_limit": {"key": "nowhere"}}, "plugins.security.rate_limit.key", "'client'"),
    ({"rate_limit": {"key": "no_such_module_x:f"}}, "plugins.security.rate_limit.key", "importable"),
    ({"rate_limit": {"routes": {"items": "1/minute"}}}, "plugins.security.rate_limit.routes.items",
     "'METHOD /path'"),
    ({"rate_limit": {"routes": {"POST /items": "100/fortnight"}}},
     "plugins.security.rate_limit.routes.POST /items", "a rate such as"),
    ({"rate_limit": {"routes": {"/x": {"scope": "a"}}}}, "plugins.security.rate_limit.routes./x.limit",
     "a rate such as"),
    ({"headers": {"frame_options": "ALLOW"}}, "plugins.security.headers.frame_options", "DENY"),
    ({"headers": {"csp": "default-src 'self'"}}, "plugins.security.headers.csp", "a table of directives"),
    ({"headers": {"csp": {"script-src": "'self'; img-src *"}}}, "plugins.security.headers.csp.script-src",
     "without ';'"),
    ({"csrf": {"exempt": ["webhooks"]}}, "plugins.security.csrf.exempt", "paths starting with '/'"),
    ({"csrf": {"trusted_origins": ["*"]}}, "plugins.security.csrf.trusted_origins", "origins such as"),
])
def test_bad_values_name_the_key(section: dict[str, Any], key: str, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        SecuritySettings.from_section(section)
    assert caught.value.key == key
    assert expected in caught.value.expected


def test_a_bad_value_stops_startup_naming_the_key() -> None:
    with pytest.raises(ConfigError, match=r"plugins\.security\.cors\.max_age"):
        build_server(Router(), {"cors": {"max_age": "soon"}})


def test_env_references_are_expanded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEC_ORIGIN", "https://app.example")
    monkeypatch.setenv("SEC_LIMIT", "7/second")
    settings = SecuritySettings.from_section({
        "cors": {"origins": ["${SEC_ORIGIN}"], "max_age": "${SEC_AGE:-30}"},
        "rate_limit": {"default": "${SEC_LIMIT}", "store": "${SEC_STORE:-memory}"},
    })
    assert settings.cors is not None and settings.cors.origins == ("https://app.example",)
    assert settings.cors.max_age == 30
    assert settings.rate_limit is not None and settings.rate_limit.default == Rate(7, 1)


@pytest.mark.parametrize(("text", "rate"), [
    ("100/minute", Rate(100, 60)), ("10/second", Rate(10, 1)), ("5 per 10 seconds", Rate(5, 10)),
    ("1000/day", Rate(1000, 86400)), ("3/h", Rate(3, 3600)), ("2/30s", Rate(2, 30)),
])
def test_rates(text: str, rate: Rate) -> None:
    assert parse_rate(text) == rate


@pytest.mark.parametrize("text", ["", "0/minute", "10", "10/fortnight", "ten/minute", "10/0 seconds"])
def test_bad_rates(text: str) -> None:
    with pytest.raises(ValueError, match="a rate such as"):
        parse_rate(text)


def test_a_bad_route_option_stops_startup_naming_the_route() -> None:
    router = Router()
    router.add_route("/x", lambda request: "x", ["GET"], rate_limit="lots")
    with pytest.raises(Exception, match=r"route /x option 'rate_limit'"):
        build_server(router, {"rate_limit": {}})


@pytest.mark.parametrize(("option", "value", "key"), [
    ("cors", {"origins": ["not-an-origin"]}, "cors.origins"),
    ("cors", {"origins": ["*"], "credentials": True}, "cors.origins"),
    ("cors", ["https://a.example"], "'cors': expected a dict"),
    ("security_headers", {"frame_options": "ALLOWALL"}, "security_headers.frame_options"),
    ("security_headers", {"csp": {"script-src": "'self'; x"}}, "security_headers.csp.script-src"),
])
def test_a_bad_route_policy_stops_startup_naming_the_route(option: str, value: Any, key: str) -> None:
    router = Router()
    router.add_route("/x", lambda request: "x", ["GET"], **{option: value})
    with pytest.raises(Exception, match=r"route /x") as caught:
        build_server(router, {"cors": {}, "headers": {}})
    assert key in str(caught.value)


def test_enabled_false_ignores_route_decorators() -> None:
    from areion_core.testing import TestClient

    router = Router()
    router.add_route("/x", lambda request: "x", ["GET"], rate_limit="1/minute", cors={"origins": ["https://a.example"]})
    server = build_server(router, {"rate_limit": {"enabled": False}, "cors": {"enabled": False}})
    with TestClient(server) as client:
        responses = [client.get("/x", headers={"origin": "https://a.example"}) for _ in range(3)]
    assert [r.status_code for r in responses] == [200, 200, 200]
    assert "access-control-allow-origin" not in responses[0].headers
