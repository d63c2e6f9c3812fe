"""FileSystemStore: hashed names, atomic writes, private permissions, size bound."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import pytest
from areion_caching.record import CacheRecord
from areion_caching.stores import FileSystemStore, StoreError


def rec(body: bytes = b"x", tags: tuple[str, ...] = ()) -> CacheRecord:
    return CacheRecord(200, (("content-type", "text/plain"),), body, time.time(), 60, tags=tags)


def files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


async def test_names_are_hashes_and_permissions_private(tmp_path: Path) -> None:
    root = tmp_path / "deep" / "cache"
    store = FileSystemStore(root)
    await store.set("GET:/secret/../../etc/passwd?token=abc", rec(), 60)
    written = files(root)
    assert len(written) == 1
    name = written[0].relative_to(root).as_posix()
    assert "secret" not in name and "passwd" not in name and "token" not in name
    assert len(written[0].stem) + len(written[0].parent.name) == 64  # sha256 hex
    assert stat.S_IMODE(os.stat(root).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(written[0].parent).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(written[0]).st_mode) == 0o600


async def test_no_pickle_and_no_temp_files_left(tmp_path: Path) -> None:
    store = FileSystemStore(tmp_path)
    for i in range(20):
        await store.set("k", rec(str(i).encode()), 60)
    written = files(tmp_path)
    assert len(written) == 1
    data = written[0].read_bytes()
    assert data.startswith(b"AFS\x01") and b"ARC\x01" in data
    assert b"\x80\x04" not in data[:16]  # not a pickle stream
    got = await store.get("k")
    assert got is not None and got.body == b"19"


async def test_size_bound_removes_oldest_first(tmp_path: Path) -> None:
    store = FileSystemStore(tmp_path, max_entries=1000, max_bytes=60_000)
    for i in range(30):
        await store.set(f"k{i}", rec(b"z" * 4_000), 60)
        os.utime(store._file_for(f"k{i}"), (1_000_000 + i, 1_000_000 + i))  # distinct mtimes
    total = sum(p.stat().st_size for p in files(tmp_path))
    assert total <= 60_000
    assert await store.get("k29") is not None
    assert await store.get("k0") is None


async def test_entry_bound(tmp_path: Path) -> None:
    store = FileSystemStore(tmp_path, max_entries=10)
    for i in range(25):
        await store.set(f"k{i}", rec(), 60)
    assert len(files(tmp_path)) <= 10


async def test_corrupt_file_is_a_miss_and_removed(tmp_path: Path) -> None:
    store = FileSystemStore(tmp_path)
    await store.set("k", rec(), 60)
    target = Path(store._file_for("k"))
    target.write_bytes(b"AFS\x01" + b"\x7f" * 8 + b"garbage")
    assert await store.get("k") is None
    assert not target.exists()


async def test_shared_directory_between_two_instances(tmp_path: Path) -> None:
    one, two = FileSystemStore(tmp_path), FileSystemStore(tmp_path)
    await one.set("k", rec(b"from one", tags=("t",)), 60)
    got = await two.get("k")
    assert got is not None and got.body == b"from one"
    assert await two.delete_tag("t") == 1
    assert await one.get("k") is None


async def test_failures_raise_store_error_and_recover(tmp_path: Path) -> None:
    blocker = tmp_path / "cache"
    blocker.write_text("a file where the directory should be")
    store = FileSystemStore(blocker)
    with pytest.raises(StoreError):
        await store.set("k", rec(), 60)
    blocker.unlink()
    await store.set("k", rec(), 60)
    assert await store.get("k") is not None
