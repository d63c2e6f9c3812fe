"""The Redis lease and tick guard, in one process against the real Redis server."""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections.abc import AsyncIterator
from datetime import datetime

import pytest
import redis
import redis.asyncio as aioredis
from areion_scheduling import DefaultOrchestrator, Every, scheduled_time

from tests._redis import RedisServer
from tests.plugins.scheduling._scheduling_support import make_app, wait_until

PREFIX = "t:"


@pytest.fixture
async def store(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    yield client
    await client.aclose()


def leased(redis_url: str, **options: object) -> DefaultOrchestrator:
    given: dict[str, object] = {"key_prefix": PREFIX, "shutdown_timeout": 1, **options}
    return DefaultOrchestrator(redis_url=redis_url, **given)  # type: ignore[arg-type]


async def test_a_lone_process_takes_the_lease_runs_jobs_and_releases_on_shutdown(
    redis_url: str, store: aioredis.Redis
) -> None:
    orch = leased(redis_url, lease_ttl=1.0)
    ticks: list[datetime | None] = []
    orch.add_job(lambda: ticks.append(scheduled_time()), Every(seconds=0.1), id="job")
    await orch.startup(make_app())
    assert orch.is_scheduler
    token = await store.get(f"{PREFIX}lease")
    assert token is not None and token.split(":")[1] == str(os.getpid())
    assert 0 < await store.pttl(f"{PREFIX}lease") <= 1000
    await wait_until(lambda: len(ticks) >= 3)
    # Each tick that ran was claimed in Redis under its fire time.
    claimed = [k async for k in store.scan_iter(f"{PREFIX}tick:job:*")]
    fire_ms = {str(round(t.timestamp() * 1000)) for t in ticks if t is not None}
    assert fire_ms <= {k.rsplit(":", 1)[1] for k in claimed}
    assert [k for k in claimed if await store.ttl(k) <= 0] == []
    await orch.shutdown()
    assert await store.get(f"{PREFIX}lease") is None


async def test_the_heartbeat_keeps_renewing_the_lease(redis_url: str, store: aioredis.Redis) -> None:
    orch = leased(redis_url, lease_ttl=0.6)
    await orch.startup(make_app())
    token = await store.get(f"{PREFIX}lease")
    await asyncio.sleep(1.5)  # more than two TTLs
    assert await store.get(f"{PREFIX}lease") == token
    assert orch.is_scheduler
    await orch.shutdown()


async def test_two_processes_one_scheduler_and_a_prompt_handover(
    redis_url: str, store: aioredis.Redis
) -> None:
    runs: dict[str, list[int]] = {"a": [], "b": []}
    orchestrators: dict[str, DefaultOrchestrator] = {}
    for name in ("a", "b"):
        orch = leased(redis_url, lease_ttl=1.0)
        orch.add_job(lambda n=name: runs[n].append(round(scheduled_time().timestamp() * 10)),
                     Every(seconds=0.1), id="shared")
        await orch.startup(make_app())
        orchestrators[name] = orch
    assert [o.is_scheduler for o in orchestrators.values()] == [True, False]
    await wait_until(lambda: len(runs["a"]) >= 3)
    assert runs["b"] == []
    await orchestrators["a"].shutdown()  # releases the lease
    began = time.monotonic()
    await wait_until(lambda: orchestrators["b"].is_scheduler, timeout=2)
    assert time.monotonic() - began < 1.0  # within a heartbeat, not a whole TTL
    await wait_until(lambda: len(runs["b"]) >= 2)
    await orchestrators["b"].shutdown()
    assert not set(runs["a"]) & set(runs["b"])  # no tick ran on both


async def test_the_lease_is_kept_while_a_job_abandoned_at_shutdown_runs(
    redis_url: str, store: aioredis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    # Released at shutdown, or left to lapse, the lease would let another process start the
    # next tick beside a job of this one that still runs: it is renewed until the job returns.
    orch = leased(redis_url, lease_ttl=0.6, shutdown_timeout=0.2)
    release = threading.Event()
    orch.add_job(lambda: release.wait(10), Every(seconds=0.05), id="stuck")
    await orch.startup(make_app())
    token = await store.get(f"{PREFIX}lease")
    await wait_until(lambda: orch.running_jobs == ["stuck"])
    try:
        with caplog.at_level(logging.INFO):
            await orch.shutdown()
            assert await store.get(f"{PREFIX}lease") == token
            await asyncio.sleep(1.5)  # two and a half TTLs after the loop stopped renewing
            assert await store.get(f"{PREFIX}lease") == token
            release.set()
            await wait_until(lambda: "have finished" in caplog.text, timeout=2)
    finally:
        release.set()
    assert await store.get(f"{PREFIX}lease") is None  # released once the job returned
    assert f"scheduler lease {PREFIX}lease kept until the job(s) still running finish" in caplog.text


async def test_a_tick_already_claimed_elsewhere_is_skipped(
    redis_url: str, store: aioredis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    # Claim the next ten ticks as another process would have, then start: none of them runs.
    step = 200
    first = (int(time.time() * 1000) // step + 1) * step
    claimed = [first + i * step for i in range(10)]
    for ms in claimed:
        await store.set(f"{PREFIX}tick:guarded:{ms}", "other-host:1:x", ex=60)
    ran: list[int] = []
    orch = leased(redis_url, lease_ttl=1.0)
    orch.add_job(lambda: ran.append(round(scheduled_time().timestamp() * 1000)),
                 Every(seconds=step / 1000), id="guarded")
    with caplog.at_level(logging.INFO):
        await orch.startup(make_app())
        await wait_until(lambda: bool(ran), timeout=4)
    await orch.shutdown()
    assert not set(ran) & set(claimed)
    assert "already happened on another process; skipped" in caplog.text


async def test_a_holder_that_loses_its_lease_stops_scheduling(
    redis_url: str, store: aioredis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    orch = leased(redis_url, lease_ttl=0.6)
    ran: list[float] = []
    orch.add_job(lambda: ran.append(time.monotonic()), Every(seconds=0.05), id="job")
    await orch.startup(make_app())
    await wait_until(lambda: len(ran) >= 2)
    with caplog.at_level(logging.WARNING):
        await store.set(f"{PREFIX}lease", "another-host:42:beef", px=5000)  # someone else's now
        await wait_until(lambda: not orch.is_scheduler, timeout=2)
    assert "scheduler lease lost" in caplog.text
    count = len(ran)
    await asyncio.sleep(0.3)
    assert len(ran) <= count + 1  # at most a run already in flight
    await orch.shutdown()
    assert await store.get(f"{PREFIX}lease") == "another-host:42:beef"  # not ours to delete


async def test_redis_url_reads_the_environment(
    redis_url: str, store: aioredis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SCHEDULING_TEST_REDIS", redis_url)
    orch = DefaultOrchestrator(shutdown_timeout=1)
    await orch.startup(make_app({"redis_url": "${SCHEDULING_TEST_REDIS}", "key_prefix": PREFIX}))
    assert orch.is_scheduler
    assert await store.exists(f"{PREFIX}lease")
    await orch.shutdown()


async def test_no_scheduling_while_redis_is_down_then_recovery(
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = RedisServer()  # our own: stopping it must not disturb the other tests
    ran: list[int] = []
    orch = DefaultOrchestrator(redis_url=server.url, key_prefix=PREFIX, lease_ttl=0.6,
                               shutdown_timeout=1)
    orch.add_job(lambda: ran.append(1), Every(seconds=0.05), id="job")
    try:
        with caplog.at_level(logging.WARNING):
            await orch.startup(make_app())
            assert not orch.is_scheduler
            assert "unreachable" in caplog.text
        await asyncio.sleep(0.3)
        assert ran == []
        await asyncio.to_thread(server.start)
        await wait_until(lambda: orch.is_scheduler, timeout=3)
        await wait_until(lambda: len(ran) >= 1)
        client = redis.Redis.from_url(server.url)
        assert client.get(f"{PREFIX}lease") is not None
        client.close()
    finally:
        await orch.shutdown()
        server.close()


@pytest.mark.parametrize("where", ["cluster", "sentinel"])
async def test_the_lease_and_tick_claims_on_a_cluster_and_behind_sentinel(
    where: str, request: pytest.FixtureRequest
) -> None:
    deployment = request.getfixturevalue(f"redis_{where}")
    prefix = f"{where}{os.getpid()}:"
    orch = DefaultOrchestrator(redis=deployment.url, key_prefix=prefix, lease_ttl=1.0, shutdown_timeout=1)
    ticks: list[datetime | None] = []
    orch.add_job(lambda: ticks.append(scheduled_time()), Every(seconds=0.1), id="job")
    await orch.startup(make_app())
    client = redis.RedisCluster.from_url(f"redis://{deployment.nodes[0]}") if where == "cluster" else \
        redis.Redis(port=deployment.primary.port)
    try:
        assert orch.is_scheduler
        await wait_until(lambda: len(ticks) >= 3)
        token = client.get(f"{prefix}lease")
        assert token is not None and token.split(b":")[1] == str(os.getpid()).encode()
        fire_ms = {round(t.timestamp() * 1000) for t in ticks[:3] if t is not None}
        for ms in fire_ms:  # each run was claimed under its fire time
            assert client.get(f"{prefix}tick:job:{ms}") == token
        if where == "sentinel":  # and, behind Sentinel, ran only once the replica held the claim
            replica = redis.Redis(port=deployment.replica.port)
            assert all(replica.get(f"{prefix}tick:job:{ms}") == token for ms in fire_ms)
            replica.close()
    finally:
        await orch.shutdown()
        assert client.get(f"{prefix}lease") is None
        client.close()
