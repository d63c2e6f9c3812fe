"""Where templates come from: several directories, and folders shipped inside packages."""

from __future__ import annotations

import itertools
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from areion_templates import DefaultEngine, TemplateNotFoundError

from areion_core import HttpResponse, Router, hookimpl
from areion_core.exceptions import ConfigError
from areion_core.testing import TestClient
from tests.plugins.templates._templates_support import make_server, write_files

_counter = itertools.count()


@pytest.fixture
def make_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Create an importable package under tmp_path: ``make_package({"templates/x.html": ...})``."""
    created: list[str] = []

    def make(files: dict[str, str]) -> str:
        name = f"tplpkg_{next(_counter)}_{tmp_path.name[-8:].replace('-', '_')}"
        write_files(tmp_path / "site" / name, {"tests.plugins.templates.__init__.py": "", **files})
        created.append(name)
        return name

    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    yield make
    for name in created:
        sys.modules.pop(name, None)


def _router(name: str) -> Router:
    router = Router()

    @router.get("/")
    async def page(request: Any) -> HttpResponse:
        return request.render_template(name, {"who": "<you>"})  # type: ignore[no-any-return]

    return router


def test_prefixed_name_renders_a_template_shipped_in_a_package(tmp_path: Path, make_package: Any) -> None:
    pkg = make_package({"templates/widget.html": "<b>{{ who }}</b>{% include 'part.html' %}",
                        "templates/part.html": "[pkg part]"})
    server = make_server(tmp_path, _router(f"{pkg}:widget.html"), section={"packages": [pkg]})
    with TestClient(server) as client:
        r = client.get("/")
    assert r.status_code == 200
    assert r.text == "<b>&lt;you&gt;</b>[pkg part]"  # autoescaped like any .html template


def test_app_directory_overrides_a_package_template_for_unprefixed_names(tmp_path: Path, make_package: Any) -> None:
    pkg = make_package({"templates/widget.html": "{% include 'part.html' %}", "templates/part.html": "[pkg part]"})
    server = make_server(tmp_path, _router(f"{pkg}:widget.html"), {"part.html": "[app part]"},
                         section={"packages": [pkg]})
    with TestClient(server) as client:
        assert client.get("/").text == "[app part]"
    engine = server.app.template_engine
    assert engine.render_to_string("part.html") == "[app part]"
    assert engine.render_to_string(f"{pkg}:part.html") == "[pkg part]"


def test_package_with_a_custom_folder(tmp_path: Path, make_package: Any) -> None:
    pkg = make_package({"ui/jinja/card.txt": "card {{ who }}"})
    server = make_server(tmp_path, _router(f"{pkg}.ui:card.txt"), section={"packages": [f"{pkg}.ui:jinja"]})
    write_files(tmp_path / "site" / pkg / "ui", {"tests.plugins.templates.__init__.py": ""})
    with TestClient(server) as client:
        r = client.get("/")
    assert (r.text, r.headers["content-type"]) == ("card <you>", "text/plain; charset=utf-8")


class ShipsTemplates:
    """A plugin that ships its own templates."""

    name = "ships_templates"

    def __init__(self, package: str) -> None:
        self.package = package

    @hookimpl
    def template_packages(self, app: Any) -> list[str]:
        return [self.package]


def test_plugins_register_their_packages_through_the_hook(tmp_path: Path, make_package: Any) -> None:
    pkg = make_package({"templates/admin/base.html": "admin for {{ who }}"})
    server = make_server(tmp_path, _router(f"{pkg}:admin/base.html"), plugins=[ShipsTemplates(pkg)])
    with TestClient(server) as client:
        assert client.get("/").text == "admin for &lt;you&gt;"


def test_add_package_on_the_engine(tmp_path: Path, make_package: Any) -> None:
    pkg = make_package({"templates/x.txt": "from package"})
    engine = DefaultEngine(tmp_path)
    engine.add_package(pkg)
    assert engine.render_to_string(f"{pkg}:x.txt") == "from package"
    assert engine.render_to_string("x.txt") == "from package"
    assert f"{pkg}:x.txt" in engine.loader.list_templates()  # type: ignore[union-attr]


def test_missing_template_lists_directories_and_packages(tmp_path: Path, make_package: Any) -> None:
    pkg = make_package({"templates/a.html": ""})
    engine = DefaultEngine(tmp_path / "one", directories=[tmp_path / "two"], packages=[pkg])
    with pytest.raises(TemplateNotFoundError) as info:
        engine.render("nope.html")
    searched = info.value.searched
    assert searched[0].startswith(f"directory {tmp_path / 'one'}")
    assert searched[1].startswith(f"directory {tmp_path / 'two'}")
    assert searched[2].startswith(f"package {pkg} (") and searched[2].endswith("templates)")
    with pytest.raises(TemplateNotFoundError, match=f"package {pkg}"):
        engine.render(f"{pkg}:nope.html")
    with pytest.raises(TemplateNotFoundError, match="no package 'other' ships templates"):
        engine.render("other:nope.html")


def test_directories_are_searched_in_order(tmp_path: Path) -> None:
    write_files(tmp_path / "first", {"a.txt": "first a"})
    write_files(tmp_path / "second", {"a.txt": "second a", "b.txt": "second b"})
    server = make_server(tmp_path, _router("b.txt"),
                         section={"directories": [str(tmp_path / "first"), str(tmp_path / "second")]})
    with TestClient(server) as client:
        assert client.get("/").text == "second b"
    assert server.app.template_engine.render_to_string("a.txt") == "first a"


def test_a_package_that_does_not_exist_stops_startup(tmp_path: Path) -> None:
    server = make_server(tmp_path, _router("x.html"), section={"packages": ["no_such_pkg_xyz"]})
    with pytest.raises(ConfigError, match="plugins.templates.packages"), TestClient(server):
        pass


def test_a_package_without_the_folder_stops_startup(tmp_path: Path, make_package: Any) -> None:
    pkg = make_package({"other/x.html": ""})
    server = make_server(tmp_path, _router("x.html"), section={"packages": [pkg]})
    with pytest.raises(ConfigError, match="'templates' folder"), TestClient(server):
        pass


def test_template_names_cannot_leave_the_directories(tmp_path: Path) -> None:
    write_files(tmp_path, {"secret.txt": "secret", "t/ok.txt": "ok"})
    engine = DefaultEngine(tmp_path / "t")
    with pytest.raises(TemplateNotFoundError):
        engine.render("../secret.txt")
