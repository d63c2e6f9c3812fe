"""RedisStore: what Redis really holds (namespaced keys, TTLs, tag sets, framing)."""

from __future__ import annotations

import time

import pytest
import redis
from areion_caching.record import CacheRecord
from areion_caching.stores import RedisStore, StoreError


def rec(body: bytes = b"x", tags: tuple[str, ...] = ()) -> CacheRecord:
    return CacheRecord(200, (("content-type", "text/plain"),), body, time.time(), 60, tags=tags)


async def test_keys_are_namespaced_with_ttls_and_tag_sets(redis_url: str) -> None:
    store = RedisStore(redis_url, namespace="app1")
    await store.set("GET:/users/1", rec(tags=("users",)), 30)
    await store.set("GET:/users/2", rec(tags=("users",)), 120)
    raw = redis.Redis.from_url(redis_url)
    try:
        assert sorted(raw.keys("*")) == [
            b"app1:k:GET:/users/1",
            b"app1:k:GET:/users/2",
            b"app1:t:users",
        ]
        assert 25_000 < raw.pttl("app1:k:GET:/users/1") <= 30_000
        # The tag set lives as long as its longest-lived member, so invalidation never misses one.
        assert raw.pttl("app1:t:users") > 100_000
        assert raw.smembers("app1:t:users") == {b"app1:k:GET:/users/1", b"app1:k:GET:/users/2"}
        value = raw.get("app1:k:GET:/users/1")
        assert value is not None and value.startswith(b"ARC\x01") and b'"s":200' in value
    finally:
        raw.close()
        await store.close()


async def test_clear_only_touches_its_namespace(redis_url: str) -> None:
    raw = redis.Redis.from_url(redis_url)
    raw.set("someone-else", "keep")
    mine, theirs = RedisStore(redis_url, namespace="a"), RedisStore(redis_url, namespace="b")
    try:
        await mine.set("k", rec(), 60)
        await theirs.set("k", rec(), 60)
        await mine.clear()
        assert await mine.get("k") is None
        assert await theirs.get("k") is not None
        assert raw.get("someone-else") == b"keep"
    finally:
        raw.close()
        await mine.close()
        await theirs.close()


async def test_url_reads_environment_variables(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    host_port = redis_url.removeprefix("redis://").split("/")[0]
    monkeypatch.setenv("CACHE_REDIS_HOST", host_port)
    store = RedisStore("redis://${CACHE_REDIS_HOST}/0")
    try:
        await store.set("k", rec(), 60)
        assert await store.get("k") is not None
    finally:
        await store.clear()
        await store.close()
    monkeypatch.delenv("CACHE_REDIS_HOST")
    with pytest.raises(ValueError, match="CACHE_REDIS_HOST"):
        RedisStore("redis://${CACHE_REDIS_HOST}/0")


async def test_garbage_value_is_a_miss(redis_url: str) -> None:
    raw = redis.Redis.from_url(redis_url)
    store = RedisStore(redis_url, namespace="g")
    try:
        raw.set("g:k:bad", b"\x80\x04not a record")
        assert await store.get("bad") is None
        assert raw.exists("g:k:bad") == 0
    finally:
        raw.close()
        await store.close()


async def test_unreachable_server_raises_store_error_quickly() -> None:
    from tests._redis import free_port

    store = RedisStore(f"redis://127.0.0.1:{free_port()}/0", timeout=0.5)
    started = time.monotonic()
    with pytest.raises(StoreError):
        await store.get("k")
    with pytest.raises(StoreError):
        await store.set("k", rec(), 60)
    assert time.monotonic() - started < 5  # generous: refused connections fail at once
    await store.close()
