"""A primary killed mid-traffic behind Sentinel and in a Cluster: no 5xx, hits resume.

Traffic keeps flowing through a real app (AsyncTestClient drives the real server) while the
fixture kills the primary and waits for the failover. Asserted: every answer is a 200 (the
cache serves uncached while Redis cannot answer, never an error), no request waits much
longer than the store timeout, and after the failover the same keys are HITs again, from
Redis and from the local tier.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from areion_caching import cache

from areion_core import HttpRequest, Router
from areion_core.testing import AsyncTestClient
from tests.plugins.caching._caching_support import Counter, build_server

STORE_TIMEOUT = 0.5


def counting_router(runs: Counter) -> Router:
    router = Router()

    @router.get("/data/:n")
    @cache(ttl=60, tags=["data"])
    async def data(request: HttpRequest, n: int) -> dict[str, int]:
        return {"n": n, "run": runs()}

    return router


@pytest.mark.slow
@pytest.mark.parametrize("where", ["sentinel", "cluster"])
async def test_a_primary_killed_mid_traffic(where: str, request: pytest.FixtureRequest) -> None:
    deployment = request.getfixturevalue(f"redis_{where}")
    runs = Counter()
    server = build_server(counting_router(runs), {
        "store": "redis", "redis": deployment.url, "namespace": f"failover{time.monotonic_ns()}",
        "retry_interval": 0.2, "store_timeout": STORE_TIMEOUT})
    statuses: list[int] = []
    labels: list[str] = []
    slowest: list[float] = [0.0]
    stop = asyncio.Event()

    async def traffic(client: AsyncTestClient) -> None:
        i = 0
        while not stop.is_set():
            started = time.monotonic()
            response = await client.get(f"/data/{i % 20}")
            slowest[0] = max(slowest[0], time.monotonic() - started)
            statuses.append(response.status_code)
            labels.append(response.headers.get("x-cache", ""))
            i += 1
            await asyncio.sleep(0.005)

    def kill_a_primary() -> None:
        if where == "sentinel":
            deployment.failover_by_killing_primary()
        else:
            primary = next(port for port, of in deployment.roles().items() if of is None)
            deployment.failover_by_killing_primary(primary)

    async with AsyncTestClient(server) as client:
        task = asyncio.create_task(traffic(client))
        await asyncio.sleep(0.5)
        assert "HIT" in labels
        await asyncio.to_thread(kill_a_primary)
        after = len(labels)
        await asyncio.sleep(1.5)
        stop.set()
        await task
        assert "HIT" in labels[after:]  # caching resumed by itself on the new primary
        for n in range(20):  # every key: a HIT again, through the new topology
            final = await client.get(f"/data/{n}")
            if final.headers["x-cache"] != "HIT":
                final = await client.get(f"/data/{n}")
            assert (final.status_code, final.headers["x-cache"]) == (200, "HIT")
    assert set(statuses) == {200}  # not a single 5xx while the primary was gone
    # A request waits for at most a read and a write that time out, and a lock: well under 5 s.
    assert slowest[0] < 10 * STORE_TIMEOUT, slowest[0]
