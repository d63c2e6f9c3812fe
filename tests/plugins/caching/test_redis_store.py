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
            b"{app1}:tm:users",
        ]
        assert 25_000 < raw.pttl("app1:k:GET:/users/1") <= 30_000
        # The member set lives as long as its longest-lived member, so eager removal misses none.
        assert raw.pttl("{app1}:tm:users") > 100_000
        assert raw.smembers("{app1}:tm:users") == {b"app1:k:GET:/users/1", b"app1:k:GET:/users/2"}
        value = raw.get("app1:k:GET:/users/1")
        # A tagged entry carries the tag versions it saw (none bumped yet: 0) before the record.
        assert value is not None and value.startswith(b"ATV\x01") and b"[0]ARC\x01" in value
        assert b'"s":200' in value
        await store.delete_tag("users")
        assert raw.hget("{app1}:tv", "users") == b"1"
        assert raw.keys("app1:k:*") == [] and raw.exists("{app1}:tm:users") == 0
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


async def test_an_entry_written_before_its_tag_was_invalidated_is_a_miss(redis_url: str) -> None:
    # The member sets only speed removal up: the tag version alone makes a stale entry a miss,
    # even one that escaped the set (written by a race, or the set lost to eviction).
    raw = redis.Redis.from_url(redis_url)
    store = RedisStore(redis_url, namespace="v")
    try:
        await store.set("GET:/a", rec(tags=("users",)), 60)
        raw.delete("{v}:tm:users")
        assert await store.delete_tag("users") == 0
        assert raw.exists("v:k:GET:/a") == 1  # still there, but stale
        assert await store.get("GET:/a") is None
        await store.set("GET:/a", rec(b"new", tags=("users",)), 60)
        got = await store.get("GET:/a")
        assert got is not None and got.body == b"new"
    finally:
        raw.close()
        await store.close()
