"""CSRF by Fetch metadata on a real socket: cross-site unsafe requests with cookies are refused."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from areion_security import csrf_exempt

from areion_core import HttpRequest, Router
from areion_core.testing import LiveServer
from tests.plugins.security._security_support import Calls, build_server

COOKIE = {"cookie": "session=abc"}


def _router(calls: Calls) -> Router:
    router = Router()

    @router.route("/account", methods=["GET", "POST", "DELETE"])
    async def account(request: HttpRequest) -> str:
        calls.hit()
        return "done"

    @router.post("/webhooks/payment")
    @csrf_exempt
    async def payment(request: HttpRequest) -> str:
        return "paid"

    router.add_route("/hooks/github", lambda request: "ok", ["POST"])
    return router


@pytest.fixture
def calls() -> Calls:
    return Calls()


@pytest.fixture
def client(calls: Calls) -> Iterator[httpx.Client]:
    section = {"csrf": {"trusted_origins": ["https://admin.example"], "exempt": ["/hooks/*"]},
               "cors": {"origins": ["http://localhost:3000"], "credentials": True}}
    with LiveServer(build_server(_router(calls), section)) as live, httpx.Client(base_url=live.url) as http:
        yield http


@pytest.mark.parametrize("site", ["same-origin", "none"])
def test_same_origin_and_user_initiated_pass(client: httpx.Client, site: str) -> None:
    assert client.post("/account", headers={**COOKIE, "sec-fetch-site": site}).status_code == 200


@pytest.mark.parametrize("method", ["POST", "DELETE"])
def test_a_cross_site_unsafe_request_with_cookies_is_a_403(client: httpx.Client, calls: Calls, method: str) -> None:
    r = client.request(method, "/account", headers={**COOKIE, "sec-fetch-site": "cross-site",
                                                    "origin": "https://evil.example"})
    assert r.status_code == 403
    assert r.headers["content-type"] == "application/problem+json"
    assert "CSRF" in r.json()["detail"]
    assert calls.count == 0


def test_same_site_is_refused_by_default(client: httpx.Client) -> None:
    assert client.post("/account", headers={**COOKIE, "sec-fetch-site": "same-site"}).status_code == 403


def test_safe_methods_and_requests_without_cookies_pass(client: httpx.Client) -> None:
    assert client.get("/account", headers={**COOKIE, "sec-fetch-site": "cross-site"}).status_code == 200
    no_cookie = {"sec-fetch-site": "cross-site", "origin": "https://evil.example", "authorization": "Bearer x"}
    assert client.post("/account", headers=no_cookie).status_code == 200


def test_trusted_origins_and_the_credentialed_cors_allow_list_pass(client: httpx.Client) -> None:
    for origin in ("https://admin.example", "http://localhost:3000"):
        r = client.post("/account", headers={**COOKIE, "sec-fetch-site": "cross-site", "origin": origin})
        assert r.status_code == 200, origin


def test_exempt_routes(client: httpx.Client) -> None:
    forged = {**COOKIE, "sec-fetch-site": "cross-site", "origin": "https://evil.example"}
    assert client.post("/webhooks/payment", headers=forged).status_code == 200  # @csrf_exempt
    assert client.post("/hooks/github", headers=forged).status_code == 200  # exempt = ["/hooks/*"]


def test_without_fetch_metadata_origin_or_referer_decides(client: httpx.Client) -> None:
    own = str(client.base_url).rstrip("/")
    assert client.post("/account", headers={**COOKIE, "origin": own}).status_code == 200
    assert client.post("/account", headers={**COOKIE, "referer": own + "/form"}).status_code == 200
    assert client.post("/account", headers={**COOKIE, "origin": "https://evil.example"}).status_code == 403
    assert client.post("/account", headers={**COOKIE, "referer": "https://evil.example/x"}).status_code == 403
    assert client.post("/account", headers={**COOKIE, "origin": "null"}).status_code == 403
    assert client.post("/account", headers=COOKIE).status_code == 200  # no browser signal: not a page
