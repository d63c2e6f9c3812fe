"""A real Redis Cluster (3 primaries, 3 replicas): keys across slots, hash tags, SCAN on every primary."""

from __future__ import annotations

import asyncio
import dataclasses
import time

import pytest
import redis
from areion_redis import RedisSettings, check, get_client, hash_tag, ready, scan_prefix
from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster
from redis.exceptions import RedisClusterException, RedisError

from tests._redis import RedisCluster

pytestmark = pytest.mark.usefixtures("clients_closed")


def settings_for(cluster: RedisCluster) -> RedisSettings:
    return RedisSettings.from_config({"mode": "cluster", "nodes": cluster.nodes[:2], "socket_timeout": 1}, "redis")


async def cluster_client(cluster: RedisCluster) -> AsyncRedisCluster:
    client = get_client(settings_for(cluster))
    assert isinstance(client, AsyncRedisCluster)
    await client.initialize()
    return client


async def test_keys_across_slots_on_every_primary(redis_cluster: RedisCluster) -> None:
    client = await cluster_client(redis_cluster)
    primaries = {node.name for node in client.get_primaries()}
    assert len(primaries) == 3
    keys = [f"areion-cluster:spread:{i}" for i in range(30)]
    for i, key in enumerate(keys):
        await client.set(key, str(i), px=60_000)
    # The keys really are spread: each primary holds some (found from only two startup nodes).
    assert {client.get_node_from_key(key).name for key in keys} == primaries
    assert [await client.get(key) for key in keys] == [str(i).encode() for i in range(30)]


async def test_hash_tag_keeps_a_multi_key_operation_in_one_slot(redis_cluster: RedisCluster) -> None:
    client = await cluster_client(redis_cluster)
    tag = hash_tag("areion-cluster:user:42")
    assert tag == "{areion-cluster:user:42}"
    tagged = [f"{tag}:profile", f"{tag}:session", f"{tag}:cart"]
    assert len({client.keyslot(key) for key in tagged}) == 1
    async with client.pipeline(transaction=True) as pipe:  # MULTI/EXEC on one node
        for key in tagged:
            pipe.set(key, key, px=60_000)
        assert await pipe.execute() == [True, True, True]
    assert await client.mget(tagged) == [key.encode() for key in tagged]
    # The same keys without the tag land in different slots, and the cluster refuses MGET.
    untagged = [key.replace(tag, "areion-cluster:user:42") for key in tagged]
    assert len({client.keyslot(key) for key in untagged}) > 1
    with pytest.raises(RedisClusterException):
        await client.mget(untagged)


@pytest.mark.parametrize("namespace", ["", "a{b", "a}b"])
def test_hash_tag_refuses_what_would_not_be_one_tag(namespace: str) -> None:
    with pytest.raises(ValueError, match="hash tag"):
        hash_tag(namespace)


async def test_scan_prefix_finds_the_keys_of_every_primary(redis_cluster: RedisCluster) -> None:
    client = await cluster_client(redis_cluster)
    keys = {f"areion-cluster:scan:{i}" for i in range(40)}
    for key in keys:
        await client.set(key, "1", px=60_000)
    await client.set("areion-cluster:other:1", "1", px=60_000)
    holders = {client.get_node_from_key(key).name for key in keys}
    assert len(holders) == 3  # so a walk of one node would miss keys
    found = [key async for key in scan_prefix(client, "areion-cluster:scan:*", count=7)]
    assert {key.decode() if isinstance(key, bytes) else key for key in found} == keys


async def test_check_pings_every_primary(redis_cluster: RedisCluster) -> None:
    ok, why = await check(settings_for(redis_cluster))
    assert ok, why
    assert why == f"redis+cluster://{','.join(redis_cluster.nodes[:2])}: ok"


