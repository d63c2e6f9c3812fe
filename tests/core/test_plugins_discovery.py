"""Plugin discovery (entry points), selection by configuration, and loading failures.

Each test installs throw-away distributions (a ``*.dist-info`` folder with an
``entry_points.txt``, next to the plugin's module) in a temporary folder put on
``sys.path``: exactly what pip leaves in site-packages, so ``importlib.metadata`` finds
them the same way. Apps select plugins explicitly, so the half-built real plugins that
happen to be installed are never loaded here.
"""

from __future__ import annotations

import importlib.metadata as md
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from areion_core import (
    AreionConfig,
    AreionServer,
    AreionServerBuilder,
    ConfigError,
    PluginError,
    Router,
    hookimpl,
)
from areion_core.plugins import ENTRY_POINT_GROUP, discover, select
from areion_core.testing import TestClient

PLUGIN_CLASS = '''
from areion_core import hookimpl

class Plugin:
    instances = 0

    def __init__(self):
        type(self).instances += 1
        self.section = None

    @hookimpl
    def configure(self, app, config):
        self.section = config.section({name!r})

    @hookimpl
    def response_ready(self, request, response):
        response.headers["x-plugin-{name}"] = "on"
'''

MODULE_PLUGIN = '''
from areion_core import hookimpl

@hookimpl
def response_ready(request, response):
    response.headers["x-module-plugin"] = "on"
'''

TRAP = 'raise RuntimeError("this plugin was imported")\n'


class FakeSite:
    """A folder on ``sys.path`` holding fake installed distributions."""

    def __init__(self, root: Path, tag: str) -> None:
        self.root = root
        self.tag = tag

    def install(self, name: str, source: str, attr: str | None = "Plugin", version: str = "1.2.3") -> str:
        """Install distribution ``areion-fake-<name>`` whose entry point ``name`` points at
        ``source`` (a module written here); returns the module's name."""
        module = f"fake_{name}_{self.tag}"
        (self.root / f"{module}.py").write_text(source)
        dist = f"areion_fake_{name}_{self.tag}"
        info = self.root / f"{dist}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: areion-fake-{name}-{self.tag}\nVersion: {version}\n")
        target = f"{module}:{attr}" if attr else module
        (info / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\n{name} = {target}\n")
        return module


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSite]:
    for var in ("AREION_PLUGINS", "AREION_DISABLE_PLUGINS", "AREION_TRACE_PLUGINS"):
        monkeypatch.delenv(var, raising=False)
    root = tmp_path / "site-packages"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    tag = uuid.uuid4().hex[:8]
    yield FakeSite(root, tag)
    for module in [m for m in sys.modules if m.startswith("fake_") and m.endswith(tag)]:
        del sys.modules[module]


def router() -> Router:
    r = Router()
    r.add_route("/", lambda: "home")
    return r


def build(*plugins: Any, **config: Any) -> AreionServer:
    return (AreionServerBuilder().with_router(router()).without_config_file()
            .with_config(access_log=False, **config).with_plugins(*plugins).build())


def headers(server: AreionServer) -> dict[str, str]:
    with TestClient(server) as client:
        return dict(client.get("/").headers)


def test_discovery_reads_metadata_without_importing(site: FakeSite) -> None:
    module = site.install("trap", TRAP)
    found = discover()
    assert found["trap"].value == f"{module}:Plugin"
    assert found["trap"].dist is not None and found["trap"].dist.version == "1.2.3"
    server = build(plugins=[])  # installed, not selected
    assert module not in sys.modules
    info = next(i for i in server.app.plugin_infos if i.name == "trap")
    assert (info.enabled, info.reason, info.version, info.distribution) == (
        False, "not listed in plugins", "1.2.3", f"areion-fake-trap-{site.tag}")


def test_a_selected_plugin_that_fails_to_import_stops_startup(site: FakeSite) -> None:
    module = site.install("trap", TRAP)
    with pytest.raises(PluginError) as caught:
        build(plugins=["trap"])
    assert str(caught.value) == (
        f"plugin 'trap' failed to import ({module}:Plugin): RuntimeError('this plugin was imported')")


