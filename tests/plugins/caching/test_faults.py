"""Store failures: requests go on uncached (never a 5xx), with a warning; caching resumes."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import pytest
from areion_caching import cache

from areion_core import HttpRequest, Router
from areion_core.testing import AsyncTestClient, TestClient
from tests._redis import RedisServer
from tests.plugins.caching._caching_support import Counter, build_server


def counting_router(runs: Counter) -> Router:
    router = Router()

    @router.get("/data/:n")
    @cache(ttl=60, tags=["data"])
    async def data(request: HttpRequest, n: int) -> dict[str, int]:
        return {"n": n, "run": runs()}

    return router


async def test_redis_stopped_mid_traffic_and_restarted(
    own_redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    runs = Counter()
    server = build_server(
        counting_router(runs),
        {"store": "redis", "url": own_redis.url, "retry_interval": 0.2, "store_timeout": 0.5},
    )
    statuses: list[int] = []
    labels: list[str] = []
    stop = asyncio.Event()

    async def traffic(client: AsyncTestClient) -> None:
        i = 0
        while not stop.is_set():
            response = await client.get(f"/data/{i % 5}")
            statuses.append(response.status_code)
            labels.append(response.headers.get("x-cache", ""))
            i += 1
            await asyncio.sleep(0.005)

    caplog.set_level(logging.WARNING)
    async with AsyncTestClient(server) as client:
        task = asyncio.create_task(traffic(client))
        await asyncio.sleep(0.3)
        assert "HIT" in labels
        await asyncio.to_thread(own_redis.stop)
        down_from = len(labels)
        await asyncio.sleep(0.5)
        down_labels = labels[down_from:]
        await asyncio.to_thread(own_redis.start)
        up_from = len(labels)
        await asyncio.sleep(0.8)
        stop.set()
        await task
        assert down_labels and "HIT" not in down_labels[3:]  # the cache was really gone
        assert "HIT" in labels[up_from:]  # and caching resumed by itself
        final = await client.get("/data/1")
        assert final.headers["x-cache"] == "HIT"
    assert set(statuses) == {200}  # not a single 5xx while the store was down
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("serving uncached" in m for m in warnings)
    assert any("caching resumed" in m for m in warnings)


def test_redis_down_from_the_start(caplog: pytest.LogCaptureFixture) -> None:
    from tests._redis import free_port

    runs = Counter()
    server = build_server(
        counting_router(runs), {"store": "redis", "url": f"redis://127.0.0.1:{free_port()}/0"}
    )
    caplog.set_level(logging.WARNING)
    with TestClient(server) as client:
        started = time.monotonic()
        responses = [client.get("/data/1") for _ in range(20)]
        elapsed = time.monotonic() - started
    assert {r.status_code for r in responses} == {200}
    assert {r.headers["x-cache"] for r in responses} == {"MISS"}
    assert runs.n == 20
    # One warning, not one per request; and no per-request wait for a dead server (generous).
    assert sum("serving uncached" in r.getMessage() for r in caplog.records) == 1
    assert elapsed < 10


def test_filesystem_store_failure_and_recovery(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    runs = Counter()
    blocker = tmp_path / "cache"
    blocker.write_text("a file where the cache directory should be: every write fails")
    server = build_server(
        counting_router(runs), {"store": "filesystem", "path": str(blocker), "retry_interval": 0.1}
    )
    caplog.set_level(logging.WARNING)
    with TestClient(server) as client:
        assert [client.get("/data/1").status_code for _ in range(3)] == [200, 200, 200]
        assert runs.n == 3
        blocker.unlink()  # the "disk" is back
        time.sleep(0.15)
        assert client.get("/data/1").headers["x-cache"] == "MISS"
        assert client.get("/data/1").headers["x-cache"] == "HIT"
    assert any("serving uncached" in r.getMessage() for r in caplog.records)
