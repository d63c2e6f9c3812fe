"""CORS on a real socket (httpx): preflights, actual responses, Vary, credentials, per-route policies."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from areion_security import cors

from areion_core import HttpRequest, HttpResponse, Router
from areion_core.testing import LiveServer
from tests.plugins.security._security_support import Calls, build_server

APP = "http://localhost:3000"
CORS = {"origins": [APP, "https://*.example.com"], "origin_regex": r"https://pr-\d+\.preview\.dev",
        "credentials": True, "headers": ["x-token"], "expose_headers": ["x-total"], "max_age": 120}
ACA_HEADERS = ("access-control-allow-origin", "access-control-allow-credentials", "access-control-allow-methods",
               "access-control-allow-headers", "access-control-max-age", "access-control-expose-headers")


def _router(calls: Calls) -> Router:
    router = Router()

    @router.get("/items")
    async def items(request: HttpRequest) -> dict[str, Any]:
        calls.hit()
        return {"items": []}

    @router.post("/items")
    async def add_item(request: HttpRequest) -> dict[str, Any]:
        calls.hit()
        return {"added": True}

    @router.get("/varied")
    async def varied(request: HttpRequest) -> HttpResponse:
        return HttpResponse("text", headers={"Vary": "Accept-Language"})

    @router.get("/own-cors")
    async def own_cors(request: HttpRequest) -> HttpResponse:
        return HttpResponse("text", headers={"Access-Control-Allow-Origin": "https://mine.example"})

    @router.get("/public")
    @cors(origins=["*"], credentials=False)
    async def public(request: HttpRequest) -> str:
        return "anyone"

    @router.get("/private")
    @cors(False)
    async def private(request: HttpRequest) -> str:
        return "same origin only"

    @router.delete("/partner/:id")
    @cors(origins=["https://partner.example"], methods=["DELETE"])
    async def partner(request: HttpRequest, id: str) -> None:
        return None

    return router


@pytest.fixture
def calls() -> Calls:
    return Calls()


@pytest.fixture
def client(calls: Calls) -> Iterator[httpx.Client]:
    with LiveServer(build_server(_router(calls), {"cors": CORS})) as live, httpx.Client(base_url=live.url) as http:
        yield http


def preflight(client: httpx.Client, path: str, origin: str, method: str, headers: str | None = None) -> httpx.Response:
    sent = {"origin": origin, "access-control-request-method": method}
    if headers is not None:
        sent["access-control-request-headers"] = headers
    return client.options(path, headers=sent)


def test_an_allowed_preflight_gets_204_with_the_allow_headers(client: httpx.Client, calls: Calls) -> None:
    r = preflight(client, "/items", APP, "POST", "X-Token, Content-Type")
    assert r.status_code == 204
    assert r.headers["access-control-allow-origin"] == APP
    assert r.headers["access-control-allow-credentials"] == "true"
    assert "POST" in r.headers["access-control-allow-methods"]
    assert r.headers["access-control-allow-headers"] == "x-token, content-type"
    assert r.headers["access-control-max-age"] == "120"
    assert r.headers["vary"] == "Origin, Access-Control-Request-Method, Access-Control-Request-Headers"
    assert calls.count == 0  # a preflight never reaches the handler


@pytest.mark.parametrize(("origin", "method", "headers", "reason"), [
    ("https://evil.example", "POST", None, "origin https://evil.example is not allowed"),
    ("https://example.com", "GET", None, "not allowed"),  # the apex is not a subdomain
    ("http://localhost:3001", "GET", None, "not allowed"),
    (APP, "PROPFIND", None, "method PROPFIND is not allowed"),
    (APP, "POST", "x-token, x-secret", "header(s) x-secret not allowed"),
])
def test_a_refused_preflight_is_a_403_without_any_allow_header(
    client: httpx.Client, origin: str, method: str, headers: str | None, reason: str,
) -> None:
    r = preflight(client, "/items", origin, method, headers)
    assert r.status_code == 403
    assert r.headers["content-type"] == "application/problem+json"
    assert reason in r.json()["detail"]
    assert not [name for name in ACA_HEADERS if name in r.headers]
    assert "Origin" in r.headers["vary"]


@pytest.mark.parametrize("origin", ["https://a.example.com", "https://a.b.example.com", "https://pr-42.preview.dev"])
def test_wildcard_subdomains_and_the_regex_match(client: httpx.Client, origin: str) -> None:
    assert preflight(client, "/items", origin, "GET").headers["access-control-allow-origin"] == origin
    r = client.get("/items", headers={"origin": origin})
    assert r.headers["access-control-allow-origin"] == origin


def test_a_preflight_is_answered_before_routing_405(client: httpx.Client) -> None:
    # /items has no PUT: routing would answer OPTIONS itself; the preflight still gets its
    # answer, and the real PUT then gets a 405 the page can read.
    assert preflight(client, "/items", APP, "PUT").status_code == 204
    r = client.put("/items", headers={"origin": APP})
    assert r.status_code == 405
    assert r.headers["access-control-allow-origin"] == APP


def test_an_options_without_request_method_is_no_preflight(client: httpx.Client) -> None:
    r = client.options("/items", headers={"origin": APP})
    assert r.status_code == 204
    assert "allow" in r.headers  # routing's automatic OPTIONS answer


def test_actual_responses_name_the_origin_with_credentials_and_exposed_headers(client: httpx.Client) -> None:
    r = client.get("/items", headers={"origin": APP})
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] == APP
    assert r.headers["access-control-allow-credentials"] == "true"
    assert r.headers["access-control-expose-headers"] == "x-total"
    assert r.headers["vary"] == "Origin"


def test_a_refused_origin_gets_no_cors_headers_but_vary(client: httpx.Client) -> None:
    r = client.get("/items", headers={"origin": "https://evil.example"})
    assert r.status_code == 200  # the browser, not the server, withholds the body from the page
    assert not [name for name in ACA_HEADERS if name in r.headers]
    assert r.headers["vary"] == "Origin"


def test_vary_origin_without_an_origin_too(client: httpx.Client) -> None:
    r = client.get("/items")
    assert r.headers["vary"] == "Origin"
    assert "access-control-allow-origin" not in r.headers


def test_each_origin_gets_its_own_answer_from_one_route_in_turn(client: httpx.Client) -> None:
    # Answers are made once per origin and reused: asking in turn must never mix them up.
    for origin, allowed in [(APP, APP), ("https://evil.example", None), ("https://a.example.com", "https://a.example.com"),
                            (APP, APP), ("https://evil.example", None)]:
        r = client.get("/items", headers={"origin": origin})
        assert r.headers.get("access-control-allow-origin") == allowed
        assert ("access-control-allow-credentials" in r.headers) is (allowed is not None)
        assert r.headers["vary"] == "Origin"


def test_the_origin_header_is_found_whatever_its_case() -> None:
    with LiveServer(build_server(_router(Calls()), {"cors": CORS})) as live:
        reply = _raw_get(live.port, "/items", f"ORIGIN: {APP}")
    assert f"access-control-allow-origin: {APP}".lower() in reply.lower()


def _raw_get(port: int, path: str, *lines: str) -> str:
    import socket

    with socket.create_connection(("127.0.0.1", port)) as sock:
        head = "\r\n".join([f"GET {path} HTTP/1.1", "Host: localhost", "Connection: close", *lines, "", ""])
        sock.sendall(head.encode("latin-1"))
        chunks = []
        while data := sock.recv(65536):
            chunks.append(data)
    return b"".join(chunks).decode("latin-1")


def test_a_response_with_its_own_vary_or_cors_headers_keeps_them_merged(client: httpx.Client) -> None:
    varied = client.get("/varied", headers={"origin": APP})
    assert varied.headers["vary"] == "Accept-Language, Origin"
    assert varied.headers["access-control-allow-origin"] == APP
    assert varied.headers["access-control-allow-credentials"] == "true"
    own = client.get("/own-cors", headers={"origin": APP})
    assert own.headers["access-control-allow-origin"] == "https://mine.example"  # the handler's, kept
    assert "access-control-allow-credentials" not in own.headers
    assert own.headers["vary"] == "Origin"


def test_with_security_headers_a_response_keeps_its_own_policy_and_gets_the_rest() -> None:
    router = Router()

    @router.get("/page")
    async def page(request: HttpRequest) -> HttpResponse:
        return HttpResponse("<p>", headers={"Content-Security-Policy": "default-src 'none'"})

    @router.get("/plain")
    async def plain(request: HttpRequest) -> str:
        return "plain"

    with LiveServer(build_server(router, {"cors": CORS, "headers": {}})) as live, \
            httpx.Client(base_url=live.url) as http:
        for path in ("/page", "/plain", "/page"):
            r = http.get(path, headers={"origin": APP})
            assert r.headers["access-control-allow-origin"] == APP
            assert r.headers["vary"] == "Origin"
            assert r.headers["x-frame-options"] == "SAMEORIGIN"
            assert "strict-transport-security" not in r.headers  # plain http, no proxy trusted
            own = path == "/page"
            assert (r.headers["content-security-policy"] == "default-src 'none'") is own


def test_unmatched_requests_get_cors_headers(client: httpx.Client) -> None:
    r = client.get("/nope", headers={"origin": APP})
    assert r.status_code == 404
    assert r.headers["access-control-allow-origin"] == APP


def test_a_route_override_opens_one_route_to_every_origin_without_credentials(client: httpx.Client) -> None:
    r = client.get("/public", headers={"origin": "https://anyone.example"})
    assert r.headers["access-control-allow-origin"] == "*"
    assert "access-control-allow-credentials" not in r.headers
    p = preflight(client, "/public", "https://anyone.example", "GET")
    assert (p.status_code, p.headers["access-control-allow-origin"]) == (204, "*")


def test_cors_false_on_a_route_sends_no_cors_headers(client: httpx.Client) -> None:
    r = client.get("/private", headers={"origin": APP})
    assert "access-control-allow-origin" not in r.headers
    p = preflight(client, "/private", APP, "GET")
    assert p.status_code == 403
    assert "access-control-allow-origin" not in p.headers


def test_a_preflight_uses_the_policy_of_the_route_it_is_for(client: httpx.Client) -> None:
    ok = preflight(client, "/partner/7", "https://partner.example", "DELETE")
    assert (ok.status_code, ok.headers["access-control-allow-methods"]) == (204, "DELETE")
    assert preflight(client, "/partner/7", APP, "DELETE").status_code == 403  # not on this route's list
    assert preflight(client, "/items", "https://partner.example", "GET").status_code == 403  # nor on the app's


def test_never_a_wildcard_with_credentials(client: httpx.Client) -> None:
    for origin in (APP, "https://x.example.com"):
        r = client.get("/items", headers={"origin": origin})
        assert r.headers["access-control-allow-origin"] == origin != "*"


def test_a_route_decorator_works_without_the_table() -> None:
    router = Router()

    @router.get("/feed")
    @cors(origins=["https://reader.example"])
    async def feed(request: HttpRequest) -> str:
        return "feed"

    router.add_route("/other", lambda request: "other", ["GET"])
    with LiveServer(build_server(router, {})) as live:
        r = httpx.get(live.url + "/feed", headers={"origin": "https://reader.example"})
        other = httpx.get(live.url + "/other", headers={"origin": "https://reader.example"})
    assert r.headers["access-control-allow-origin"] == "https://reader.example"
    assert "access-control-allow-origin" not in other.headers and "vary" not in other.headers
