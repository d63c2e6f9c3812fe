"""The ``areion`` CLI with the plugin installed: ``plugins``, ``routes``, ``config`` and the
plugin's own ``request-id`` subcommand, each run as a user would, in a fresh process."""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import pytest

from areion_core.plugins import discover
from examples.plugin_example.tests._request_id_support import run_areion

APP = '''
from areion_core import AreionServerBuilder, Router
from areion_request_id import skip_request_id

router = Router()


@router.get("/hello")
async def hello(request):
    return "hi"


@router.get("/health")
@skip_request_id
async def health(request):
    return "ok"


server = AreionServerBuilder().with_router(router).build()
'''

CONFIG = '''
app = "app:server"

[plugins.request_id]
header = "X-Trace-Id"

[plugins.vault]
token = "hunter2"
url = "redis://user:s3cret@cache:6379/0"
from_env = "${VAULT_TOKEN}"
'''

SELECT = {"AREION_PLUGINS": "request_id"}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "app.py").write_text(APP)
    (tmp_path / "areion.toml").write_text(textwrap.dedent(CONFIG))
    return tmp_path


def rows(stdout: str, key: int = 0) -> dict[str, list[str]]:
    """A CLI table as {column ``key``: columns}, split on runs of 2+ spaces."""
    lines = stdout.strip().splitlines()
    return {cols[key]: cols for cols in (re.split(r"\s{2,}", line.strip()) for line in lines[1:])}


def test_areion_plugins_lists_every_installed_plugin(tmp_path: Path) -> None:
    result = run_areion(["plugins"], cwd=tmp_path, env=SELECT)
    assert result.returncode == 0, result.stderr
    table = rows(result.stdout)
    assert result.stdout.splitlines()[0].split() == ["NAME", "VERSION", "DISTRIBUTION", "SOURCE", "ENABLED", "WHY", "HOOKS"]
    _, version, dist, source, enabled, why, hooks = table["request_id"]
    assert (version, dist, source, enabled, why) == ("0.1.0", "areion-request-id", "entry point", "yes", "listed in plugins")
    assert {"configure", "request_received", "response_ready"} <= set(hooks.split(", "))
    for other in set(discover()) - {"request_id"}:
        assert table[other][4:6] == ["no", "not listed in plugins"]


def test_areion_plugins_shows_why_a_plugin_is_off(tmp_path: Path) -> None:
    env = {"AREION_PLUGINS": "request_id", "AREION_DISABLE_PLUGINS": "request_id"}
    result = run_areion(["plugins"], cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    assert rows(result.stdout)["request_id"][4:] == ["no", "disabled by config", "-"]


def test_areion_plugins_fails_on_an_unknown_name(tmp_path: Path) -> None:
    result = run_areion(["plugins"], cwd=tmp_path, env={"AREION_PLUGINS": "request-id"})
    assert result.returncode == 1
    assert "not installed: request-id" in result.stderr
    assert "request_id" in result.stderr.split("Installed:", 1)[1]


def test_areion_routes_names_the_plugins_on_each_route(project: Path) -> None:
    result = run_areion(["routes"], cwd=project, env=SELECT)
    assert result.returncode == 0, result.stderr
    table = rows(result.stdout, key=1)
    assert table["/hello"] == ["GET", "/hello", "app.hello", "hello", "request_id"]
    assert table["/health"] == ["GET", "/health", "app.health", "health", "-"]  # skip_request_id


def test_areion_config_masks_secrets(project: Path) -> None:
    result = run_areion(["config"], cwd=project, env=SELECT)
    assert result.returncode == 0, result.stderr
    header, _, body = result.stdout.partition("\n")
    assert header == f"# source: {project / 'areion.toml'}"
    config = json.loads(body)
    assert config["plugins"]["enabled"] == ["request_id"]  # from AREION_PLUGINS
    assert config["plugins"]["request_id"] == {"header": "X-Trace-Id"}
    assert config["plugins"]["vault"] == {
        "token": "***",
        "url": "redis://user:***@cache:6379/0",
        "from_env": "${VAULT_TOKEN}",  # a reference, not a secret
    }
    assert "hunter2" not in result.stdout and "s3cret" not in result.stdout


def test_the_plugins_own_subcommand(project: Path) -> None:
    result = run_areion(["request-id"], cwd=project, env=SELECT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "header: X-Trace-Id",
        "trust_incoming: true",
        "max_length: 128",
        "timing: true",
        "skipped routes: /health",
    ]
    fresh = run_areion(["request-id", "--new"], cwd=project, env=SELECT)
    assert re.fullmatch(r"[0-9a-f]{32}\n", fresh.stdout)


def test_the_subcommand_is_absent_when_the_plugin_is_not_selected(project: Path) -> None:
    result = run_areion(["request-id"], cwd=project, env={"AREION_PLUGINS": ""})
    assert result.returncode == 2  # argparse: unknown command
    assert "invalid choice: 'request-id'" in result.stderr
