"""Rendering: autoescaping, media types, async templates, streamed pages, missing templates."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import jinja2
import pytest
from areion_templates import (
    DefaultEngine,
    TemplateNotFoundError,
    render_template_async,
    stream_template,
)

from areion_core import HttpResponse, Router
from areion_core.testing import LiveServer, TestClient
from tests.plugins.templates._templates_support import make_server, write_files

XSS = "<script>alert('x')</script>"
ESCAPED = "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"


def test_context_values_are_escaped_in_html_and_safe_is_explicit(tmp_path: Path) -> None:
    router = Router()

    @router.get("/page")
    async def page(request: object) -> HttpResponse:
        return request.render_template("page.html", {"name": XSS})  # type: ignore[attr-defined]

    @router.get("/sync")
    def sync_page(request: object) -> HttpResponse:
        return request.render_template("page.html.j2", {"name": XSS})  # type: ignore[attr-defined]

    templates = {
        "page.html": "<p>{{ name }}</p><div>{{ name|safe }}</div>",
        "page.html.j2": "<p>{{ name }}</p>",
    }
    with TestClient(make_server(tmp_path, router, templates)) as client:
        r = client.get("/page")
        assert r.status_code == 200
        assert r.text == f"<p>{ESCAPED}</p><div>{XSS}</div>"
        r = client.get("/sync")
        assert r.text == f"<p>{ESCAPED}</p>"
        assert r.headers["content-type"] == "text/html; charset=utf-8"


@pytest.mark.parametrize(
    ("name", "media_type", "escaped"),
    [
        ("page.html", "text/html; charset=utf-8", True),
        ("page.htm", "text/html; charset=utf-8", True),
        ("page.jinja", "text/plain; charset=utf-8", False),
        ("feed.xml", "application/xml; charset=utf-8", True),
        ("feed.xml.jinja2", "application/xml; charset=utf-8", True),
        ("page.xhtml", "application/xhtml+xml; charset=utf-8", True),
        ("icon.svg", "image/svg+xml; charset=utf-8", True),
        ("notes.txt", "text/plain; charset=utf-8", False),
        ("data.json", "application/json", False),
        ("site.css", "text/css; charset=utf-8", False),
        ("README", "text/plain; charset=utf-8", False),
    ],
)
def test_media_type_and_autoescape_follow_the_suffix(
    tmp_path: Path, name: str, media_type: str, escaped: bool
) -> None:
    router = Router()

    @router.get("/t")
    async def page(request: object) -> HttpResponse:
        return request.render_template(name, {"v": "<b>"})  # type: ignore[attr-defined]

    with TestClient(make_server(tmp_path, router, {name: "{{ v }}"})) as client:
        r = client.get("/t")
    assert r.headers["content-type"] == media_type
    assert r.text == ("&lt;b&gt;" if escaped else "<b>")


def test_autoescape_can_be_configured(tmp_path: Path) -> None:
    router = Router()

    @router.get("/t")
    async def page(request: object) -> HttpResponse:
        return request.render_template("notes.txt", {"v": "<b>"})  # type: ignore[attr-defined]

    server = make_server(tmp_path, router, {"notes.txt": "{{ v }}"}, section={"autoescape": ["txt"]})
    with TestClient(server) as client:
        assert client.get("/t").text == "&lt;b&gt;"


def test_render_keyword_arguments_set_status_headers_and_type(tmp_path: Path) -> None:
    router = Router()

    @router.get("/t")
    async def page(request: object) -> HttpResponse:
        engine = request.app.template_engine  # type: ignore[attr-defined]
        return engine.render("x.html", {}, request=request, status_code=201,  # type: ignore[no-any-return]
                             headers={"x-kind": "page"}, media_type="text/vnd.custom")

    with TestClient(make_server(tmp_path, router, {"x.html": "ok"})) as client:
        r = client.get("/t")
    assert (r.status_code, r.headers["x-kind"], r.headers["content-type"], r.text) == \
        (201, "page", "text/vnd.custom", "ok")


def test_async_template_awaits_async_functions(tmp_path: Path) -> None:
    router = Router()

    async def load_user(user_id: int) -> dict[str, str]:
        await asyncio.sleep(0.001)  # a real suspension, like a database call
        return {"name": f"user-{user_id}"}

    async def numbers(n: int):  # type: ignore[no-untyped-def]
        for i in range(n):
            await asyncio.sleep(0)
            yield i

    @router.get("/u/:uid")
    async def user(request: object, uid: int) -> HttpResponse:
        return await render_template_async(request, "user.html",  # type: ignore[arg-type]
                                           {"load_user": load_user, "uid": uid, "numbers": numbers})

    template = "{% set u = load_user(uid) %}<h1>{{ u.name }}</h1>{% for i in numbers(3) %}[{{ i }}]{% endfor %}"
    with TestClient(make_server(tmp_path, router, {"user.html": template})) as client:
        r = client.get("/u/7")
    assert r.status_code == 200
    assert r.text == "<h1>user-7</h1>[0][1][2]"
    assert r.headers["content-type"] == "text/html; charset=utf-8"


def test_async_render_escapes_too(tmp_path: Path) -> None:
    router = Router()

    @router.get("/t")
    async def page(request: object) -> HttpResponse:
        return await render_template_async(request, "p.html", {"v": XSS})  # type: ignore[arg-type]

    with TestClient(make_server(tmp_path, router, {"p.html": "{{ v }}"})) as client:
        assert client.get("/t").text == ESCAPED


ROWS_TEMPLATE = "<table>{% for row in rows %}<tr><td>{{ row }}</td></tr>\n{% endfor %}</table>"


def _expected_rows(n: int) -> str:
    return "<table>" + "".join(f"<tr><td>row {i} &lt;&gt;</td></tr>\n" for i in range(n)) + "</table>"


def test_streamed_render_arrives_in_several_chunks(tmp_path: Path) -> None:
    router = Router()

    async def rows(n: int):  # type: ignore[no-untyped-def]
        for i in range(n):
            await asyncio.sleep(0)
            yield f"row {i} <>"

    @router.get("/report")
    async def report(request: object) -> object:
        return stream_template(request, "report.html", {"rows": rows(300)},  # type: ignore[arg-type]
                               chunk_size=1024)

    with TestClient(make_server(tmp_path, router, {"report.html": ROWS_TEMPLATE})) as client:
        r = client.get("/report")
    assert r.status_code == 200
    assert r.headers["transfer-encoding"] == "chunked"
    assert "content-length" not in r.headers
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    assert r.text == _expected_rows(300)
    assert len(r.chunks) >= 5
    assert all(len(c) >= 1024 for c in r.chunks[:-1])


def test_streamed_render_over_a_real_socket(tmp_path: Path) -> None:
    router = Router()

    @router.get("/report")
    async def report(request: object) -> object:
        return stream_template(request, "report.html",  # type: ignore[arg-type]
                               {"rows": [f"row {i} <>" for i in range(2000)]})

    server = make_server(tmp_path, router, {"report.html": ROWS_TEMPLATE}, section={"stream_chunk_size": 4096})
    with LiveServer(server) as live, httpx.Client() as client, client.stream("GET", live.url + "/report") as r:
        assert r.headers["transfer-encoding"] == "chunked"
        chunks = list(r.iter_raw())
    assert b"".join(chunks).decode() == _expected_rows(2000)
    assert len(chunks) > 1


def test_a_streamed_page_that_fails_midway_is_not_passed_off_as_complete(tmp_path: Path) -> None:
    router = Router()

    @router.get("/report")
    async def report(request: object) -> object:
        return stream_template(request, "report.html", {"rows": range(500), "zero": 0},  # type: ignore[arg-type]
                               chunk_size=256)

    template = "{% for row in rows %}<p>{{ row }}</p>{% endfor %}{{ 1 // zero }}"
    with TestClient(make_server(tmp_path, router, {"report.html": template})) as client:
        responses, closed = client.raw(b"GET /report HTTP/1.1\r\nHost: t\r\n\r\n")
    # The status line was already sent; the body is left unterminated and the connection closed.
    assert responses == [] and closed


def test_stream_raises_at_once_for_a_missing_template(tmp_path: Path) -> None:
    engine = DefaultEngine(tmp_path)
    with pytest.raises(TemplateNotFoundError):
        engine.stream("nope.html", {})


def test_missing_template_names_the_template_and_where_it_looked(tmp_path: Path) -> None:
    write_files(tmp_path / "a", {"x.html": "x"})
    engine = DefaultEngine(tmp_path / "a", directories=[tmp_path / "gone"])
    with pytest.raises(TemplateNotFoundError) as info:
        engine.render("missing/page.html", {})
    message = str(info.value)
    assert "'missing/page.html'" in message
    assert str(tmp_path / "a") in message
    assert f"{tmp_path / 'gone'} (does not exist)" in message
    assert isinstance(info.value, jinja2.TemplateNotFound)  # existing except clauses still match
    assert info.value.name == "missing/page.html"


def test_missing_include_is_reported_too(tmp_path: Path) -> None:
    write_files(tmp_path, {"outer.html": "{% include 'inner.html' %}"})
    with pytest.raises(TemplateNotFoundError, match="'inner.html' not found"):
        DefaultEngine(tmp_path).render("outer.html")


def test_missing_template_in_production_is_a_plain_500(tmp_path: Path) -> None:
    router = Router()

    @router.get("/t")
    async def page(request: object) -> HttpResponse:
        return request.render_template("nope.html")  # type: ignore[attr-defined]

    with TestClient(make_server(tmp_path, router)) as client:
        r = client.get("/t")
    assert r.status_code == 500
    assert r.json() == {"type": "about:blank", "title": "Internal Server Error", "status": 500,
                        "detail": "Internal Server Error", "error": "Internal Server Error"}  # no paths leak to the client


def test_engine_works_without_an_app(tmp_path: Path) -> None:
    write_files(tmp_path, {"mail.txt": "Hi {{ name }}", "link.html": "{{ url_for('home') }}"})
    engine = DefaultEngine(str(tmp_path))
    assert engine.render_to_string("mail.txt", {"name": "<Ann>"}) == "Hi <Ann>"
    response = engine.render("mail.txt", {"name": "Bo"})
    assert response.body == b"Hi Bo" and response.headers["content-type"] == "text/plain; charset=utf-8"
    with pytest.raises(RuntimeError, match="bound to an app"):
        engine.render("link.html")
    assert asyncio.run(engine.render_to_string_async("mail.txt", {"name": "Cy"})) == "Hi Cy"


def test_filters_globals_and_tests_reach_both_environments(tmp_path: Path) -> None:
    write_files(tmp_path, {"t.txt": "{{ site }}|{{ 'ab'|shout }}|{{ 4 is even_number }}"})
    engine = DefaultEngine(tmp_path, filters={"shout": str.upper}, globals={"site": "Areion"},
                           tests={"even_number": lambda n: n % 2 == 0})
    assert engine.render_to_string("t.txt") == "Areion|AB|True"
    assert asyncio.run(engine.render_to_string_async("t.txt")) == "Areion|AB|True"


def test_dict_attribute_lookup_matches_jinja2_semantics(tmp_path) -> None:
    """The fast ``row.field`` path gives exactly what plain Jinja2 gives, methods and misses included."""
    import jinja2
    from areion_templates.engine import FastAttributeEnvironment

    source = "{{ row.name }}|{{ row.items is callable }}|{{ row.missing is defined }}|{{ obj.upper() }}"
    context = {"row": {"name": "<b>", "items": "shadowed"}, "obj": "x"}
    plain = jinja2.Environment(autoescape=True).from_string(source).render(context)
    fast = FastAttributeEnvironment(autoescape=True).from_string(source).render(context)
    assert fast == plain == "&lt;b&gt;|True|False|X"
    strict = FastAttributeEnvironment(undefined=jinja2.StrictUndefined).from_string("{{ row.missing }}")
    with pytest.raises(jinja2.UndefinedError):
        strict.render(row={})
