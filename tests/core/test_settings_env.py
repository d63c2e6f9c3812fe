"""``${VAR}`` and ``${VAR:-default}`` through real config loading: the core's keys and every plugin's.

Each value is written as a user would write it (an ``areion.toml`` in the working directory, or
``with_config``), the app is built, and the test reads what the core or the plugin really runs
with: numbers, booleans and lists given as text from the environment arrive as numbers,
booleans and lists; a missing variable or a bad value stops startup naming the key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from areion_core import App, AreionConfig, AreionServerBuilder, ConfigError, Router

PLUGIN_VARIABLES = ("AREION_PLUGINS", "AREION_DISABLE_PLUGINS", "AREION_TRACE_PLUGINS")


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in PLUGIN_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no areion.toml but the ones these tests write


def write_toml(path: Path, text: str) -> None:
    (path / "areion.toml").write_text(text, encoding="utf-8")


def build_app(config: dict[str, Any] | None = None, *, search: bool = False) -> App:
    builder = AreionServerBuilder().with_router(Router())
    if not search:
        builder.without_config_file()
    if config:
        builder.with_config(config)
    return builder.build_app()


def plugin_app(name: str, section: dict[str, Any]) -> App:
    """An app with only plugin ``name``, configured by ``section`` through ``with_config``."""
    return build_app({"access_log": False, "plugins": {"enabled": [name], name: section}})


# --- the core's own keys ----------------------------------------------------------------------


def test_core_keys_from_a_real_areion_toml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("T_WORKERS", "3")
    monkeypatch.setenv("T_REGION", "eu-1")
    monkeypatch.setenv("T_EMPTY", "")
    monkeypatch.delenv("T_PORT", raising=False)
    write_toml(tmp_path, """
port = "${T_PORT:-9123}"
workers = "${T_WORKERS}"
development = "${T_DEV:-true}"
access_log = "${T_ACCESS:-false}"
hook_timeout = "${T_HOOK:-2.5}"
root_path = "${T_EMPTY:-/api}"

[global_headers]
X-Region = "region ${T_REGION}"

[limits]
max_body_bytes = "${T_BODY:-2048}"
keepalive_timeout = "${T_KEEPALIVE:-1.5}"
""")
    cfg = AreionConfig.load()
    assert (cfg.port, cfg.workers, cfg.development, cfg.access_log) == (9123, 3, True, False)
    assert cfg.hook_timeout == 2.5
    assert cfg.root_path == "/api"  # POSIX: ${VAR:-default} also replaces an empty variable
    assert cfg.global_headers == {"X-Region": "region eu-1"}
    assert (cfg.limits.max_body_bytes, cfg.limits.keepalive_timeout) == (2048, 1.5)
    assert type(cfg.limits.max_body_bytes) is int


def test_the_plugin_list_as_one_variable_in_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AREION_PLUGIN_LIST", raising=False)
    write_toml(tmp_path, """
[plugins]
enabled = "${AREION_PLUGIN_LIST:-caching,compression}"
disabled = ["${T_OFF:-openapi}"]

