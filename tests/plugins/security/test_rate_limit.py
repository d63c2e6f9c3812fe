"""Rate limits with the memory store, on a real socket: the 101st of 100/minute is a 429."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from areion_security import rate_limit
from areion_security.rates import Rate
from areion_security.stores import MemoryStore

from areion_core import HttpRequest, HttpResponse, Metric, Router, StandardMetrics, Telemetry, hookimpl
from areion_core.testing import LiveServer
from tests.plugins.security._security_support import Calls, build_server


class CountingTelemetry(Telemetry):
    """A recorder that keeps what it was told (what the observability plugin would export)."""

    def __init__(self) -> None:
        super().__init__()
        self.counts: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}

    def inc(self, metric: Metric, amount: float = 1.0, **labels: str) -> None:
        key = (metric.name, tuple(sorted(labels.items())))
        self.counts[key] = self.counts.get(key, 0) + amount


class Recorder:
    name = "test_recorder"

    def __init__(self) -> None:
        self.telemetry = CountingTelemetry()

    @hookimpl
    def configure(self, app: Any) -> None:
        app.telemetry = self.telemetry


def _router(calls: Calls) -> Router:
    router = Router()

    @router.route("/items", methods=["GET", "POST"])
    async def items(request: HttpRequest) -> dict[str, bool]:
        calls.hit()
        return {"ok": True}

    @router.get("/search")
    @rate_limit("3/minute", key="header:X-API-Key")
    async def search(request: HttpRequest) -> str:
        return "hits"

    @router.post("/login")
    @rate_limit("2/minute", scope="auth")
    async def login(request: HttpRequest) -> str:
        return "in"

    @router.post("/reset")
    @rate_limit("2/minute", scope="auth")
    async def reset(request: HttpRequest) -> str:
        return "reset"

    @router.get("/burst")
    @rate_limit("3/minute", algorithm="token-bucket")
    async def burst(request: HttpRequest) -> str:
        return "b"

    router.add_route("/free", lambda request: "free", ["GET"], rate_limit=False)
    router.add_route("/other", lambda request: "other", ["GET"])
    return router


@pytest.fixture
def calls() -> Calls:
    return Calls()


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def client(calls: Calls, recorder: Recorder) -> Iterator[httpx.Client]:
    section = {"rate_limit": {"routes": {"POST /items": "100/minute"}, "default": "5/minute"}}
    server = build_server(_router(calls), section, plugin_objects=[recorder], forwarded_allow_ips=["127.0.0.1"])
    with LiveServer(server) as live, httpx.Client(base_url=live.url) as http:
        yield http


def test_the_101st_of_100_per_minute_is_a_429(client: httpx.Client, calls: Calls, recorder: Recorder) -> None:
    for n in range(100):
        r = client.post("/items")
        assert r.status_code == 200, n
        assert r.headers["ratelimit-policy"] == '"POST /items";q=100;w=60'
        assert r.headers["ratelimit"].startswith(f'"POST /items";r={99 - n};t=')
    refused = client.post("/items")
    assert refused.status_code == 429
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["status"] == 429
    assert 59 <= int(refused.headers["retry-after"]) <= 60  # the window started a moment ago
    assert refused.headers["ratelimit"] == f'"POST /items";r=0;t={refused.headers["retry-after"]}'
    assert calls.count == 100
    assert recorder.telemetry.counts == {(StandardMetrics.rate_limited.name, (("route", "/items"),)): 1}


def test_a_limit_by_method_leaves_the_other_methods_alone(client: httpx.Client) -> None:
    for _ in range(100):
        client.post("/items")
    assert client.post("/items").status_code == 429
    r = client.get("/items")  # GET /items has no entry of its own, and the default does not apply to it
    assert r.status_code == 200 and "ratelimit" not in r.headers


def test_each_client_has_its_own_counter(client: httpx.Client) -> None:
    # We are the trusted proxy (forwarded_allow_ips), so X-Forwarded-For names the client.
    for _ in range(5):
        assert client.get("/other", headers={"x-forwarded-for": "10.0.0.1"}).status_code == 200
    assert client.get("/other", headers={"x-forwarded-for": "10.0.0.1"}).status_code == 429
    assert client.get("/other", headers={"x-forwarded-for": "10.0.0.2"}).status_code == 200


def test_a_key_function_counts_per_api_key(client: httpx.Client) -> None:
    for _ in range(3):
        assert client.get("/search", headers={"x-api-key": "alpha"}).status_code == 200
    assert client.get("/search", headers={"x-api-key": "alpha"}).status_code == 429
    assert client.get("/search", headers={"x-api-key": "beta"}).status_code == 200


def test_a_scope_is_one_counter_for_a_group_of_routes(client: httpx.Client) -> None:
    assert client.post("/login").status_code == 200
    assert client.post("/reset").status_code == 200
    r = client.post("/login")
    assert r.status_code == 429
    assert r.headers["ratelimit-policy"] == '"auth";q=2;w=60'


def test_the_default_applies_to_routes_without_a_limit(client: httpx.Client) -> None:
    statuses = [client.get("/other").status_code for _ in range(6)]
    assert statuses == [200] * 5 + [429]
    assert all(client.get("/free").status_code == 200 for _ in range(7))  # rate_limit=False


def test_head_counts_against_the_get_limit(client: httpx.Client) -> None:
    for _ in range(3):
        assert client.head("/search").status_code == 200
    assert client.get("/search").status_code == 429


def test_token_bucket_allows_the_burst_then_one_per_interval(client: httpx.Client) -> None:
    statuses = [client.get("/burst").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    refused = client.get("/burst")
    assert 19 <= int(refused.headers["retry-after"]) <= 20  # one token every 60/3 s


@pytest.mark.parametrize("algorithm", ["fixed-window", "token-bucket"])
def test_memory_store_arithmetic(algorithm: str) -> None:
    now = [1000.0]
    store = MemoryStore(clock=lambda: now[0])
    rate = Rate(4, 60)
    decisions = [store.hit("s", "k", rate, algorithm) for _ in range(5)]
    assert [d.allowed for d in decisions] == [True, True, True, True, False]
    assert [d.remaining for d in decisions] == [3, 2, 1, 0, 0]
    if algorithm == "fixed-window":
        assert decisions[-1].retry_after == 60
        now[0] += 59.5
        assert store.hit("s", "k", rate, algorithm).allowed is False
        now[0] += 0.5
        assert store.hit("s", "k", rate, algorithm).remaining == 3  # a new window
    else:
        assert decisions[-1].retry_after == pytest.approx(15)  # one token every 60/4 s
        now[0] += 15
        assert store.hit("s", "k", rate, algorithm).allowed is True
        assert store.hit("s", "k", rate, algorithm).allowed is False
        now[0] += 60
        assert store.hit("s", "k", rate, algorithm).remaining == 3  # the bucket refilled


def test_memory_store_sweeps_expired_counters() -> None:
    now = [0.0]
    store = MemoryStore(clock=lambda: now[0])
    store.SWEEP_AT = store._sweep_at = 10
    for i in range(10):
        store.hit("s", f"k{i}", Rate(1, 1), "fixed-window")
    now[0] = 5.0
    store.hit("s", "fresh", Rate(1, 1), "fixed-window")
    assert list(store.windows) == ["s|fresh"]


def test_a_limited_route_gets_cors_security_and_ratelimit_headers_together() -> None:
    # The CORS and security headers go on as one block, then the RateLimit headers; a response
    # with a Vary of its own takes the per-feature way and ends up with the same headers.
    router = Router()

    @router.get("/plain")
    async def plain(request: HttpRequest) -> dict[str, bool]:
        return {"ok": True}

    @router.get("/varied")
    async def varied(request: HttpRequest) -> HttpResponse:
        return HttpResponse({"ok": True}, headers={"vary": "Accept"})

    section = {"cors": {"origins": ["http://app.example"], "credentials": True}, "headers": {},
               "rate_limit": {"routes": {"GET /plain": "5/minute", "GET /varied": "5/minute"}}}
    with LiveServer(build_server(router, section)) as live, httpx.Client(base_url=live.url) as http:
        answers = {path: http.get(path, headers={"Origin": "http://app.example"}) for path in ("/plain", "/varied")}
    for path, answer in answers.items():
        assert answer.status_code == 200, path
        assert answer.headers["access-control-allow-origin"] == "http://app.example", path
        assert answer.headers["access-control-allow-credentials"] == "true", path
        assert answer.headers["x-content-type-options"] == "nosniff", path
        assert answer.headers["ratelimit-policy"] == f'"GET {path}";q=5;w=60', path
        assert answer.headers["ratelimit"].startswith(f'"GET {path}";r=4;t='), path
    assert answers["/plain"].headers["vary"] == "Origin"
    assert answers["/varied"].headers["vary"] == "Accept, Origin"
