"""MemoryStore: bounded by entries and bytes, least recently used first, expired first."""

from __future__ import annotations

import asyncio
import time

import pytest
from areion_caching.record import CacheRecord
from areion_caching.stores import MemoryStore


def rec(body: bytes = b"x") -> CacheRecord:
    return CacheRecord(200, (("content-type", "text/plain"),), body, time.time(), 60)


async def test_entry_bound_evicts_least_recently_used() -> None:
    store = MemoryStore(max_entries=3, max_bytes=10_000_000)
    for k in "abc":
        await store.set(k, rec(), 60)
    assert await store.get("a") is not None  # a is now the most recently used
    await store.set("d", rec(), 60)
    assert len(store) == 3
    assert await store.get("b") is None
    assert all([await store.get(k) for k in "acd"])


async def test_byte_bound_holds() -> None:
    store = MemoryStore(max_entries=1_000_000, max_bytes=100_000)
    for i in range(100):
        await store.set(f"k{i}", rec(b"y" * 5_000), 60)
        assert store.bytes_used <= 100_000
    assert 10 <= len(store) < 20
    assert await store.get("k99") is not None
    assert await store.get("k0") is None


async def test_record_larger_than_the_bound_is_not_stored() -> None:
    store = MemoryStore(max_entries=10, max_bytes=1_000)
    await store.set("small", rec(), 60)
    await store.set("huge", rec(b"z" * 5_000), 60)
    assert await store.get("huge") is None
    assert await store.get("small") is not None


async def test_expired_entries_go_before_live_ones() -> None:
    store = MemoryStore(max_entries=3, max_bytes=10_000_000)
    await store.set("old1", rec(), 0.05)
    await store.set("live", rec(), 60)
    await store.set("old2", rec(), 0.05)
    await asyncio.sleep(0.1)
    await store.set("new", rec(), 60)
    # The expired pair left on the write, so nothing live had to be evicted.
    assert len(store) == 2
    assert await store.get("live") is not None and await store.get("new") is not None


async def test_overwrite_accounts_bytes_once() -> None:
    store = MemoryStore(max_entries=10, max_bytes=10_000_000)
    for _ in range(50):
        await store.set("same", rec(b"q" * 1000), 60)
    assert len(store) == 1
    assert store.bytes_used < 2_000


@pytest.mark.parametrize("bound", ["entries", "bytes"])
async def test_bound_held_under_100k_distinct_keys(bound: str) -> None:
    if bound == "entries":
        store = MemoryStore(max_entries=5_000, max_bytes=1 << 40)
    else:
        store = MemoryStore(max_entries=1 << 40, max_bytes=2_000_000)
    body = b"b" * 200
    for i in range(100_000):
        await store.set(f"GET:/items/{i}", rec(body), 60)
        if i % 10_000 == 0:
            assert len(store) <= 5_000 if bound == "entries" else store.bytes_used <= 2_000_000
    if bound == "entries":
        assert len(store) == 5_000
    else:
        assert store.bytes_used <= 2_000_000
        assert len(store) > 1_000
    # The newest survive, the oldest were evicted; internal indexes stay proportional.
    assert await store.get("GET:/items/99999") is not None
    assert await store.get("GET:/items/0") is None
    assert len(store._expiry) <= 2 * len(store) + 1024


def test_bounds_must_be_positive() -> None:
    with pytest.raises(ValueError):
        MemoryStore(max_entries=0)
    with pytest.raises(ValueError):
        MemoryStore(max_bytes=0)