[plugins.caching]
default_ttl = 5
""")
    app = build_app(search=True)
    assert app.config.enabled_plugins == ["caching", "compression"]
    assert app.config.disabled_plugins == ["openapi"]
    assert {name for name in ("caching", "compression", "openapi") if app.get_plugin(name)} == {
        "caching", "compression"}

    monkeypatch.setenv("AREION_PLUGIN_LIST", " compression , ")
    assert build_app(search=True).config.enabled_plugins == ["compression"]


def test_the_plugin_list_as_one_variable_through_the_builder(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("T_PLUGINS", "compression,caching")
    app = build_app({"plugins": "${T_PLUGINS}", "disabled": "${T_DISABLED:-caching}"})
    assert app.config.enabled_plugins == ["compression", "caching"]
    assert app.config.disabled_plugins == ["caching"]
    assert app.get_plugin("compression") is not None and app.get_plugin("caching") is None


def test_a_literal_string_is_not_a_list() -> None:
    # Only text from ${VAR} is split on commas; "caching" written as it is stays an error.
    with pytest.raises(ConfigError) as caught:
        AreionConfig.load({"plugins": {"enabled": "caching"}}, search=False)
    assert caught.value.key == "plugins"
    assert "list of plugin names" in caught.value.expected


@pytest.mark.parametrize(
    ("config", "key"),
    [
        ({"port": "${T_UNSET}"}, "port"),
        ({"limits": {"max_body_bytes": "${T_UNSET}"}}, "limits.max_body_bytes"),
        ({"plugins": {"enabled": "${T_UNSET}"}}, "plugins.enabled"),
        ({"plugins": ["caching", "${T_UNSET}"]}, "plugins.enabled[1]"),
        ({"global_headers": {"X-Id": "${T_UNSET}"}}, "global_headers.X-Id"),
    ],
)
def test_a_missing_variable_without_a_default_names_the_key(
    monkeypatch: pytest.MonkeyPatch, config: dict[str, Any], key: str
) -> None:
    monkeypatch.delenv("T_UNSET", raising=False)
    with pytest.raises(ConfigError) as caught:
        AreionConfig.load(config, search=False)
    assert caught.value.key == key
    assert "${T_UNSET}" in str(caught.value.value)
    assert caught.value.expected == "environment variable T_UNSET to be set"


@pytest.mark.parametrize(
    ("config", "variable", "key", "expected"),
    [
        ({"port": "${T_BAD}"}, "eighty", "port", "a whole number between 0 and 65535"),
        ({"workers": "${T_BAD:-0}"}, None, "workers", "a whole number between 1 and 512"),
        ({"development": "${T_BAD}"}, "maybe", "development", "true or false"),
        ({"hook_timeout": "${T_BAD}"}, "-1", "hook_timeout", "a number of seconds > 0"),
        ({"limits": {"max_body_bytes": "${T_BAD}"}}, "lots", "limits.max_body_bytes", "a number"),
    ],
)
def test_a_bad_value_after_expansion_names_key_value_and_expectation(
    monkeypatch: pytest.MonkeyPatch, config: dict[str, Any], variable: str | None, key: str, expected: str
) -> None:
    if variable is None:
        monkeypatch.delenv("T_BAD", raising=False)
    else:
        monkeypatch.setenv("T_BAD", variable)
    with pytest.raises(ConfigError) as caught:
        AreionConfig.load(config, search=False)
    error = caught.value
    assert error.key == key
    assert error.expected.startswith(expected)
    assert str(error.value) == (variable or "0")
    assert key in str(error)


# --- every plugin's section ---------------------------------------------------------------------


def test_caching_section(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("T_ENTRIES", "500")
    monkeypatch.setenv("T_VARY", "Accept-Language")
    app = plugin_app("caching", {
        "default_ttl": "${T_TTL:-30}",
        "max_entries": "${T_ENTRIES}",
        "max_bytes": "${T_BYTES:-2MB}",
        "cacheable_statuses": "${T_STATUSES:-200,404}",
        "hit_header": "${T_HIT:-X-Hit}",
        "etag": "${T_ETAG:-true}",
        "routes": {"/a/*": "${T_ROUTE_TTL:-15}",
                   "/b": {"ttl": "${T_B_TTL:-5}", "vary": "${T_VARY}", "allow_authorized": "${T_AUTH:-true}"}},
        "cache_control": {"/c": {"max-age": "${T_MAX_AGE:-60}", "public": "${T_PUBLIC:-true}"}},
    })
    settings = app.get_plugin("caching").settings
    assert (settings.default_ttl, settings.max_entries, settings.max_bytes) == (30.0, 500, 2 * 1024 * 1024)
    assert settings.cacheable_statuses == frozenset({200, 404})
    assert (settings.hit_header, settings.etag) == ("X-Hit", ("*",))
    assert settings.routes["/a/*"].ttl == 15
    assert (settings.routes["/b"].ttl, settings.routes["/b"].vary) == (5, ("accept-language",))
    assert settings.routes["/b"].allow_authorized is True
    assert settings.cache_control["/c"].value == "public, max-age=60"


def test_caching_bad_value_after_expansion(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("T_ENTRIES", "many")
    with pytest.raises(ConfigError) as caught:
        plugin_app("caching", {"max_entries": "${T_ENTRIES}"})
    assert caught.value.key == "plugins.caching.max_entries"
    assert caught.value.value == "many"
    assert caught.value.expected == "a whole number >= 1 (from ${T_ENTRIES})"


def test_compression_section(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("T_ALGORITHMS", "gzip, br")
    app = plugin_app("compression", {
        "algorithms": "${T_ALGORITHMS}",
        "gzip_level": "${T_GZIP:-5}",
        "min_size": "${T_MIN:-0}",
        "content_types": "${T_TYPES:-text/*,application/json}",
        "not_acceptable_406": "${T_406:-true}",
    })
    settings = app.get_plugin("compression").compressor.settings
    assert settings.preference == ("gzip", "br")
    assert (settings.gzip_level, settings.min_size, settings.not_acceptable_406) == (5, 0, True)
    assert settings.content_types == ("text/*", "application/json")


def test_compression_bad_value_after_expansion(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("T_GZIP", "12")
    with pytest.raises(ConfigError) as caught:
        plugin_app("compression", {"gzip_level": "${T_GZIP}"})
    assert caught.value.key == "plugins.compression.gzip_level"
    assert caught.value.value == 12
    assert caught.value.expected == "an integer from 1 to 9 (from ${T_GZIP})"


def test_openapi_section(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("T_SERVERS", "https://a.example,/v1")
    app = plugin_app("openapi", {
        "enabled": "${T_DOCS_ON:-true}",
        "title": "${T_TITLE:-Shop}",
        "servers": "${T_SERVERS}",
        "redoc_path": "${T_REDOC:-false}",
    })
    settings = app.get_plugin("openapi").service.settings
    assert (settings.enabled, settings.title, settings.redoc_path) == (True, "Shop", None)
    assert settings.servers == ({"url": "https://a.example"}, {"url": "/v1"})
    assert {route.path for route in app.routes} >= {"/docs", "/openapi.json"}


def test_openapi_bad_value_after_expansion(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("T_DOCS_ON", "sometimes")
    with pytest.raises(ConfigError) as caught:
        plugin_app("openapi", {"enabled": "${T_DOCS_ON}"})
    assert caught.value.key == "plugins.openapi.enabled"
    assert caught.value.expected == "true or false (from ${T_DOCS_ON})"


def test_templates_section(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "hello.txt").write_text("hello {{ name }}", encoding="utf-8")
    monkeypatch.setenv("T_DIRS", f"{tmp_path / 'a'},{tmp_path / 'b'}")
    app = plugin_app("templates", {
        "directories": "${T_DIRS}",
        "cache_size": "${T_CACHE:-50}",
        "trim_blocks": "${T_TRIM:-true}",
        "auto_reload": "${T_RELOAD:-false}",
        "autoescape": "${T_ESCAPE:-html,xml}",
    })
    engine = app.template_engine
    engine.bind(app)
    settings = engine.settings
    assert settings.directories == (str(tmp_path / "a"), str(tmp_path / "b"))
    assert (settings.cache_size, settings.trim_blocks, settings.auto_reload) == (50, True, False)
    assert settings.autoescape == ("html", "xml")
    assert engine.render_to_string("hello.txt", {"name": "env"}) == "hello env"


def test_templates_bad_value_after_expansion(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("T_CACHE", "-5")
    with pytest.raises(ConfigError) as caught:
        plugin_app("templates", {"cache_size": "${T_CACHE}"})
    assert caught.value.key == "plugins.templates.cache_size"
    assert caught.value.expected == "an integer >= -1 (from ${T_CACHE})"


def test_scheduling_section(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("T_WORKERS", "8")
    monkeypatch.delenv("TICK", raising=False)
    app = plugin_app("scheduling", {
        "max_workers": "${T_WORKERS}",
        "coalesce": "${T_COALESCE:-false}",
        "shutdown_timeout": "${T_SHUTDOWN:-2.5}",
        "misfire_grace_time": "${T_GRACE:-unlimited}",
        "timezone": "${T_TZ:-Europe/Paris}",
        "jobs": {
            "tick": {"func": "json:dumps", "every": "${TICK:-10}", "args": "${T_ARGS:-a,b}",
                     "max_instances": "${T_INSTANCES:-2}"},
            "poll": {"func": "json:dumps", "every": {"minutes": "${T_MINUTES:-5}"}},
        },
    })
    orchestrator = app.orchestrator
    orchestrator.bind(app)
    settings = orchestrator.settings
    assert (settings.max_workers, settings.coalesce, settings.shutdown_timeout) == (8, False, 2.5)
    assert settings.misfire_grace_time is None and str(settings.timezone) == "Europe/Paris"
    jobs = {job.id: job for job in settings.jobs}
    assert str(jobs["tick"].trigger) == "every[10s]" and jobs["tick"].args == ("a", "b")
    assert jobs["tick"].max_instances == 2
    assert str(jobs["poll"].trigger) == "every[300s]"


def test_scheduling_bad_value_after_expansion(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TICK", "soon")
    with pytest.raises(ConfigError) as caught:
        plugin_app("scheduling", {"jobs": {"tick": {"func": "json:dumps", "every": "${TICK}"}}})
    assert caught.value.key == "plugins.scheduling.jobs.tick.every"
    assert caught.value.value == "soon"
    assert caught.value.expected.endswith("(from ${TICK})")


def test_request_id_section(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("T_HEADER", "X-Trace-Id")
    app = plugin_app("request_id", {
        "header": "${T_HEADER}", "max_length": "${T_MAX:-64}", "timing": "${T_TIMING:-false}"})
    settings = app.get_plugin("request_id").settings
    assert (settings.header, settings.max_length, settings.timing) == ("X-Trace-Id", 64, False)


@pytest.mark.parametrize("name", ["caching", "compression", "openapi", "templates", "scheduling", "request_id"])
def test_a_missing_variable_in_a_plugin_section_names_the_key(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    monkeypatch.delenv("T_UNSET", raising=False)
    with pytest.raises(ConfigError) as caught:
        plugin_app(name, {"some_key": "${T_UNSET}"})
    assert caught.value.key == f"plugins.{name}.some_key"
    assert caught.value.expected == "environment variable T_UNSET to be set"


def test_an_unselected_plugins_variables_need_not_be_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("T_UNSET", raising=False)
    app = build_app({"plugins": {"enabled": ["compression"], "caching": {"url": "${T_UNSET}"}}})
    assert app.get_plugin("caching") is None
