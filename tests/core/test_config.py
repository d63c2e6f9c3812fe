"""Configuration layering and validation: file < environment < builder; errors name the key."""

from __future__ import annotations

import pytest

from areion_core import AreionConfig, AreionServerBuilder, ConfigError, Router


def test_layers_rise_in_precedence(tmp_path, monkeypatch):
    (tmp_path / "areion.toml").write_text(
        'host = "0.0.0.0"\nport = 9000\nworkers = 2\n[limits]\nmax_body_bytes = 1000\n'
        '[plugins.caching]\nstore = "memory"\nurl = "${REDIS_URL:-redis://localhost}"\n'
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AREION_PORT", "9100")
    monkeypatch.setenv("AREION_LIMITS_MAX_HEADERS", "50")
    cfg = AreionConfig.load({"workers": 3})
    assert cfg.source.endswith("areion.toml")
    assert (cfg.host, cfg.port, cfg.workers) == ("0.0.0.0", 9100, 3)
    assert cfg.limits.max_body_bytes == 1000 and cfg.limits.max_headers == 50
    assert cfg.section("caching") == {"store": "memory", "url": "redis://localhost"}
    monkeypatch.setenv("REDIS_URL", "redis://cache:6379/1")
    assert cfg.section("caching")["url"] == "redis://cache:6379/1"
    assert cfg.section("nothing") == {}


def test_pyproject_tool_areion_section(tmp_path, monkeypatch):
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n[tool.areion]\nport = 8123\nplugins = []\n')
    monkeypatch.chdir(tmp_path)
    cfg = AreionConfig.load()
    assert cfg.port == 8123 and cfg.enabled_plugins == []


def test_plugin_selection_forms_merge(tmp_path, monkeypatch):
    (tmp_path / "areion.toml").write_text(
        '[plugins]\nenabled = ["caching"]\ndisabled = ["openapi"]\n[plugins.caching]\nttl = 5\n')
    monkeypatch.chdir(tmp_path)
    cfg = AreionConfig.load()
    assert cfg.enabled_plugins == ["caching"] and cfg.disabled_plugins == ["openapi"]
    monkeypatch.setenv("AREION_PLUGINS", "caching,compression")
    cfg = AreionConfig.load()
    assert cfg.enabled_plugins == ["caching", "compression"]
    assert cfg.section("caching") == {"ttl": 5}  # the section survives an env override of the list
    cfg = AreionConfig.load({"plugins": []})
    assert cfg.enabled_plugins == []


@pytest.mark.parametrize("data,key,expected", [
    ({"port": "eighty"}, "port", "whole number"),
    ({"port": 70000}, "port", "between 0 and 65535"),
    ({"workers": 0}, "workers", "between 1 and 512"),
    ({"development": "maybe"}, "development", "true or false"),
    ({"limits": {"max_body_bytes": -1}}, "limits.max_body_bytes", "greater than 0"),
    ({"limits": {"max_bodies": 1}}, "limits.max_bodies", "one of"),
    ({"log_level": "LOUD"}, "log_level", "DEBUG, INFO"),
    ({"sync_handlers": "fork"}, "sync_handlers", "'thread' or 'inline'"),
    ({"global_headers": {"X-A": "1\r\nX-B: 2"}}, "global_headers.X-A", "valid header"),
    ({"colour": "blue"}, "colour", "a known key"),
    ({"plugins": "caching"}, "plugins", "list of plugin names"),
])
def test_bad_values_stop_startup_naming_the_key(data, key, expected):
    with pytest.raises(ConfigError) as info:
        AreionConfig.load(data, search=False, environ={})
    assert info.value.key == key
    assert expected in str(info.value)


def test_missing_environment_variable_is_named(monkeypatch):
    monkeypatch.delenv("NOPE_SECRET", raising=False)
    cfg = AreionConfig.load({"plugins": {"x": {"password": "${NOPE_SECRET}"}}}, search=False, environ={})
    with pytest.raises(ConfigError, match="NOPE_SECRET"):
        cfg.section("x")


def test_masked_config_hides_secrets():
    cfg = AreionConfig.load({"plugins": {"caching": {"url": "redis://user:hunter2@host:6379/0",
                                                      "password": "hunter2", "ref": "${X}", "ttl": 5}}},
                            search=False, environ={})
    masked = cfg.masked()["plugins"]["caching"]
    assert "hunter2" not in str(masked)
    assert masked["url"] == "redis://user:***@host:6379/0"
    assert masked["ref"] == "${X}" and masked["ttl"] == 5


def test_unknown_plugin_name_stops_startup_listing_installed():
    from areion_core import PluginError

    builder = AreionServerBuilder().with_router(Router()).without_config_file().with_config(plugins=["nonexistent"])
    with pytest.raises(PluginError) as info:
        builder.build()
    assert "nonexistent" in str(info.value) and "Installed:" in str(info.value)


def test_builder_without_router_is_a_clear_error():
    with pytest.raises(ValueError, match="needs a router"):
        AreionServerBuilder().build()
    with pytest.raises(TypeError, match="expects a Router"):
        AreionServerBuilder().with_router("not a router")  # type: ignore[arg-type]
