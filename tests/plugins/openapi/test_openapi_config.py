"""The [plugins.openapi] section: defaults, validation messages, on/off rules."""

from __future__ import annotations

from typing import Any

import pytest
from areion_openapi import OpenAPISettings

from areion_core import ConfigError


def test_defaults() -> None:
    s = OpenAPISettings.from_section({})
    assert (s.docs_path, s.redoc_path, s.openapi_path) == ("/docs", "/redoc", "/openapi.json")
    assert s.is_on(development=True) and not s.is_on(development=False)


@pytest.mark.parametrize(("enabled", "development", "on"), [
    (True, False, True), (False, True, False), (True, True, True), (False, False, False)])
def test_enabled_overrides_the_mode(enabled: bool, development: bool, on: bool) -> None:
    assert OpenAPISettings.from_section({"enabled": enabled}).is_on(development) is on


def test_every_key() -> None:
    s = OpenAPISettings.from_section({
        "enabled": True, "title": "Shop", "version": "3", "description": "d",
        "servers": ["https://a.example", {"url": "/v1", "description": "here"}],
        "docs_path": "/api/docs", "redoc_path": False, "openapi_path": "/api/spec.json",
        "security_schemes": {"bearer": {"type": "http", "scheme": "bearer"}},
    })
    assert s == OpenAPISettings(
        enabled=True, title="Shop", version="3", description="d",
        servers=({"url": "https://a.example"}, {"url": "/v1", "description": "here"}),
        docs_path="/api/docs", redoc_path=None, openapi_path="/api/spec.json",
        security_schemes={"bearer": {"type": "http", "scheme": "bearer"}})


@pytest.mark.parametrize(("section", "key"), [
    ({"enable": True}, "plugins.openapi.enable"),
    ({"enabled": "yes"}, "plugins.openapi.enabled"),
    ({"title": ""}, "plugins.openapi.title"),
    ({"docs_path": "docs"}, "plugins.openapi.docs_path"),
    ({"openapi_path": False}, "plugins.openapi.openapi_path"),
    ({"redoc_path": "/redoc/"}, "plugins.openapi.redoc_path"),
    ({"docs_path": "/x", "redoc_path": "/x"}, "plugins.openapi.docs_path"),
    ({"servers": "https://a.example"}, "plugins.openapi.servers"),
    ({"servers": [{"description": "no url"}]}, "plugins.openapi.servers[0]"),
    ({"security_schemes": {"k": {"type": "magic"}}}, "plugins.openapi.security_schemes.k"),
    ({"security_schemes": {"k": {"type": "apiKey", "in": "header"}}}, "plugins.openapi.security_schemes.k.name"),
])
def test_bad_values_name_the_key(section: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError) as info:
        OpenAPISettings.from_section(section)
    assert info.value.key == key
