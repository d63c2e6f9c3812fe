"""Development (reload, StrictUndefined, error pages) versus production (no checks, bytecode cache)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import jinja2
import pytest
from areion_templates import DefaultEngine, render_template_async

from areion_core import HttpResponse, Router
from areion_core.testing import TestClient
from tests.plugins.templates._templates_support import make_server, rewrite, write_files


def _page_router(name: str = "page.html", context: dict[str, Any] | None = None) -> Router:
    router = Router()

    @router.get("/")
    async def page(request: Any) -> HttpResponse:
        return request.render_template(name, context or {})  # type: ignore[no-any-return]

    return router


def test_development_reloads_a_changed_template(tmp_path: Path) -> None:
    server = make_server(tmp_path, _page_router(), {"page.html": "first"}, development=True)
    with TestClient(server) as client:
        assert client.get("/").text == "first"
        rewrite(tmp_path / "templates" / "page.html", "second")
        assert client.get("/").text == "second"


def test_production_does_not_check_files_per_request(tmp_path: Path) -> None:
    server = make_server(tmp_path, _page_router(), {"page.html": "first"})
    with TestClient(server) as client:
        assert client.get("/").text == "first"
        rewrite(tmp_path / "templates" / "page.html", "second")
        assert client.get("/").text == "first"


def test_auto_reload_can_be_forced_on_in_production(tmp_path: Path) -> None:
    server = make_server(tmp_path, _page_router(), {"page.html": "first"}, section={"auto_reload": True})
    with TestClient(server) as client:
        assert client.get("/").text == "first"
        rewrite(tmp_path / "templates" / "page.html", "second")
        assert client.get("/").text == "second"


def test_undefined_is_an_error_page_in_development(tmp_path: Path) -> None:
    template = "<h1>Title</h1>\n<p>ok</p>\n<p>{{ user.name }}</p>\n"
    server = make_server(tmp_path, _page_router("profile.html"), {"profile.html": template}, development=True)
    with TestClient(server) as client:
        r = client.get("/")
    assert r.status_code == 500
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    assert "UndefinedError in profile.html, line 3" in r.text
    assert "&#x27;user&#x27; is undefined" in r.text
    assert '<tr class="here"><td>3</td><td><code>&lt;p&gt;{{ user.name }}&lt;/p&gt;</code></td></tr>' in r.text


def test_undefined_renders_empty_in_production(tmp_path: Path) -> None:
    server = make_server(tmp_path, _page_router("p.html"), {"p.html": "[{{ missing }}]"})
    with TestClient(server) as client:
        r = client.get("/")
    assert (r.status_code, r.text) == (200, "[]")


def test_syntax_error_page_names_the_included_template_and_line(tmp_path: Path) -> None:
    templates = {
        "page.html": "{% include 'parts/broken.html' %}",
        "parts/broken.html": "one\ntwo\n{% if %}\nfour\n",
    }
    server = make_server(tmp_path, _page_router(), templates, development=True)
    with TestClient(server) as client:
        r = client.get("/")
    assert r.status_code == 500
    assert "TemplateSyntaxError in parts/broken.html, line 3" in r.text
    assert '<tr class="here"><td>3</td><td><code>{% if %}</code></td></tr>' in r.text


def test_error_page_escapes_what_it_shows(tmp_path: Path) -> None:
    template = "{{ data['<img src=x onerror=alert(1)>'] }}"
    router = _page_router("x.html", {"data": {}})
    server = make_server(tmp_path, router, {"x.html": template}, development=True)
    with TestClient(server) as client:
        r = client.get("/")
    assert r.status_code == 500
    assert "<img" not in r.text
    assert "&lt;img src=x onerror=alert(1)&gt;" in r.text


def test_error_page_for_an_error_raised_in_template_code(tmp_path: Path) -> None:
    template = "a\n{{ 1 // zero }}\n"
    server = make_server(tmp_path, _page_router("calc.html", {"zero": 0}), {"calc.html": template},
                         development=True)
    with TestClient(server) as client:
        r = client.get("/")
    assert r.status_code == 500
    assert "ZeroDivisionError in calc.html, line 2" in r.text


def test_error_page_for_async_rendering(tmp_path: Path) -> None:
    router = Router()

    @router.get("/")
    async def page(request: Any) -> HttpResponse:
        return await render_template_async(request, "a.html")

    server = make_server(tmp_path, router, {"a.html": "x\n{{ nope() }}"}, development=True)
    with TestClient(server) as client:
        r = client.get("/")
    assert r.status_code == 500
    assert "UndefinedError in a.html, line 2" in r.text


def test_missing_template_page_in_development_lists_the_search_path(tmp_path: Path) -> None:
    server = make_server(tmp_path, _page_router("nope.html"), development=True)
    with TestClient(server) as client:
        r = client.get("/")
    assert r.status_code == 500
    assert "TemplateNotFoundError in nope.html" in r.text
    assert str(tmp_path / "templates") in r.text


def test_template_errors_are_generic_500s_in_production(tmp_path: Path) -> None:
    server = make_server(tmp_path, _page_router("b.html"), {"b.html": "{% if %}"})
    with TestClient(server) as client:
        r = client.get("/")
    assert r.status_code == 500
    assert r.json() == {"type": "about:blank", "title": "Internal Server Error", "status": 500,
                        "detail": "Internal Server Error", "error": "Internal Server Error"}


def _count_compiles(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record every template Jinja2 compiles from source (a bytecode-cache hit compiles nothing)."""
    compiled: list[str] = []
    original = jinja2.Environment.compile

    def counting(self: jinja2.Environment, source: Any, name: str | None = None, *args: Any, **kw: Any) -> Any:
        compiled.append(f"{name}{' async' if self.is_async else ''}")
        return original(self, source, name, *args, **kw)

    monkeypatch.setattr(jinja2.Environment, "compile", counting)
    return compiled


