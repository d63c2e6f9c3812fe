"""Template globals: ``request``, ``url_for`` and ``static_url`` (content-hash cache-busting)."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

from areion_core import HttpResponse, Router
from areion_core.testing import TestClient
from tests.plugins.templates._templates_support import make_server, rewrite, write_files


def _router(template: str = "page.html") -> Router:
    router = Router()

    @router.get("/")
    async def home(request: Any) -> HttpResponse:
        return request.render_template(template)  # type: ignore[no-any-return]

    @router.get("/users/:user_id/posts/:slug")
    async def user_post(request: Any, user_id: int, slug: str) -> str:
        return f"{user_id}/{slug}"

    return router


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:12]


def test_request_is_available_in_templates(tmp_path: Path) -> None:
    template = "{{ request.method }} {{ request.path }} {{ request.query_params['q'] }}"
    with TestClient(make_server(tmp_path, _router(), {"page.html": template})) as client:
        assert client.get("/?q=<x>").text == "GET / &lt;x&gt;"


def test_url_for_builds_paths_from_route_names(tmp_path: Path) -> None:
    template = "{{ url_for('user_post', user_id=3, slug='a b/c') }}|{{ url_for('home', page=2) }}"
    with TestClient(make_server(tmp_path, _router(), {"page.html": template})) as client:
        r = client.get("/")
        assert r.text == "/users/3/posts/a%20b%2Fc|/?page=2"
        assert client.get("/users/3/posts/a%20b%2Fc").text == "3/a b/c"


def test_url_for_honours_root_path(tmp_path: Path) -> None:
    template = "{{ url_for('user_post', user_id=1, slug='x') }}"
    server = make_server(tmp_path, _router(), {"page.html": template}, root_path="/shop")
    with TestClient(server) as client:
        assert client.get("/").text == "/shop/users/1/posts/x"


def test_url_for_an_unknown_route_is_an_error(tmp_path: Path) -> None:
    server = make_server(tmp_path, _router(), {"page.html": "{{ url_for('nope') }}"}, development=True)
    with TestClient(server) as client:
        r = client.get("/")
    assert r.status_code == 500
    assert "no route named &#x27;nope&#x27;" in r.text


def test_static_url_carries_a_content_hash_and_the_file_is_served(tmp_path: Path) -> None:
    static = write_files(tmp_path / "static", {"css/site.css": "body{color:red}"})
    server = make_server(tmp_path, _router(), {"page.html": "{{ static_url('css/site.css') }}"},
                         static_dir=str(static))
    with TestClient(server) as client:
        url = client.get("/").text
        assert url == f"/static/css/site.css?v={_sha(b'body{color:red}')}"
        served = client.get(url)
        assert (served.status_code, served.content) == (200, b"body{color:red}")


def test_static_url_hash_changes_with_the_file_in_development(tmp_path: Path) -> None:
    static = write_files(tmp_path / "static", {"app.js": "one()"})
    server = make_server(tmp_path, _router(), {"page.html": "{{ static_url('/app.js') }}"},
                         static_dir=str(static), development=True)
    with TestClient(server) as client:
        first = client.get("/").text
        assert first == f"/static/app.js?v={_sha(b'one()')}"
        assert client.get("/").text == first
        rewrite(static / "app.js", "two()")
        assert client.get("/").text == f"/static/app.js?v={_sha(b'two()')}"


def test_static_url_hash_is_computed_once_in_production(tmp_path: Path) -> None:
    static = write_files(tmp_path / "static", {"app.js": "one()"})
    server = make_server(tmp_path, _router(), {"page.html": "{{ static_url('app.js') }}"},
                         static_dir=str(static))
    with TestClient(server) as client:
        assert client.get("/").text == f"/static/app.js?v={_sha(b'one()')}"
        rewrite(static / "app.js", "two()")
        # Production assumes deploys restart the workers: no stat() per render.
        assert client.get("/").text == f"/static/app.js?v={_sha(b'one()')}"


def test_static_url_with_a_custom_prefix_and_root_path(tmp_path: Path) -> None:
    static = write_files(tmp_path / "static", {"a b.png": "png"})
    server = make_server(tmp_path, _router(), {"page.html": "{{ static_url('a b.png') }}"},
                         static_dir=str(static), static_prefix="/assets", root_path="/app")
    with TestClient(server) as client:
        assert client.get("/").text == f"/app/assets/a%20b.png?v={_sha(b'png')}"


def test_static_url_without_a_file_or_a_static_dir_has_no_version(tmp_path: Path) -> None:
    static = write_files(tmp_path / "static", {"x.css": ""})
    template = "{{ static_url('missing.css') }}|{{ static_url('../templates/page.html') }}"
    server = make_server(tmp_path, _router(), {"page.html": template}, static_dir=str(static))
    with TestClient(server) as client:
        assert client.get("/").text == "/static/missing.css|/static/../templates/page.html"
    plain = make_server(tmp_path, _router(), {"page.html": "{{ static_url('x.css') }}"})
    with TestClient(plain) as client:
        r = client.get("/")
    assert r.text == "/static/x.css"
    assert re.search(r"\?v=", r.text) is None
