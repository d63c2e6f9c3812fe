"""The showcase's security configuration, served as ``make run`` serves it: CORS for
``http://localhost:3000`` with credentials, the hosts 127.0.0.1 and localhost, and a rate limit."""

from __future__ import annotations

import httpx

from tests.integration.test_showcase_index import showcase  # the same `areion run` fixture

__all__ = ["showcase"]

APP = "http://localhost:3000"


def test_cors_for_localhost_3000_with_credentials(showcase: str) -> None:
    preflight = httpx.options(showcase + "/echo", headers={
        "origin": APP, "access-control-request-method": "POST", "access-control-request-headers": "content-type"})
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == APP
    assert preflight.headers["access-control-allow-credentials"] == "true"
    actual = httpx.post(showcase + "/echo", json={"a": 1}, headers={"origin": APP})
    assert actual.json() == {"a": 1}
    assert actual.headers["access-control-allow-origin"] == APP
    other = httpx.get(showcase + "/json", headers={"origin": "http://localhost:3001"})
    assert "access-control-allow-origin" not in other.headers and other.headers["vary"] == "Origin"


def test_trusted_hosts(showcase: str) -> None:
    port = showcase.rsplit(":", 1)[1]
    assert httpx.get(showcase + "/json", headers={"host": f"localhost:{port}"}).status_code == 200
    refused = httpx.get(showcase + "/json", headers={"host": "attacker.example"})
    assert refused.status_code == 400
    assert refused.headers["content-type"] == "application/problem+json"


def test_the_limited_route(showcase: str) -> None:
    with httpx.Client(base_url=showcase) as client:
        statuses = [client.get("/limited").status_code for _ in range(6)]
        refused = client.get("/limited")
    assert statuses == [200] * 5 + [429]  # 5 per minute per client
    assert refused.status_code == 429
    assert refused.headers["ratelimit-policy"] == '"/limited";q=5;w=60'
    assert int(refused.headers["retry-after"]) > 0
