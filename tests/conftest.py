"""Shared fixtures: a private Redis server and free ports."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests._redis import RedisCluster, RedisSentinel, RedisServer, external_url, free_port


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A real redis-server on a free port, private to this test session (stop/start for fault tests)."""
    with RedisServer() as server:
        yield server


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[RedisCluster]:
    """A private Redis Cluster (3 primaries, 3 replicas) for this session, started on first use."""
    with RedisCluster() as cluster:
        yield cluster


@pytest.fixture(scope="session")
def redis_sentinel() -> Iterator[RedisSentinel]:
    """A private primary, replica and 3 sentinels for this session, started on first use.

    ``failover_by_killing_primary()`` leaves it with a primary and a replica again.
    """
    with RedisSentinel() as sentinel:
        yield sentinel


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    """A redis-server of the test's own, so stopping or pausing it leaves the session's alone."""
    with RedisServer() as server:
        yield server


@pytest.fixture
def redis_url(redis_server: RedisServer) -> Iterator[str]:
    """URL of a clean Redis database (flushed before each test); AREION_TEST_REDIS_URL overrides."""
    url = external_url() or redis_server.url
    import redis

    client = redis.Redis.from_url(url)
    client.flushdb()
    client.close()
    yield url


@pytest.fixture
def unused_port() -> int:
    return free_port()