@pytest.mark.slow
async def test_client_follows_a_primary_failover(redis_cluster: RedisCluster) -> None:
    client = await cluster_client(redis_cluster)
    keys = [f"areion-cluster:failover:{i}" for i in range(30)]
    victim = client.get_node_from_key(keys[0]).port
    on_victim = [key for key in keys if client.get_node_from_key(key).port == victim]
    for key in keys:
        await client.set(key, "before", px=60_000)
    replica = next(node for node, primary in redis_cluster.roles().items() if primary == victim)
    with redis.Redis(port=replica) as direct:  # on the victim's replica before the kill
        direct.execute_command("READONLY")
        deadline = time.monotonic() + 5
        while [direct.get(key) for key in on_victim] != [b"before"] * len(on_victim):
            assert time.monotonic() < deadline, "the replica did not receive the writes"
            await asyncio.sleep(0.02)

    failover = asyncio.create_task(asyncio.to_thread(redis_cluster.failover_by_killing_primary, victim))
    failures: list[float] = []
    successes: list[float] = []
    started = time.monotonic()
    while not failover.done():  # writes to the victim's slots all through the failover
        try:
            await client.set(on_victim[0], "during", px=60_000)
            successes.append(time.monotonic() - started)
        except (RedisError, RedisClusterException, OSError):
            failures.append(time.monotonic() - started)
        await asyncio.sleep(0.05)
    promoted = await failover
    assert promoted == replica
    # The loop may end before a write reached the cluster after the kill was repaired (the
    # last ones failing on the dead node): write until one succeeds, as a user's code would.
    deadline = time.monotonic() + 10
    while not successes or (failures and successes[-1] < failures[-1]):
        assert time.monotonic() < deadline, f"no write succeeded after the failover ({failures})"
        try:
            await client.set(on_victim[0], "after", px=60_000)
            successes.append(time.monotonic() - started)
        except (RedisError, RedisClusterException, OSError):
            failures.append(time.monotonic() - started)
        await asyncio.sleep(0.05)

    assert client.get_node_from_key(on_victim[0]).port == promoted  # the client learnt the new slot owner
    assert [await client.get(key) for key in on_victim[1:]] == [b"before"] * (len(on_victim) - 1)
    assert failures, "the kill should have failed some writes"
    assert successes and successes[-1] > failures[-1], "writes succeed again after the failover"
    assert failures[-1] - failures[0] < 10, failures
    assert get_client(settings_for(redis_cluster)) is client


async def test_resp3_on_a_cluster(redis_cluster: RedisCluster) -> None:
    settings = RedisSettings.from_config({"url": redis_cluster.url, "protocol": 3}, "redis")
    client = get_client(settings)
    assert isinstance(client, AsyncRedisCluster)
    keys = [f"areion-cluster:resp3:{i}" for i in range(10)]
    for key in keys:
        await client.set(key, key, px=60_000)
    assert [await client.get(key) for key in keys] == [key.encode() for key in keys]
    node = client.get_node_from_key(keys[0])
    assert int((await client.client_info(target_nodes=node))["resp"]) == 3


def slot_discoveries(cluster: RedisCluster) -> int:
    """How many times any client asked a node for the slot map (CLUSTER SLOTS or SHARDS)."""
    total = 0
    for port in cluster.ports:
        with redis.Redis(port=port) as node:
            stats = node.info("commandstats")
        asked = ("cmdstat_cluster|slots", "cmdstat_cluster|shards")
        total += sum(int(v["calls"]) for k, v in stats.items() if k in asked)
    return total


async def test_ready_discovers_the_slots_once_for_a_burst_of_first_commands(redis_cluster: RedisCluster) -> None:
    settings = dataclasses.replace(settings_for(redis_cluster), socket_timeout=1.5)  # a new client of its own
    client = get_client(settings)
    assert isinstance(client, AsyncRedisCluster)
    before = slot_discoveries(redis_cluster)

    async def first_command(i: int) -> bytes | None:
        ready_client = await ready(client)
        key = f"areion-cluster:ready:{i}"
        await ready_client.set(key, str(i), px=60_000)
        return await ready_client.get(key)  # type: ignore[no-any-return]

    values = await asyncio.gather(*(first_command(i) for i in range(60)))
    assert values == [str(i).encode() for i in range(60)]  # every first command answered
    assert slot_discoveries(redis_cluster) == before + 1  # one discovery for the whole burst
    assert await ready(client) is client  # and none afterwards
    assert slot_discoveries(redis_cluster) == before + 1


async def test_ready_raises_for_an_unreachable_cluster_and_tries_again_next_time() -> None:
    from tests._redis import free_port

    settings = RedisSettings.from_config(
        {"mode": "cluster", "nodes": [f"127.0.0.1:{free_port()}"], "connect_timeout": 0.2, "socket_timeout": 0.2,
         "retries": 0}, "redis")
    client = get_client(settings)
    outcomes = await asyncio.gather(*(ready(client) for _ in range(5)), return_exceptions=True)
    assert all(isinstance(o, (RedisClusterException, RedisError, OSError)) for o in outcomes), outcomes
    with pytest.raises((RedisClusterException, RedisError, OSError)):  # not a remembered failure: a new try
        await ready(client)


async def test_ready_returns_a_standalone_client_as_it_is(redis_url: str) -> None:
    client = get_client(RedisSettings.from_url(redis_url))
    assert await ready(client) is client
    assert await client.ping() is True
