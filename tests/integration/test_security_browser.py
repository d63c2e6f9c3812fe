"""The security plugin in headless Chromium: CORS with credentials across origins, and the
openapi pages rendering under the plugin's default headers.

The API runs on one free port; a page is served from a second local server whose origin,
``http://localhost:<port>``, the API's CORS allow-list names (the issue's
``http://localhost:3000``, on a free port so CI never fights over 3000), and from a third
origin, ``http://127.0.0.1:<port>``, that the list does not name. The browser, not the test,
decides what each page may read.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from areion_core import AreionServerBuilder, HttpRequest, HttpResponse, Router, hookimpl
from areion_core.testing import LiveServer
from tests._redis import free_port
from tests.integration._browser import PageRecorder
from tests.integration._showcase_api import showcase_server
from tests.integration.test_docs_browser import _open_redoc, _open_swagger_ui, _try_it_out

pytestmark = pytest.mark.browser

FETCH = """async ([url, options]) => {
  try {
    const response = await fetch(url, options);
    return {status: response.status, body: await response.text(),
            total: response.headers.get('x-total')};
  } catch (error) {
    return {error: String(error)};
  }
}"""


class Exchanges:
    """Every (method, path, status) the API answered: the browser's preflights included, which
    playwright does not report (Chromium's network service sends them itself)."""

    name = "test_exchanges"

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, int]] = []

    @hookimpl
    def response_sent(self, request: HttpRequest, response: HttpResponse) -> None:
        self.seen.append((request.method, request.path, response.status_code))


API_EXCHANGES = Exchanges()


def _api(allowed_origin: str) -> LiveServer:
    router = Router()

    @router.get("/api/login")
    async def login(request: HttpRequest) -> HttpResponse:
        response = HttpResponse("logged in")
        response.set_cookie("sid", "s3cret", samesite="Lax", path="/")
        return response

    @router.get("/api/me")
    async def me(request: HttpRequest) -> HttpResponse:
        return HttpResponse(f"sid={request.cookies.get('sid')}", headers={"x-total": "7"})

    @router.post("/api/items")
    async def add_item(request: HttpRequest) -> dict[str, Any]:
        return {"added": request.get_parsed_body()}

    router.add_route("/favicon.ico", _no_icon, ["GET"])
    security = {
        "cors": {"origins": [allowed_origin], "credentials": True, "expose_headers": ["x-total"]},
        "hosts": {"allowed": ["127.0.0.1", "localhost"]},
        "headers": {},
        "csrf": {},
    }
    server = (AreionServerBuilder().with_router(router).without_config_file()
              .with_config({"plugins": {"enabled": ["security"], "security": security}, "access_log": False})
              .with_plugins(API_EXCHANGES).build())
    return LiveServer(server)


def _no_icon(request: HttpRequest) -> None:
    """204 for the browser's favicon request (a 404 would be a console error)."""


def _page_server(port: int) -> LiveServer:
    router = Router()
    router.add_route("/", lambda request: HttpResponse("<!doctype html><title>page</title><p>page</p>",
                                                       content_type="text/html"), ["GET"])
    router.add_route("/favicon.ico", _no_icon, ["GET"])
    server = (AreionServerBuilder().with_router(router).without_config_file()
              .with_config({"plugins": {"enabled": []}, "access_log": False}).build())
    live = LiveServer(server)
    server.port = port  # a port of our choosing: it is part of the origin the API allows
    return live


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, str]]:
    page_port = free_port()
    allowed = f"http://localhost:{page_port}"
    with _api(allowed) as api, _page_server(page_port) as page, _page_server(free_port()) as other:
        yield {"api": f"http://localhost:{api.port}", "page": allowed,
               "other": f"http://127.0.0.1:{other.port}"}
        assert page.port == page_port


def _fetch(recorder: PageRecorder, url: str, **options: Any) -> dict[str, Any]:
    result: dict[str, Any] = recorder.page.evaluate(FETCH, [url, {"credentials": "include", **options}])
    return result


def test_an_allowed_origin_reads_credentialed_answers(recorder: PageRecorder, servers: dict[str, str]) -> None:
    recorder.goto(servers["api"] + "/api/login")  # the API's own cookie, set first-party
    recorder.goto(servers["page"] + "/")
    got = _fetch(recorder, servers["api"] + "/api/me")
    assert got == {"status": 200, "body": "sid=s3cret", "total": "7"}  # the cookie went, the answer came back
    # A JSON POST needs a preflight; it passes, and CSRF trusts the credentialed CORS origin.
    posted = _fetch(recorder, servers["api"] + "/api/items", method="POST",
                    headers={"content-type": "application/json"}, body='{"name": "pen"}')
    assert posted == {"status": 200, "body": '{"added":{"name":"pen"}}', "total": None}
    assert ("OPTIONS", "/api/items", 204) in API_EXCHANGES.seen  # the preflight, answered by the plugin
    recorder.assert_clean()


def test_another_origin_is_blocked_by_the_browser(recorder: PageRecorder, servers: dict[str, str]) -> None:
    recorder.goto(servers["other"] + "/")
    got = _fetch(recorder, servers["api"] + "/api/me")
    assert "error" in got and "Failed to fetch" in got["error"], got
    posted = _fetch(recorder, servers["api"] + "/api/items", method="POST",
                    headers={"content-type": "application/json"}, body="{}")
    assert "error" in posted, posted
    blocked = [m.text for m in recorder.console if "CORS policy" in m.text]
    assert len(blocked) == 2, blocked
    assert ("OPTIONS", "/api/items", 403) in API_EXCHANGES.seen  # the refused preflight


@pytest.fixture(scope="module")
def docs_live() -> Iterator[LiveServer]:
    plugins = {"enabled": ["openapi", "security"], "openapi": {"title": "Showcase API"},
               "security": {"headers": {}, "hosts": {"allowed": ["127.0.0.1"]}, "cors": {"origins": []}}}
    with LiveServer(showcase_server(extra={"plugins": plugins})) as live:
        yield live


def test_swagger_ui_renders_under_the_default_headers(recorder: PageRecorder, docs_live: LiveServer) -> None:
    _open_swagger_ui(recorder, docs_live.url + "/docs")
    _try_it_out(recorder, docs_live.url + "/json")
    recorder.settle()
    document = next(s for s in recorder.requests if s.url == docs_live.url + "/docs").headers()
    assert document["x-content-type-options"] == "nosniff"
    assert document["x-frame-options"] == "SAMEORIGIN"
    assert "default-src 'self'" in document["content-security-policy"]
    recorder.assert_only_host(docs_live.url)
    recorder.assert_clean()


def test_redoc_renders_under_the_default_headers(recorder: PageRecorder, docs_live: LiveServer) -> None:
    _open_redoc(recorder, docs_live.url + "/redoc")
    recorder.settle()
    recorder.assert_only_host(docs_live.url)
    recorder.assert_clean()