def test_a_plugin_class_is_instantiated_once_per_app(site: FakeSite) -> None:
    module = site.install("alpha", PLUGIN_CLASS.format(name="alpha"))
    one, two = build(plugins=["alpha"]), build(plugins=["alpha"])
    cls = sys.modules[module].Plugin
    assert cls.instances == 2
    assert isinstance(one.app.get_plugin("alpha"), cls)
    assert one.app.get_plugin("alpha") is not two.app.get_plugin("alpha")
    assert headers(one)["x-plugin-alpha"] == "on"


def test_a_module_can_be_the_plugin(site: FakeSite) -> None:
    site.install("modular", MODULE_PLUGIN, attr=None)
    server = build(plugins=["modular"])
    assert headers(server)["x-module-plugin"] == "on"
    assert next(i.hooks for i in server.app.plugin_infos if i.name == "modular") == ["response_ready"]


def test_each_plugin_gets_its_own_config_section(site: FakeSite, monkeypatch: pytest.MonkeyPatch) -> None:
    site.install("alpha", PLUGIN_CLASS.format(name="alpha"))
    site.install("beta", PLUGIN_CLASS.format(name="beta"))
    monkeypatch.setenv("FAKE_SECRET", "s3cret")
    server = build(plugins={"enabled": ["alpha", "beta"], "alpha": {"size": 3, "token": "${FAKE_SECRET}"}})
    assert server.app.get_plugin("alpha").section == {"size": 3, "token": "s3cret"}
    assert server.app.get_plugin("beta").section == {}
    assert server.app.config.masked()["plugins"]["alpha"]["token"] == "${FAKE_SECRET}"


@pytest.mark.parametrize(
    ("body", "error", "message"),
    [
        ("raise ValueError('no')", PluginError, "plugin 'bad' failed in configure: ValueError('no')"),
        ("raise ConfigError('size', 0, 'a size above 0')", ConfigError,
         "config key 'plugins.bad.size': got 0, expected a size above 0"),
    ],
)
def test_a_plugin_that_rejects_its_config_stops_startup(
    site: FakeSite, body: str, error: type[Exception], message: str
) -> None:
    source = textwrap.dedent(f"""
        from areion_core import ConfigError, hookimpl

        class Plugin:
            @hookimpl
            def configure(self, app, config):
                {body}
    """)
    site.install("bad", source)
    with pytest.raises(error) as caught:
        build(plugins=["bad"])
    assert str(caught.value) == message


def test_a_plugin_that_fails_to_initialise_or_start_names_itself(site: FakeSite) -> None:
    site.install("fragile", "class Plugin:\n    def __init__(self):\n        raise OSError('no disk')\n")
    with pytest.raises(PluginError, match=r"^plugin 'fragile' failed to initialise: OSError\('no disk'\)$"):
        build(plugins=["fragile"])
    site.install("late", textwrap.dedent("""
        from areion_core import hookimpl

        class Plugin:
            @hookimpl
            async def startup(self, app):
                raise ConnectionError("no redis")
    """))
    server = build(plugins=["late"])
    with pytest.raises(PluginError, match=r"^plugin 'late' failed at startup: ConnectionError\('no redis'\)$"):
        TestClient(server).__enter__()


def test_with_plugins_needs_no_entry_point(site: FakeSite) -> None:
    class Direct:
        name = "direct"

        @hookimpl
        def response_ready(self, request: Any, response: Any) -> None:
            response.headers["x-direct"] = "on"

    server = build(Direct(), plugins=[])
    assert headers(server)["x-direct"] == "on"
    info = next(i for i in server.app.plugin_infos if i.name == "direct")
    assert (info.source, info.enabled, info.hooks) == ("with_plugins", True, ["response_ready"])
    with pytest.raises(PluginError, match="two plugins are named 'direct'"):
        build(Direct(), Direct(), plugins=[])


