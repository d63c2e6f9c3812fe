"""The plugin's wiring: engine from config, with_engine, validation, no-engine error, CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from areion_templates import DefaultEngine, TemplatesPlugin, TemplatesSettings

from areion_core import AreionServerBuilder, HttpResponse, Router
from areion_core.exceptions import ConfigError
from areion_core.testing import TestClient
from tests.plugins.templates._templates_support import make_server, write_files


def _router(name: str = "p.html") -> Router:
    router = Router()

    @router.get("/")
    async def page(request: Any) -> HttpResponse:
        return request.render_template(name, {"v": 1})  # type: ignore[no-any-return]

    return router


def test_plugin_provides_an_engine_built_from_config(tmp_path: Path) -> None:
    section = {"strict_undefined": True, "trim_blocks": True, "cache_size": 10, "stream_chunk_size": 99}
    server = make_server(tmp_path, _router(), {"p.html": "{% if v %}\nyes{% endif %}"}, section=section)
    with TestClient(server) as client:
        assert client.get("/").text == "yes"
        engine = server.app.template_engine
        assert isinstance(engine, DefaultEngine)
        assert engine.settings.strict_undefined is True
        assert engine.settings.auto_reload is False  # production
        assert engine.settings.stream_chunk_size == 99
        assert engine.env.cache is not None and engine.env.cache.capacity == 10  # type: ignore[attr-defined]


def test_with_engine_is_kept_and_its_arguments_win_over_config(tmp_path: Path) -> None:
    write_files(tmp_path / "mine", {"p.html": "mine"})
    engine = DefaultEngine(tmp_path / "mine", strict=False)
    server = make_server(tmp_path, _router(), {"p.html": "from config dir"}, engine=engine,
                         section={"strict_undefined": True, "trim_blocks": True}, development=True)
    with TestClient(server) as client:
        assert client.get("/").text == "mine"
    assert server.app.template_engine is engine
    assert engine.settings.strict_undefined is False  # the argument
    assert engine.settings.trim_blocks is True  # the config, where no argument was given
    assert engine.settings.auto_reload is True  # development


def test_1x_style_engine_without_the_plugin(tmp_path: Path) -> None:
    write_files(tmp_path / "templates", {"home.html": "<h1>{{ title }}</h1>"})
    router = Router()

    @router.get("/")
    def home(request: Any) -> HttpResponse:
        return request.render_template("home.html", {"title": "Home & more"})  # type: ignore[no-any-return]

    server = (AreionServerBuilder().with_router(router).without_config_file().with_config(plugins=[])
              .with_engine(DefaultEngine(templates_dir=str(tmp_path / "templates"))).build())
    with TestClient(server) as client:
        assert client.get("/").text == "<h1>Home &amp; more</h1>"


def test_without_an_engine_render_template_names_the_package(tmp_path: Path) -> None:
    server = (AreionServerBuilder().with_router(_router()).without_config_file().with_config(plugins=[])
              .with_development_mode(True).build())
    assert server.app.template_engine is None
    with TestClient(server) as client:
        r = client.get("/")
    assert r.status_code == 500
    assert "pip install areion-templates" in r.text


@pytest.mark.parametrize(
    ("section", "key"),
    [
        ({"strict": True}, "plugins.templates.strict"),
        ({"directories": 3}, "plugins.templates.directories"),
        ({"packages": ["not a package!"]}, "plugins.templates.packages"),
        ({"auto_reload": "yes"}, "plugins.templates.auto_reload"),
        ({"cache_size": -2}, "plugins.templates.cache_size"),
        ({"stream_chunk_size": 0}, "plugins.templates.stream_chunk_size"),
        ({"autoescape": "html"}, None),  # a single suffix is accepted
        ({"autoescape": [1]}, "plugins.templates.autoescape"),
        ({"bytecode_cache_dir": ""}, "plugins.templates.bytecode_cache_dir"),
        ({"extensions": [3]}, "plugins.templates.extensions"),
    ],
)
def test_config_is_validated_at_startup(tmp_path: Path, section: dict[str, Any], key: str | None) -> None:
    if key is None:
        make_server(tmp_path, _router(), section=section)
        return
    with pytest.raises(ConfigError) as info:
        make_server(tmp_path, _router(), section=section)
    assert info.value.key == key


def test_constructor_arguments_are_validated() -> None:
    with pytest.raises(ConfigError, match="DefaultEngine.cache_size"):
        DefaultEngine(cache_size=-5)


def test_settings_resolve_by_mode() -> None:
    dev = TemplatesSettings().resolved(True)
    prod = TemplatesSettings().resolved(False)
    assert (dev.auto_reload, dev.strict_undefined, dev.error_page, dev.bytecode_cache) == (True, True, True, False)
    assert (prod.auto_reload, prod.strict_undefined, prod.error_page, prod.bytecode_cache) == \
        (False, False, False, True)


def test_jinja_extensions_from_config(tmp_path: Path) -> None:
    template = "{% for i in range(5) %}{% if i == 2 %}{% break %}{% endif %}{{ i }}{% endfor %}"
    server = make_server(tmp_path, _router(), {"p.html": template},
                         section={"extensions": ["jinja2.ext.loopcontrols"]})
    with TestClient(server) as client:
        assert client.get("/").text == "01"


def test_plugin_is_registered_under_its_entry_point_name(tmp_path: Path) -> None:
    server = make_server(tmp_path, _router())
    assert isinstance(server.app.get_plugin("templates"), TemplatesPlugin)


APP_MODULE = """
from areion_core import AreionServerBuilder, Router
from areion_templates import TemplatesPlugin

server = (AreionServerBuilder().with_router(Router()).without_config_file().with_config(plugins=[])
          .with_config({{"plugins": {{"templates": {{"directories": [{templates!r}],
                                                   "bytecode_cache_dir": {cache!r}}}}}}})
          .with_plugins(TemplatesPlugin()))
"""


def _areion(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AREION_PLUGINS": "templates"}
    return subprocess.run([sys.executable, "-m", "areion_core", *args, "--app", "app_under_test.py:server"],
                          check=False, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)


def test_cli_lists_and_compiles_templates(tmp_path: Path) -> None:
    templates = write_files(tmp_path / "templates", {"ok.html": "{{ 1 }}", "pages/bad.html": "x\n{% endif %}"})
    cache = tmp_path / "cache"
    (tmp_path / "app_under_test.py").write_text(APP_MODULE.format(templates=str(templates), cache=str(cache)))

    listed = _areion(tmp_path, "templates", "list")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.split() == ["ok.html", "pages/bad.html"]

    compiled = _areion(tmp_path, "templates", "compile")
    assert compiled.returncode == 1
    assert "pages/bad.html: line 2:" in compiled.stderr
    assert "compiled 1 template(s), 1 error(s); bytecode cache on" in compiled.stdout
    assert len(list(cache.iterdir())) == 2

    (templates / "pages" / "bad.html").write_text("fixed")
    assert _areion(tmp_path, "templates", "compile").returncode == 0
