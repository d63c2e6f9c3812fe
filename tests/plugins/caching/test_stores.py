"""One conformance suite for every cache store (Redis is the real server from the fixture)."""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
import time
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path

import pytest
from areion_caching.record import CacheRecord
from areion_caching.stores import CacheStore, FileSystemStore, MemoryStore, RedisStore

# The Redis store on one server, with its local tier, on a Cluster and behind Sentinel.
STORES = ["memory", "filesystem", "redis", "redis-local", "redis-cluster", "redis-sentinel"]


def _redis_store(request: pytest.FixtureRequest) -> RedisStore:
    kind = request.param
    namespace = f"test:cache:{secrets.token_hex(4)}"
    if kind == "redis-cluster":
        url = request.getfixturevalue("redis_cluster").url
    elif kind == "redis-sentinel":
        url = request.getfixturevalue("redis_sentinel").url
    else:
        url = request.getfixturevalue("redis_url")
    return RedisStore(url, namespace=namespace, local_cache=kind == "redis-local")


@pytest.fixture(params=STORES)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[CacheStore]:
    kind = request.param
    made: CacheStore
    if kind == "memory":
        made = MemoryStore(max_entries=1000, max_bytes=10_000_000)
    elif kind == "filesystem":
        made = FileSystemStore(tmp_path / "cache", max_entries=1000, max_bytes=10_000_000)
    else:
        made = _redis_store(request)
    try:
        yield made
    finally:
        await made.clear()
        await made.close()


def record(body: bytes = b"hello", *, tags: tuple[str, ...] = (), ttl: float = 60.0) -> CacheRecord:
    return CacheRecord(
        status=200,
        headers=(
            ("content-type", "text/plain; charset=utf-8"),
            ("etag", '"abc"'),
            ("vary", "Accept-Encoding"),
        ),
        body=body,
        created=time.time(),
        ttl=ttl,
        stale_while_revalidate=5.0,
        stale_if_error=30.0,
        tags=tags,
    )


async def test_missing_key_is_none(store: CacheStore) -> None:
    assert await store.get("GET:/nothing") is None


async def test_round_trip_keeps_every_field(store: CacheStore) -> None:
    body = bytes(range(256)) * 10  # binary, including NUL and invalid UTF-8
    original = CacheRecord(
        status=203,
        headers=(("content-type", "application/octet-stream"), ("x-one", "1"), ("x-two", "é")),
        body=body,
        created=1_700_000_000.25,
        ttl=12.5,
        stale_while_revalidate=3.0,
        stale_if_error=7.0,
        tags=("users", "list"),
        vary=(),
    )
    await store.set("GET:/a?x=1", original, 60)
    got = await store.get("GET:/a?x=1")
    assert got is not None
    assert (got.status, got.headers, got.body, got.created, got.ttl) == (
        203,
        original.headers,
        body,
        1_700_000_000.25,
        12.5,
    )
    assert (got.stale_while_revalidate, got.stale_if_error, got.tags) == (
        3.0,
        7.0,
        ("users", "list"),
    )


async def test_vary_index_round_trips(store: CacheStore) -> None:
    index = CacheRecord(
        status=0,
        headers=(),
        body=b"",
        created=time.time(),
        ttl=60,
        vary=("accept-encoding", "accept-language"),
    )
    await store.set("GET:/v", index, 60)
    got = await store.get("GET:/v")
    assert got is not None and got.is_vary_index
    assert got.vary == ("accept-encoding", "accept-language")


async def test_overwrite_replaces(store: CacheStore) -> None:
    await store.set("k", record(b"one"), 60)
    await store.set("k", record(b"two"), 60)
    got = await store.get("k")
    assert got is not None and got.body == b"two"


async def test_entries_expire_after_their_ttl(store: CacheStore) -> None:
    await store.set("short", record(b"s"), 0.15)
    await store.set("long", record(b"l"), 60)
    assert await store.get("short") is not None
    await asyncio.sleep(0.4)
    assert await store.get("short") is None
    assert await store.get("long") is not None


async def test_zero_ttl_removes(store: CacheStore) -> None:
    await store.set("k", record(), 60)
    await store.set("k", record(), 0)
    assert await store.get("k") is None


async def test_delete(store: CacheStore) -> None:
    await store.set("a", record(), 60)
    assert await store.delete("a") is True
    assert await store.get("a") is None
    assert await store.delete("a") is False


async def test_delete_prefix_only_touches_matching_keys(store: CacheStore) -> None:
    for key in ("GET:/users/1", "GET:/users/2?x=1", "GET:/users", "GET:/user", "GET:/items/1"):
        await store.set(key, record(key.encode()), 60)
    removed = await store.delete_prefix("GET:/users")
    assert removed == 3
    assert await store.get("GET:/users/1") is None
    assert await store.get("GET:/users/2?x=1") is None
    assert await store.get("GET:/user") is not None
    assert await store.get("GET:/items/1") is not None