def test_a_with_plugins_object_replaces_the_installed_plugin_of_its_name(site: FakeSite) -> None:
    module = site.install("alpha", TRAP)  # importing it would fail the build

    class StandIn:
        name = "alpha"

        @hookimpl
        def response_ready(self, request: Any, response: Any) -> None:
            response.headers["x-stand-in"] = "on"

    server = build(StandIn(), plugins=["alpha"])
    assert headers(server)["x-stand-in"] == "on"
    assert module not in sys.modules
    infos = [(i.source, i.enabled, i.reason) for i in server.app.plugin_infos if i.name == "alpha"]
    assert infos == [
        ("entry point", False, "replaced by an object given to with_plugins()"),
        ("with_plugins", True, "registered with with_plugins()"),
    ]


# --- selection, without loading anything ------------------------------------------------

def installed(*names: str) -> dict[str, md.EntryPoint]:
    return {n: md.EntryPoint(n, f"pkg_{n}.hooks:Plugin", ENTRY_POINT_GROUP) for n in names}


def choose(layers: dict[str, Any], environ: dict[str, str] | None = None,
           file: Path | None = None) -> dict[str, tuple[bool, str]]:
    config = AreionConfig.load(layers, environ=environ or {}, file=file, search=False)
    return {i.name: (i.enabled, i.reason) for i in select(config, installed("a", "b", "c"))}


def test_without_a_list_every_installed_plugin_loads() -> None:
    assert choose({}) == {n: (True, "installed (no plugins list: all load)") for n in "abc"}


def test_a_list_loads_exactly_those_and_disabled_wins() -> None:
    assert choose({"plugins": ["a", "c"], "disabled": ["c"]}) == {
        "a": (True, "listed in plugins"),
        "b": (False, "not listed in plugins"),
        "c": (False, "disabled by config"),
    }
    assert choose({"plugins": []}) == {n: (False, "not listed in plugins") for n in "abc"}
    assert choose({"disabled": ["b"]})["b"] == (False, "disabled by config")


def test_the_plugins_table_form(tmp_path: Path) -> None:
    # TOML cannot hold `plugins = [...]` and `[plugins.<name>]` at once: `enabled` inside the table.
    toml = tmp_path / "areion.toml"
    toml.write_text('[plugins]\nenabled = ["b"]\ndisabled = ["a"]\n\n[plugins.b]\nlevel = 2\n')
    assert choose({}, file=toml) == {
        "a": (False, "disabled by config"), "b": (True, "listed in plugins"), "c": (False, "not listed in plugins"),
    }


def test_rising_precedence_file_environment_builder(tmp_path: Path) -> None:
    toml = tmp_path / "areion.toml"
    toml.write_text('plugins = ["a"]\n')
    assert choose({}, file=toml)["a"] == (True, "listed in plugins")
    env = {"AREION_PLUGINS": "b, c"}
    assert {n for n, (on, _) in choose({}, env, toml).items() if on} == {"b", "c"}
    assert {n for n, (on, _) in choose({"plugins": ["c"]}, env, toml).items() if on} == {"c"}
    blocked = choose({"plugins": ["c"]}, {"AREION_DISABLE_PLUGINS": "c"}, toml)
    assert blocked["c"] == (False, "disabled by config")


@pytest.mark.parametrize(("layers", "key"), [({"plugins": ["a", "z"]}, "plugins"), ({"disabled": ["z"]}, "disabled")])
def test_unknown_names_stop_startup_listing_what_is_installed(layers: dict[str, Any], key: str) -> None:
    with pytest.raises(PluginError) as caught:
        choose(layers)
    assert str(caught.value) == f"config {key!r} names plugin(s) that are not installed: z. Installed: a, b, c"


def test_nothing_installed_says_so() -> None:
    config = AreionConfig.load({"plugins": ["caching"]}, environ={}, search=False)
    with pytest.raises(PluginError, match=r"Installed: \(none installed\)$"):
        select(config, {})


def test_selection_is_validated(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="'plugins'"):
        AreionConfig.load({"plugins": "caching"}, environ={}, search=False)
    with pytest.raises(ConfigError, match="'disabled'"):
        AreionConfig.load({"disabled": [1]}, environ={}, search=False)


