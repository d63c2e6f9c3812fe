"""A real Sentinel setup (a primary, a replica, 3 sentinels): the client follows a failover."""

from __future__ import annotations

import asyncio
import time

import pytest
import redis.asyncio as aioredis
from areion_redis import RedisSettings, check, get_client, scan_prefix
from redis.exceptions import RedisError

from tests._redis import RedisSentinel

pytestmark = pytest.mark.usefixtures("clients_closed")


def settings_for(sentinel: RedisSentinel) -> RedisSettings:
    return RedisSettings.from_config(
        {"url": sentinel.url, "socket_timeout": 0.5, "connect_timeout": 0.5, "retries": 2,
         "backoff_base": 0.05, "backoff_cap": 0.2}, "redis")


async def serving_port(client: aioredis.Redis) -> int:
    return int((await client.info("server"))["tcp_port"])


async def test_table_form_reaches_the_primary(redis_sentinel: RedisSentinel) -> None:
    settings = RedisSettings.from_config(
        {"mode": "sentinel", "sentinels": redis_sentinel.sentinels, "service": redis_sentinel.service}, "redis")
    client = get_client(settings)
    assert isinstance(client, aioredis.Redis)
    assert await serving_port(client) == redis_sentinel.primary.port
    await client.set("areion-sentinel:table", "1", px=60_000)
    assert [k async for k in scan_prefix(client, "areion-sentinel:table*")] == [b"areion-sentinel:table"]
    assert (await check(settings))[0]


@pytest.mark.slow
async def test_client_follows_a_failover(redis_sentinel: RedisSentinel) -> None:
    settings = settings_for(redis_sentinel)
    client = get_client(settings)
    pool = client.connection_pool
    old_primary = redis_sentinel.primary.port
    assert await serving_port(client) == old_primary
    await client.set("areion-sentinel:before", "kept")
    assert await client.execute_command("WAIT", 1, 2000) == 1  # on the replica before the kill

    failover = asyncio.create_task(asyncio.to_thread(redis_sentinel.failover_by_killing_primary))
    failures: list[float] = []
    successes: list[float] = []
    written = 0
    started = time.monotonic()

    def back() -> bool:
        return bool(successes) and (not failures or successes[-1] > failures[-1])

    # Writes all through the failover, as traffic would, until the helper has seen it end and a
    # write has gone through since the last failure (the client may find the new primary just
    # after the helper does, on a loaded machine); 30 s at most.
    while (not failover.done() or not back()) and time.monotonic() - started < 30:
        try:
            await client.set(f"areion-sentinel:during:{written}", "1", px=60_000)
            written += 1
            successes.append(time.monotonic() - started)
        except (RedisError, OSError):
            failures.append(time.monotonic() - started)
        await asyncio.sleep(0.05)
    new_primary = await failover

    assert new_primary != old_primary
    await client.set("areion-sentinel:after", "1")  # no error: the pool found the new primary
    assert await serving_port(client) == new_primary
    assert await client.get("areion-sentinel:before") == b"kept"
    assert failures, "the kill should have failed some writes"
    assert back(), (successes, failures)
    # Writes came back within the failover time (1 s to notice, a vote, a promotion: about 2 s
    # here), not later; 10 s leaves room for a loaded machine.
    came_back = min(t for t in successes if t > failures[-1])
    assert came_back - failures[0] < 10, (failures, came_back)
    # One client and one pool throughout: the same settings still give them.
    assert get_client(settings_for(redis_sentinel)) is client and client.connection_pool is pool
    assert (await check(settings))[0]
