"""Security headers on a real socket: defaults, HSTS only on https, CSP builder, per-route overrides."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from areion_security import security_headers
from areion_security.settings import DEFAULT_CSP

from areion_core import HttpRequest, HttpResponse, Router
from areion_core.testing import LiveServer
from tests.plugins.security._security_support import build_server

DEFAULT_POLICY = "; ".join(f"{name} {value}" for name, value in DEFAULT_CSP.items())


def _router() -> Router:
    router = Router()
    router.add_route("/json", lambda request: {"ok": True}, ["GET"])

    @router.get("/own")
    async def own(request: HttpRequest) -> HttpResponse:
        return HttpResponse("mine", headers={"content-security-policy": "default-src 'none'",
                                             "referrer-policy": "no-referrer"})

    @router.get("/embed")
    @security_headers(csp={"frame-ancestors": "https://partner.example", "script-src": ""}, frame_options="",
                      hsts=False)
    async def embed(request: HttpRequest) -> str:
        return "<p>embeddable</p>"

    @router.get("/bare")
    @security_headers(False)
    async def bare(request: HttpRequest) -> str:
        return "bare"

    return router


def _client(headers: dict[str, object]) -> Iterator[httpx.Client]:
    server = build_server(_router(), {"headers": headers}, forwarded_allow_ips=["127.0.0.1"])
    with LiveServer(server) as live, httpx.Client(base_url=live.url) as http:
        yield http


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    yield from _client({})


def test_defaults_on_plain_http(client: httpx.Client) -> None:
    r = client.get("/json")
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "strict-origin-when-cross-origin"
    assert r.headers["x-frame-options"] == "SAMEORIGIN"
    assert r.headers["cross-origin-opener-policy"] == "same-origin"
    assert r.headers["content-security-policy"] == DEFAULT_POLICY
    assert "frame-ancestors 'self'" in r.headers["content-security-policy"]
    assert "strict-transport-security" not in r.headers  # never over plain http


def test_hsts_on_https_as_a_trusted_proxy_reports_it(client: httpx.Client) -> None:
    r = client.get("/json", headers={"x-forwarded-proto": "https"})
    assert r.headers["strict-transport-security"] == "max-age=31536000; includeSubDomains"


def test_errors_get_the_headers_too(client: httpx.Client) -> None:
    r = client.get("/missing")
    assert r.status_code == 404 and r.headers["x-content-type-options"] == "nosniff"


def test_a_response_keeps_headers_it_set_itself(client: httpx.Client) -> None:
    r = client.get("/own")
    assert r.headers["content-security-policy"] == "default-src 'none'"
    assert r.headers["referrer-policy"] == "no-referrer"
    assert r.headers["x-content-type-options"] == "nosniff"


def test_route_overrides(client: httpx.Client) -> None:
    r = client.get("/embed", headers={"x-forwarded-proto": "https"})
    csp = r.headers["content-security-policy"]
    assert "frame-ancestors https://partner.example" in csp
    assert "script-src" not in csp and "default-src 'self'" in csp
    assert "x-frame-options" not in r.headers
    assert "strict-transport-security" not in r.headers
    bare = client.get("/bare", headers={"x-forwarded-proto": "https"})
    assert not {"x-content-type-options", "content-security-policy", "strict-transport-security"} & set(bare.headers)


def test_configured_policy_and_hsts() -> None:
    for client in _client({
        "csp": {"img-src": "'self' https://img.example", "object-src": False, "upgrade-insecure-requests": True},
        "csp_report_only": True, "hsts_max_age": 60, "hsts_include_subdomains": False, "hsts_preload": True,
        "referrer_policy": "", "cross_origin_opener_policy": "",
    }):
        r = client.get("/json", headers={"x-forwarded-proto": "https"})
        assert "content-security-policy" not in r.headers
        policy = r.headers["content-security-policy-report-only"]
        assert "img-src 'self' https://img.example" in policy
        assert "object-src" not in policy
        assert policy.endswith("; upgrade-insecure-requests")
        assert r.headers["strict-transport-security"] == "max-age=60; preload"
        assert "referrer-policy" not in r.headers and "cross-origin-opener-policy" not in r.headers
        # A route override starts from the configured policy, not from the defaults.
        embed = client.get("/embed").headers["content-security-policy-report-only"]
        assert "img-src 'self' https://img.example" in embed and "object-src" not in embed


def test_csp_false_sends_no_policy() -> None:
    for client in _client({"csp": False}):
        r = client.get("/json")
        assert "content-security-policy" not in r.headers
        assert r.headers["x-content-type-options"] == "nosniff"
