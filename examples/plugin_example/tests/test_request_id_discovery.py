"""Discovery and selection, with the plugin installed as a real distribution.

The plugin is only ever named, never imported, by these tests' apps: the core finds it
through its ``areion.plugins`` entry point and loads it when the configuration selects it.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from areion_core import AreionServer, AreionServerBuilder, PluginError, Router
from areion_core.plugins import discover
from areion_core.testing import TestClient
from examples.plugin_example.tests._request_id_support import Build, run_python


def has_request_id(server: AreionServer) -> bool:
    with TestClient(server) as client:
        return "x-request-id" in client.get("/hello").headers


def from_files_and_env(router: Router) -> AreionServer:
    """Built the way an app usually is: areion.toml / pyproject.toml and AREION_* decide."""
    return AreionServerBuilder().with_router(router).with_config(access_log=False).build()


def info(server: AreionServer, name: str = "request_id") -> dict[str, object]:
    found = [i for i in server.app.plugin_infos if i.name == name]
    assert len(found) == 1
    i = found[0]
    return {"enabled": i.enabled, "reason": i.reason, "source": i.source,
            "distribution": i.distribution, "version": i.version}


def test_discovered_from_its_distribution_without_being_imported() -> None:
    entry_point = discover()["request_id"]
    assert entry_point.value == "areion_request_id.hooks:RequestIdPlugin"
    assert entry_point.dist is not None
    assert entry_point.dist.metadata["Name"] == "areion-request-id"
    assert entry_point.dist.version == "0.1.0"


def test_selected_plugin_is_loaded_once_per_app(build: Build) -> None:
    one, two = build(), build()
    assert info(one) == {"enabled": True, "reason": "listed in plugins", "source": "entry point",
                         "distribution": "areion-request-id", "version": "0.1.0"}
    first, second = one.app.get_plugin("request_id"), two.app.get_plugin("request_id")
    assert type(first).__name__ == "RequestIdPlugin"
    assert first is not second  # per-app state lives on separate instances
    hooks = next(i.hooks for i in one.app.plugin_infos if i.name == "request_id")
    assert {"configure", "request_received", "response_ready", "hot_hooks_for_route"} <= set(hooks)


def test_selection_by_builder(build: Build) -> None:
    assert has_request_id(build(select=["request_id"]))
    off = build(select=[])
    assert not has_request_id(off)
    assert off.app.get_plugin("request_id") is None
    assert info(off)["reason"] == "not listed in plugins"


def test_selection_by_areion_toml(router: Router, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "areion.toml").write_text(textwrap.dedent("""
        [plugins]
        enabled = ["request_id"]

        [plugins.request_id]
        header = "X-From-File"
    """))
    monkeypatch.chdir(tmp_path)
    with TestClient(from_files_and_env(router)) as client:
        response = client.get("/hello")
    assert "x-from-file" in response.headers


def test_selection_by_pyproject_tool_areion(router: Router, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "my-app"\n\n[tool.areion]\nplugins = ["request_id"]\n')
    monkeypatch.chdir(tmp_path)
    assert has_request_id(from_files_and_env(router))


def test_selection_by_environment(router: Router, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no config file here
    monkeypatch.setenv("AREION_PLUGINS", "request_id")
    assert has_request_id(from_files_and_env(router))


def test_precedence_file_then_environment_then_builder(
    router: Router, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "areion.toml").write_text('plugins = ["request_id"]\n')
    monkeypatch.chdir(tmp_path)
    assert has_request_id(from_files_and_env(router))
    monkeypatch.setenv("AREION_PLUGINS", "")  # the environment beats the file: nothing selected
    assert not has_request_id(from_files_and_env(router))
    builder = AreionServerBuilder().with_router(router).with_config(plugins=["request_id"], access_log=False)
    assert has_request_id(builder.build())  # the builder beats both


@pytest.mark.parametrize("where", ["file", "environment", "builder"])
def test_disabled_blocks_a_selected_plugin(
    where: str, router: Router, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    builder = AreionServerBuilder().with_router(router).with_config(plugins=["request_id"], access_log=False)
    if where == "file":
        (tmp_path / "areion.toml").write_text('disabled = ["request_id"]\n')
    elif where == "environment":
        monkeypatch.setenv("AREION_DISABLE_PLUGINS", "request_id")
    else:
        builder.with_config(disabled=["request_id"])
    server = builder.build()
    assert not has_request_id(server)
    assert info(server)["enabled"] is False
    assert info(server)["reason"] == "disabled by config"


@pytest.mark.parametrize("key", ["plugins", "disabled"])
def test_an_unknown_name_stops_startup_listing_what_is_installed(build: Build, key: str) -> None:
    config = {"plugins": ["request_id", "reqest_id"]} if key == "plugins" else {"disabled": ["reqest_id"]}
    with pytest.raises(PluginError) as caught:
        build(config=config)
    message = str(caught.value)
    assert f"config {key!r} names plugin(s) that are not installed: reqest_id" in message
    installed = message.split("Installed: ", 1)[1].split(", ")
    assert "request_id" in installed
    assert sorted(installed) == sorted(discover())


def test_an_unknown_name_in_the_environment(router: Router, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AREION_PLUGINS", "request_id,timing")
    with pytest.raises(PluginError, match=r"not installed: timing\. Installed: .*request_id"):
        from_files_and_env(router)


PROBE = """
import json, sys
from areion_core import AreionServerBuilder, Router
from areion_core.plugins import discover
router = Router()
router.add_route("/", lambda: "ok")
app = (AreionServerBuilder().with_router(router).without_config_file()
       .with_config(plugins={selected!r}, access_log=False).build_app())
modules = {{name: ep.module.split(".")[0] for name, ep in discover().items()}}
print(json.dumps({{"modules": modules, "imported": sorted(n for n, m in modules.items() if m in sys.modules)}}))
"""


@pytest.mark.parametrize("selected", [[], ["request_id"]])
def test_a_plugin_that_is_not_selected_is_never_imported(selected: list[str], tmp_path: Path) -> None:
    # A fresh interpreter: other tests in this process have imported every plugin already.
    result = run_python(PROBE.format(selected=selected), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.splitlines()[-1])
    assert report["modules"]["request_id"] == "areion_request_id"
    assert len(report["modules"]) >= 1
    assert report["imported"] == selected
