"""Issue 6: Swagger UI and ReDoc in headless Chromium, offline and under the plugin's CSP.

A live server runs a showcase-like API in development mode with the openapi plugin. Chromium
opens ``/docs`` and ``/redoc`` and waits until the operations are rendered; the tests assert on
the rendered text, save a screenshot of each page under ``test-artifacts/``, and check that
every request the page made (scripts, styles, the document, the favicon, workers, "Try it
out" calls) went to the test server, and that the console saw no error — a Content-Security-
Policy violation included. The same pages are then served under a path prefix through a
reverse proxy (``root_path``), where every request must also stay under that prefix.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from areion_core.testing import LiveServer
from tests.integration._browser import PageRecorder
from tests.integration._prefix_proxy import PrefixProxy
from tests.integration._showcase_api import showcase_server

pytestmark = pytest.mark.browser

# (method, path, summary) of the operations the showcase-like app documents.
OPERATIONS = [
    ("GET", "/json", "Hello world as JSON."),
    ("GET", "/plaintext", "Hello world as text."),
    ("GET", "/greet/{name}", "Greet someone by name."),
    ("GET", "/users/{id}/posts/{post}", "One post of one user."),
    ("GET", "/users/{id}/posts", "List a user's posts."),
    ("POST", "/users/{id}/posts", "Create a post."),
    # The showcase's request-body routes (examples/showcase/uploads.py).
    ("PUT", "/upload", "Hash the body as it arrives: its size and SHA-256 (memory stays flat, up to 2 GiB)."),
    ("POST", "/upload/form",
     "A multipart form parsed as it arrives: each file's size and SHA-256, the other fields as sent."),
    ("POST", "/items", "Create an item from its JSON: a 201 with the item, or a 422 naming every invalid field."),
]


@pytest.fixture(scope="module")
def live() -> Iterator[LiveServer]:
    with LiveServer(showcase_server()) as server:
        yield server


@pytest.fixture(scope="module")
def mounted() -> Iterator[PrefixProxy]:
    """The same app configured with ``root_path = "/shop"`` behind a proxy that strips it."""
    with LiveServer(showcase_server(extra={"root_path": "/shop"})) as server, \
            PrefixProxy("/shop", server.url) as proxy:
        yield proxy


def _csp_of_document(recorder: PageRecorder, url: str) -> str:
    document = next(s for s in recorder.requests if s.url == url)
    return document.headers().get("content-security-policy", "")


def _open_swagger_ui(recorder: PageRecorder, url: str) -> None:
    recorder.goto(url)
    page = recorder.page
    # Rendered when the document has been fetched and every operation drawn.
    page.locator(".opblock-summary-path").first.wait_for()
    assert page.locator(".opblock").count() == len(OPERATIONS)
    for method, path, summary in OPERATIONS:
        block = page.locator(f".opblock-{method.lower()}", has=page.locator(f'[data-path="{path}"]'))
        assert block.count() == 1, (method, path)
        assert summary in block.locator(".opblock-summary-description").inner_text()
    assert "Showcase API" in page.locator(".info .title").inner_text()
    assert page.locator(".opblock-tag", has_text="users").count() == 1


def _try_it_out(recorder: PageRecorder, expected_url: str) -> None:
    """Expand GET /json, press "Try it out" and "Execute": the call goes to the app and the
    answer is shown (the page's CSP allows ``connect-src 'self'``)."""
    page = recorder.page
    block = page.locator(".opblock-get", has=page.locator('[data-path="/json"]'))
    block.locator(".opblock-summary").click()
    block.get_by_role("button", name="Try it out").click()
    block.get_by_role("button", name="Execute").click()
    body = block.locator(".live-responses-table .response-col_description pre").first
    body.wait_for()
    assert "Hello, World!" in body.inner_text()
    assert any(s.url == expected_url and s.status == 200 for s in recorder.requests), \
        [s.url for s in recorder.requests]


def _open_redoc(recorder: PageRecorder, url: str) -> None:
    recorder.goto(url)
    page = recorder.page
    page.get_by_role("heading", name="One post of one user.").wait_for()
    text = page.locator("#redoc").inner_text()
    for _, path, summary in OPERATIONS:
        assert summary in text, summary
        assert path in text, path
    assert "Showcase API (0.1.0)" in text


def _search_redoc(recorder: PageRecorder) -> None:
    """ReDoc's search runs in a Worker made from a ``blob:`` URL (``worker-src 'self' blob:``)."""
    page = recorder.page
    page.get_by_placeholder("Search...").fill("greet")
    result = page.locator('[role="search"] li', has_text="Greet someone by name.")
    result.first.wait_for()


def test_swagger_ui_renders_offline_under_its_csp(recorder: PageRecorder, live: LiveServer) -> None:
    _open_swagger_ui(recorder, live.url + "/docs")
    _try_it_out(recorder, live.url + "/json")
    recorder.screenshot("docs-swagger-ui.png")
    recorder.settle()
    assert "default-src 'self'" in _csp_of_document(recorder, live.url + "/docs")
    recorder.assert_only_host(live.url)
    recorder.assert_clean()


def test_redoc_renders_offline_under_its_csp(recorder: PageRecorder, live: LiveServer) -> None:
    _open_redoc(recorder, live.url + "/redoc")
    _search_redoc(recorder)
    recorder.screenshot("docs-redoc.png")
    recorder.settle()
    assert "default-src 'self'" in _csp_of_document(recorder, live.url + "/redoc")
    # The search worker really ran (from a blob: URL, which never leaves the browser).
    assert any(s.url.startswith("blob:") for s in recorder.requests), [s.url for s in recorder.requests]
    recorder.assert_only_host(live.url)
    recorder.assert_clean()


def test_swagger_ui_under_a_path_prefix(recorder: PageRecorder, mounted: PrefixProxy) -> None:
    _open_swagger_ui(recorder, mounted.url + "/shop/docs")
    # The document's servers is [{url: "/shop"}], so "Try it out" calls /shop/json.
    _try_it_out(recorder, mounted.url + "/shop/json")
    recorder.screenshot("docs-swagger-ui-root-path.png", full_page=False)
    recorder.settle()
    recorder.assert_only_host(mounted.url, path_prefix="/shop/")
    recorder.assert_clean()


def test_redoc_under_a_path_prefix(recorder: PageRecorder, mounted: PrefixProxy) -> None:
    _open_redoc(recorder, mounted.url + "/shop/redoc")
    _search_redoc(recorder)
    recorder.settle()
    recorder.assert_only_host(mounted.url, path_prefix="/shop/")
    recorder.assert_clean()


def test_swagger_ui_with_compression_gets_brotli_immutable_assets(recorder: PageRecorder) -> None:
    """With areion-compression on as well, the big vendored assets arrive brotli-compressed and
    cacheable for a year, and the page still renders cleanly."""
    plugins = {"enabled": ["openapi", "compression"], "openapi": {"title": "Showcase API"}}
    with LiveServer(showcase_server(extra={"plugins": plugins})) as live:
        _open_swagger_ui(recorder, live.url + "/docs")
        recorder.settle()
        bundle = next(s for s in recorder.requests if s.url.endswith("/swagger-ui-bundle.js"))
        headers = bundle.headers()
        assert headers.get("content-encoding") == "br", headers
        assert "immutable" in headers.get("cache-control", ""), headers
        assert int(headers["content-length"]) < 600_000, headers  # ~1.5 MB identity
        recorder.assert_only_host(live.url)
        recorder.assert_clean()
