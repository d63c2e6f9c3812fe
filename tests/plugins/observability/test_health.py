"""/healthz and /readyz: alive, ready, not ready while draining or while a Redis a plugin needs is down."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from areion_core.testing import LiveServer
from tests._redis import RedisServer
from tests.plugins.observability._observability_support import make_server


def test_liveness_and_readiness_answer_on_a_fresh_server() -> None:
    with LiveServer(make_server()) as live:
        alive = httpx.get(live.url + "/healthz")
        ready = httpx.get(live.url + "/readyz")
    assert (alive.status_code, alive.json()) == (200, {"status": "ok"})
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "checks": {"startup": "ok", "draining": "ok"}}
    assert ready.headers["cache-control"] == "no-store"


def test_readiness_flips_while_the_server_drains() -> None:
    server = make_server()
    with LiveServer(server) as live, httpx.Client(base_url=live.url) as client:
        assert client.get("/readyz").status_code == 200  # this keep-alive connection stays open
        thread = live._thread
        assert thread is not None
        # Drain as SIGTERM does; an idle keep-alive connection still answers for drain_linger.
        stopping = asyncio.run_coroutine_threadsafe(server.stop(3.0), thread.loop)
        deadline = time.monotonic() + 2
        while not server.app.draining and time.monotonic() < deadline:
            time.sleep(0.01)
        during = client.get("/readyz")
        alive = client.get("/healthz") if during.headers.get("connection") != "close" else None
        stopping.result(10)
    assert during.status_code == 503
    assert during.json() == {"status": "not ready", "checks": {"startup": "ok", "draining": "draining"}}
    assert alive is None or alive.status_code == 200


def test_readiness_follows_the_caching_plugins_redis(own_redis: RedisServer) -> None:
    server = make_server({"health": {"check_timeout": 0.5}}, plugins=("observability", "caching"),
                         sections={"caching": {"store": "redis", "url": own_redis.url}})
    with LiveServer(server) as live:
        up = httpx.get(live.url + "/readyz")
        own_redis.stop()
        down = httpx.get(live.url + "/readyz")
        alive = httpx.get(live.url + "/healthz")
        own_redis.start()
        deadline = time.monotonic() + 5
        again = httpx.get(live.url + "/readyz")
        while again.status_code != 200 and time.monotonic() < deadline:
            time.sleep(0.1)
            again = httpx.get(live.url + "/readyz")
    assert up.status_code == 200 and up.json()["checks"]["redis"] == "ok"
    assert down.status_code == 503
    assert down.json()["checks"]["redis"] == "down"  # why goes to the log: it names internal hosts
    assert alive.status_code == 200
    assert again.status_code == 200, again.json()


def test_health_probes_stay_out_of_the_access_log(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    server = make_server(access_log=True, access_log_file=str(log))
    with LiveServer(server) as live:
        for path in ("/healthz", "/readyz", "/json", "/healthz"):
            assert httpx.get(live.url + path).status_code == 200
    lines = log.read_text().splitlines()
    assert len(lines) == 1 and '"GET /json HTTP/1.1" 200' in lines[0], lines


@pytest.mark.parametrize("config", [{"health": {"access_log": True}}])
def test_health_probes_in_the_access_log_when_asked(tmp_path: Path, config: dict[str, object]) -> None:
    log = tmp_path / "access.log"
    server = make_server(config, access_log=True, access_log_file=str(log))
    with LiveServer(server) as live:
        assert httpx.get(live.url + "/healthz").status_code == 200
    assert "GET /healthz" in log.read_text()


def test_paths_are_configurable() -> None:
    config = {"health": {"liveness_path": "/live", "readiness_path": "/ready"}, "metrics": {"path": "/prom"}}
    with LiveServer(make_server(config)) as live:
        assert httpx.get(live.url + "/live").status_code == 200
        assert httpx.get(live.url + "/ready").status_code == 200
        assert httpx.get(live.url + "/prom").status_code == 200
        assert httpx.get(live.url + "/healthz").status_code == 404
        assert httpx.get(live.url + "/metrics").status_code == 404


def test_readiness_reads_the_caching_plugins_redis_table(own_redis: RedisServer) -> None:
    """``[plugins.caching] redis`` (a table, not the ``url`` alias) is what readiness checks."""
    server = make_server({"health": {"check_timeout": 0.5}}, plugins=("observability", "caching"),
                         sections={"caching": {"store": "redis", "redis": {"url": own_redis.url}}})
    with LiveServer(server) as live:
        up = httpx.get(live.url + "/readyz")
        own_redis.stop()
        try:
            down = httpx.get(live.url + "/readyz")
        finally:
            own_redis.start()
    assert up.json()["checks"]["redis"] == "ok" and down.status_code == 503


def test_readiness_follows_a_sentinel_setup(redis_sentinel: Any) -> None:
    """Behind Sentinel, readiness asks the sentinels for the primary and PINGs it."""
    server = make_server({"health": {"check_timeout": 1.0}}, plugins=("observability", "caching"),
                         sections={"caching": {"store": "redis", "redis": redis_sentinel.url}})
    with LiveServer(server) as live:
        up = httpx.get(live.url + "/readyz")
    assert up.status_code == 200 and up.json()["checks"]["redis"] == "ok", up.json()


def test_readiness_follows_the_realtime_channels_redis(own_redis: RedisServer) -> None:
    """The realtime plugin's Redis channels are a Redis this worker needs to serve."""
    server = make_server({"health": {"check_timeout": 0.5}}, plugins=("observability", "realtime"),
                         sections={"realtime": {"backend": "redis", "redis": own_redis.url}})
    with LiveServer(server) as live:
        up = httpx.get(live.url + "/readyz")
        own_redis.stop()
        try:
            down = httpx.get(live.url + "/readyz")
        finally:
            own_redis.start()
    assert up.status_code == 200 and up.json()["checks"]["redis"] == "ok", up.json()
    assert down.status_code == 503 and down.json()["checks"]["redis"] == "down"


@pytest.mark.parametrize("fail", ["open", "closed"])
def test_readiness_counts_the_rate_limits_redis_only_when_they_fail_closed(own_redis: RedisServer, fail: str) -> None:
    """Failing open, a Redis outage only lifts the limits: the worker stays ready. Failing
    closed, it answers 503s: not ready."""
    limits = {"store": "redis", "redis": own_redis.url, "fail": fail, "routes": {"POST /echo": "100/minute"}}
    server = make_server({"health": {"check_timeout": 0.5}}, plugins=("observability", "security"),
                         sections={"security": {"rate_limit": limits}})
    with LiveServer(server) as live:
        own_redis.stop()
        try:
            down = httpx.get(live.url + "/readyz")
        finally:
            own_redis.start()
    if fail == "closed":
        assert down.status_code == 503 and down.json()["checks"]["redis"] == "down"
    else:
        assert down.status_code == 200 and "redis" not in down.json()["checks"], down.json()


def test_one_check_for_two_plugins_on_one_redis(own_redis: RedisServer) -> None:
    """Caching and realtime on the same Redis: one "redis" check, ok while it answers."""
    server = make_server({"health": {"check_timeout": 0.5}}, plugins=("observability", "caching", "realtime"),
                         sections={"caching": {"store": "redis", "url": own_redis.url},
                                   "realtime": {"backend": "redis", "redis": own_redis.url}})
    with LiveServer(server) as live:
        up = httpx.get(live.url + "/readyz")
    assert up.status_code == 200 and up.json()["checks"] == {"startup": "ok", "draining": "ok", "redis": "ok"}
