"""With areion-caching on: a cached response is replayed with the CORS headers of the request
being answered, never with those of the origin whose request filled the cache."""

from __future__ import annotations

import httpx
import pytest

from areion_core import HttpRequest, Router
from areion_core.testing import LiveServer
from tests.plugins.security._security_support import Calls, build_server

caching = pytest.importorskip("areion_caching")

A, B, EVIL = "https://a.example.com", "https://b.example.com", "https://evil.example"


@pytest.mark.parametrize("store", ["memory", "redis"])
def test_cache_hits_carry_the_cors_headers_of_their_own_origin(store: str, request: pytest.FixtureRequest) -> None:
    calls = Calls()
    router = Router()

    @router.get("/report")
    @caching.cache(ttl=60)
    async def report(req: HttpRequest) -> dict[str, int]:
        calls.hit()
        return {"total": 42}

    caching_section: dict[str, str] = {"store": store}
    if store == "redis":
        caching_section["url"] = request.getfixturevalue("redis_url")
    server = build_server(router, {"cors": {"origins": ["https://*.example.com"], "credentials": True},
                                   "headers": {}},
                          select=("caching", "security"), plugins={"caching": caching_section})
    seen = []
    with LiveServer(server) as live, httpx.Client(base_url=live.url) as http:
        for origin in (A, B, EVIL, None, A, B, EVIL):
            r = http.get("/report", headers={"origin": origin} if origin else {})
            assert r.status_code == 200 and r.json() == {"total": 42}
            seen.append((origin, r.headers.get("access-control-allow-origin"),
                         r.headers.get("access-control-allow-credentials")))
            assert "origin" in r.headers["vary"].lower()
            assert r.headers["x-content-type-options"] == "nosniff"
    assert calls.count == 1  # one miss, six hits
    round_trip = [(A, A, "true"), (B, B, "true"), (EVIL, None, None)]
    assert seen == [*round_trip, (None, None, None), *round_trip]


def test_a_cached_response_never_replays_another_requests_hsts() -> None:
    calls = Calls()
    router = Router()

    # One entry for both schemes (the default key holds the scheme, so it would keep two):
    # a hit over http replays what was stored over https.
    @router.get("/page")
    @caching.cache(ttl=60, key=lambda req: "page")
    async def page(req: HttpRequest) -> str:
        calls.hit()
        return "page"

    server = build_server(router, {"headers": {}}, select=("caching", "security"),
                          plugins={"caching": {"store": "memory"}}, forwarded_allow_ips=["127.0.0.1"])
    with LiveServer(server) as live, httpx.Client(base_url=live.url) as http:
        secure = http.get("/page", headers={"x-forwarded-proto": "https"})  # the miss, over https
        plain = http.get("/page")  # a hit, over http
        again = http.get("/page", headers={"x-forwarded-proto": "https"})
    assert calls.count == 1
    assert "strict-transport-security" in secure.headers
    assert "strict-transport-security" not in plain.headers
    assert "strict-transport-security" in again.headers