async def test_delete_prefix_treats_glob_characters_literally(store: CacheStore) -> None:
    await store.set("GET:/a*b", record(), 60)
    await store.set("GET:/a?c", record(), 60)
    await store.set("GET:/a[1]", record(), 60)
    assert await store.delete_prefix("GET:/a*") == 1
    assert await store.get("GET:/a?c") is not None
    assert await store.delete_prefix("GET:/a[") == 1
    assert await store.get("GET:/a?c") is not None


async def test_delete_tag(store: CacheStore) -> None:
    await store.set("u1", record(tags=("users",)), 60)
    await store.set("u2", record(tags=("users", "admins")), 60)
    await store.set("p1", record(tags=("posts",)), 60)
    await store.set("none", record(), 60)
    assert await store.delete_tag("users") == 2
    assert await store.get("u1") is None and await store.get("u2") is None
    assert await store.get("p1") is not None and await store.get("none") is not None
    assert await store.delete_tag("users") == 0
    assert await store.delete_tag("never-used") == 0


async def test_clear(store: CacheStore) -> None:
    for i in range(20):
        await store.set(f"k{i}", record(tags=("t",)), 60)
    await store.clear()
    for i in range(20):
        assert await store.get(f"k{i}") is None
    assert await store.delete_tag("t") == 0


async def test_awkward_keys(store: CacheStore) -> None:
    keys = [
        "GET:/caf\u00e9?q=\u00fc",
        "GET:/" + "x" * 3000,
        "GET:/a b#vary:accept-encoding=gzip",
        "k:\x00:\u2603",
    ]
    for i, key in enumerate(keys):
        await store.set(key, record(str(i).encode()), 60)
    for i, key in enumerate(keys):
        got = await store.get(key)
        assert got is not None and got.body == str(i).encode()


async def test_usable_after_close(store: CacheStore) -> None:
    await store.set("k", record(), 60)
    await store.close()
    got = await store.get("k")
    assert got is not None and got.body == b"hello"


async def test_large_body(store: CacheStore) -> None:
    body = b"\xff" * 2_000_000
    await store.set("big", record(body), 60)
    got = await store.get("big")
    assert got is not None and got.body == body


async def test_lock_is_exclusive_for_shared_stores(store: CacheStore) -> None:
    token = await store.acquire_lock("GET:/slow", 5)
    assert token
    second = await store.acquire_lock("GET:/slow", 5)
    if store.shared_between_processes:
        assert second is None
        await store.release_lock("GET:/slow", token)
        assert await store.acquire_lock("GET:/slow", 5)
    else:
        assert second  # process-private stores leave single-flight to the in-process registry


async def test_concurrent_use(store: CacheStore) -> None:
    # 200 writes race on 10 shared keys while 200 reads of those keys run between them, and
    # 50 more keys are each written once. Bodies are large and distinct, and a header names
    # the write, so a torn or mixed-up record (body of one write, metadata of another, or
    # another key's entry) cannot pass for a good one.
    def body_of(key: str, n: int) -> bytes:
        return bytes([n % 251]) * 40_000 + f"|{key}|{n}".encode()

    def record_of(key: str, n: int) -> CacheRecord:
        made = record(body_of(key, n), tags=(key,))
        return dataclasses.replace(made, headers=(*made.headers, ("x-write", f"{key}|{n}")))

    shared = [f"c{i}" for i in range(10)]
    written: dict[str, set[int]] = {key: set() for key in shared}
    seen: list[tuple[str, CacheRecord | None]] = []

    async def write(key: str, n: int) -> None:
        written.setdefault(key, set()).add(n)
        await store.set(key, record_of(key, n), 60)

    async def read(key: str) -> None:
        seen.append((key, await store.get(key)))

    jobs = []
    for i in range(200):
        jobs.append(write(shared[i % 10], i))
        jobs.append(read(shared[(i + 3) % 10]))
    jobs.extend(write(f"u{i}", 1000 + i) for i in range(50))
    # 64 at a time: Sentinel and Cluster pools (64 connections) refuse more rather than wait.
    gate = asyncio.Semaphore(64)

    async def gated(job: Awaitable[None]) -> None:
        async with gate:
            await job

    await asyncio.gather(*(gated(job) for job in jobs))

    def check(key: str, got: CacheRecord | None) -> None:
        assert got is not None, f"{key}: nothing stored"
        marker = dict(got.headers).get("x-write", "")
        name, _, n = marker.partition("|")
        assert name == key and int(n) in written[key], f"{key}: holds {marker!r}, never written to it"
        assert got.body == body_of(key, int(n)), f"{key}: body is not the one written with {marker!r}"
        assert (got.status, got.tags, got.ttl) == (200, (key,), 60.0)

    assert len(seen) == 200
    for key, got in seen:
        if got is not None:  # a read that ran before any write to its key finds nothing
            check(key, got)
    for key in written:  # nothing lost: every key holds one complete write of its own
        check(key, await store.get(key))