def test_production_bytecode_cache_is_written_and_reused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    compiled = _count_compiles(monkeypatch)
    cache_dir = tmp_path / "bytecode"
    router = Router()

    @router.get("/")
    async def page(request: Any) -> HttpResponse:
        return request.render_template("page.html", {"n": 1})  # type: ignore[no-any-return]

    @router.get("/async")
    async def page_async(request: Any) -> HttpResponse:
        return await render_template_async(request, "page.html", {"n": 2})

    with TestClient(make_server(tmp_path, router, {"page.html": "n={{ n }}"})) as client:
        assert client.get("/").text == "n=1"
        assert client.get("/async").text == "n=2"
    assert compiled == ["page.html", "page.html async"]
    files = sorted(p.name for p in cache_dir.iterdir())
    assert len(files) == 2 and any("_sync_" in f for f in files) and any("_async_" in f for f in files)
    assert cache_dir.stat().st_mode & 0o077 == 0  # nobody else may plant bytecode here

    # A second app (another worker starting) loads both from the cache, compiling nothing.
    compiled.clear()
    with TestClient(make_server(tmp_path, router)) as client:
        assert client.get("/").text == "n=1"
        assert client.get("/async").text == "n=2"
    assert compiled == []


def test_changed_source_is_recompiled_despite_the_cache(tmp_path: Path) -> None:
    write_files(tmp_path / "t", {"p.txt": "one"})
    DefaultEngine(tmp_path / "t", bytecode_cache_dir=tmp_path / "bc").render_to_string("p.txt")
    (tmp_path / "t" / "p.txt").write_text("two")
    assert DefaultEngine(tmp_path / "t", bytecode_cache_dir=tmp_path / "bc").render_to_string("p.txt") == "two"


def test_bytecode_compiled_without_autoescape_is_not_reused_with_it(tmp_path: Path) -> None:
    # Autoescaping is decided at compile time; a cache keyed on the source alone would keep
    # serving unescaped code after autoescape was switched on.
    write_files(tmp_path / "t", {"p.html": "{{ v }}"})
    off = DefaultEngine(tmp_path / "t", bytecode_cache_dir=tmp_path / "bc", autoescape=False)
    assert off.render_to_string("p.html", {"v": "<b>"}) == "<b>"
    on = DefaultEngine(tmp_path / "t", bytecode_cache_dir=tmp_path / "bc")
    assert on.render_to_string("p.html", {"v": "<b>"}) == "&lt;b&gt;"


def test_no_bytecode_cache_in_development_unless_asked(tmp_path: Path) -> None:
    server = make_server(tmp_path, _page_router(), {"page.html": "x"}, development=True)
    with TestClient(server) as client:
        assert client.get("/").text == "x"
    assert not (tmp_path / "bytecode").exists()
    server = make_server(tmp_path, _page_router(), {"page.html": "x"}, development=True,
                         section={"bytecode_cache": True})
    with TestClient(server) as client:
        assert client.get("/").text == "x"
    assert len(list((tmp_path / "bytecode").iterdir())) == 1


def test_bytecode_cache_can_be_switched_off_in_production(tmp_path: Path) -> None:
    server = make_server(tmp_path, _page_router(), {"page.html": "x"}, section={"bytecode_cache": False})
    with TestClient(server) as client:
        assert client.get("/").text == "x"
    assert not (tmp_path / "bytecode").exists()


def test_compile_all_reports_syntax_errors_and_fills_the_cache(tmp_path: Path) -> None:
    write_files(tmp_path / "t", {"good.html": "{{ 1 }}", "sub/bad.html": "a\n{% for %}"})
    (tmp_path / "t" / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe")
    engine = DefaultEngine(tmp_path / "t", bytecode_cache_dir=tmp_path / "bc")
    compiled, errors = engine.compile_all()
    assert compiled == ["good.html"]
    assert [name for name, _ in errors] == ["sub/bad.html"]
    assert errors[0][1].startswith("line 2:")
    assert len(list((tmp_path / "bc").iterdir())) == 2  # sync and async code for good.html
    assert asyncio.run(engine.render_to_string_async("good.html")) == "1"
