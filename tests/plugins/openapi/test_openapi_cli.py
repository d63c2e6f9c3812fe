"""``areion openapi [--yaml] [--output FILE]``: the document without starting the server."""

from __future__ import annotations

import itertools
import json
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from areion_core.cli import main
from tests.plugins.openapi._openapi_support import valid

_counter = itertools.count()

APP_SOURCE = '''
from dataclasses import dataclass
from areion_core import AreionServerBuilder, Router, NotFoundError

@dataclass
class Book:
    isbn: str
    title: str

router = Router()

@router.get("/books/:isbn")
def get_book(request, isbn: str) -> Book:
    """Look a book up by ISBN."""
    raise NotFoundError("No such book")

server = (AreionServerBuilder().with_router(router)
          .with_config({{"plugins": {{"enabled": ["openapi"], "openapi": {{"title": "Library"}}}}}})
          .with_development_mode({development}).build())
'''


@pytest.fixture
def app_spec(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.chdir(tmp_path)  # no areion.toml around: the app comes from --app
    name = f"openapi_cli_app_{next(_counter)}"
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(APP_SOURCE.format(development=False)))
    monkeypatch.delitem(sys.modules, name, raising=False)
    return f"{tmp_path / name}.py:server"


def test_json_to_stdout_even_when_the_docs_are_off(app_spec: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["openapi", "--app", app_spec]) == 0
    doc = valid(json.loads(capsys.readouterr().out))
    assert doc["info"]["title"] == "Library"
    assert doc["paths"]["/books/{isbn}"]["get"]["responses"]["404"]["description"] == "No such book"


def test_yaml_to_a_file(app_spec: str, tmp_path: Path) -> None:
    out = tmp_path / "openapi.yaml"
    assert main(["openapi", "--app", app_spec, "--yaml", "--output", str(out)]) == 0
    doc = valid(yaml.safe_load(out.read_text(encoding="utf-8")))
    assert doc["openapi"] == "3.1.0"
    assert doc["components"]["schemas"]["Book"]["required"] == ["isbn", "title"]


def test_yaml_without_pyyaml_names_the_package(app_spec: str, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "yaml", None)  # makes `import yaml` fail as if not installed
    assert main(["openapi", "--app", app_spec, "--yaml"]) == 1
    err = capsys.readouterr().err
    assert "PyYAML" in err and "pip install PyYAML" in err


def test_the_subcommand_is_listed(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["openapi", "--help"])
    assert "--yaml" in capsys.readouterr().out
