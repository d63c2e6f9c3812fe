"""A store that keeps one file per record in a private directory."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import struct
import tempfile
import time
from collections.abc import Callable, Iterator
from typing import TypeVar

from ..record import (
    HEADER_SIZE,
    CacheRecord,
    RecordError,
    decode_meta,
    decode_record,
    encode_record,
)
from .base import CacheStore, StoreError

T = TypeVar("T")

_FS_MAGIC = b"AFS\x01"
_EXPIRES = struct.Struct(">d")
_PREFIX = len(_FS_MAGIC) + _EXPIRES.size
_SUFFIX = ".arc"
# How much below the bounds a shrink goes, so that a full cache is not rescanned on every write.
_LOW_WATER = 0.9


class FileSystemStore(CacheStore):
    """Records as files under ``path``, safe for several processes sharing the directory.

    File names are SHA-256 hashes of the keys (no user text reaches the file system);
    writes go to a temporary file that is renamed into place with ``os.replace``, so a reader
    sees the old record or the new one, never half of one. The directory is created 0o700 and
    files 0o600. When ``max_bytes`` or ``max_entries`` is passed, expired files are removed
    and then the oldest, down to 90% of the bound. Prefix and tag deletion scan the
    directory, so they cost time in proportion to the number of entries.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        max_entries: int = 100_000,
        max_bytes: int = 512 * 1024 * 1024,
    ) -> None:
        self.path = os.path.abspath(os.fspath(path))
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        # Unknown until the first write scans the directory (another process may share it).
        self._bytes: int | None = None
        self._count = 0

    # --- the interface -----------------------------------------------------------------
    async def get(self, key: str) -> CacheRecord | None:
        return await self._run(self._get, key)

    async def set(self, key: str, record: CacheRecord, ttl: float) -> None:
        await self._run(self._set, key, record, ttl)

    async def delete(self, key: str) -> bool:
        return await self._run(self._delete_file, self._file_for(key))

    async def delete_prefix(self, prefix: str) -> int:
        return await self._run(
            self._delete_matching, lambda meta: str(meta.get("k", "")).startswith(prefix)
        )

    async def delete_tag(self, tag: str) -> int:
        return await self._run(self._delete_matching, lambda meta: tag in meta.get("g", ()))

    async def clear(self) -> None:
        await self._run(self._delete_matching, lambda meta: True)

    # --- blocking work, run in a thread ---------------------------------------------------
    async def _run(self, fn: Callable[..., T], *args: object) -> T:
        try:
            return await asyncio.to_thread(fn, *args)
        except OSError as exc:
            raise StoreError(f"file system cache at {self.path}: {exc}") from exc

    def _file_for(self, key: str) -> str:
        digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
        return os.path.join(self.path, digest[:2], digest[2:] + _SUFFIX)

    def _get(self, key: str) -> CacheRecord | None:
        name = self._file_for(key)
        try:
            with open(name, "rb") as fh:
                data = fh.read()
        except FileNotFoundError:
            return None
        if len(data) < _PREFIX or not data.startswith(_FS_MAGIC):
            self._delete_file(name)
            return None
        (expires,) = _EXPIRES.unpack_from(data, len(_FS_MAGIC))
        if expires <= time.time():
            self._delete_file(name)
            return None
        try:
            record = decode_record(data[_PREFIX:])
        except RecordError:
            self._delete_file(name)
            return None
        # Two keys with one hash are practically impossible, but a record must match its key.
        return record if record.key == key else None

    def _set(self, key: str, record: CacheRecord, ttl: float) -> None:
        name = self._file_for(key)
        if ttl <= 0:
            self._delete_file(name)
            return
        data = _FS_MAGIC + _EXPIRES.pack(time.time() + ttl) + encode_record(record, key)
        if len(data) > self.max_bytes:
            return
        folder = os.path.dirname(name)
        if self._bytes is None:
            # makedirs gives only the leaf the mode asked for, so make the root on its own.
            os.makedirs(self.path, mode=0o700, exist_ok=True)
            self._rescan()
        try:
            os.mkdir(folder, 0o700)
        except FileExistsError:
            pass
        except FileNotFoundError:  # the root was removed under us: start it again
            os.makedirs(self.path, mode=0o700, exist_ok=True)
            os.makedirs(folder, mode=0o700, exist_ok=True)
        try:
            old = os.stat(name).st_size
        except FileNotFoundError:
            old = None
        # mkstemp creates the file 0o600; os.replace keeps that mode and is atomic.
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=folder)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, name)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        assert self._bytes is not None
        self._bytes += len(data) - (old or 0)
        self._count += 0 if old is not None else 1
        if self._bytes > self.max_bytes or self._count > self.max_entries:
            self._shrink()

    def _delete_file(self, name: str) -> bool:
        try:
            size = os.stat(name).st_size
            os.unlink(name)
        except FileNotFoundError:
            return False
        if self._bytes is not None:
            self._bytes -= size
            self._count -= 1
        return True

    def _files(self) -> Iterator[os.DirEntry[str]]:
        try:
            top = list(os.scandir(self.path))
        except FileNotFoundError:
            return
        for sub in top:
            if not sub.is_dir(follow_symlinks=False) or len(sub.name) != 2:
                continue
            for entry in os.scandir(sub.path):
                if entry.name.endswith(_SUFFIX) and entry.is_file(follow_symlinks=False):
                    yield entry

    @staticmethod
    def _read_head(name: str) -> tuple[float, dict[str, object]] | None:
        """Expiry and metadata of a record file without reading its body."""
        try:
            with open(name, "rb") as fh:
                head = fh.read(_PREFIX + HEADER_SIZE)
                if len(head) < _PREFIX + HEADER_SIZE or not head.startswith(_FS_MAGIC):
                    return None
                (expires,) = _EXPIRES.unpack_from(head, len(_FS_MAGIC))
                length = int.from_bytes(head[-4:], "big")
                meta, _ = decode_meta(head[_PREFIX:] + fh.read(length))
        except (FileNotFoundError, RecordError):
            return None
        return expires, meta

    def _delete_matching(self, match: Callable[[dict[str, object]], bool]) -> int:
        removed = 0
        for entry in list(self._files()):
            head = self._read_head(entry.path)
            if head is None or match(head[1]):
                removed += self._delete_file(entry.path) and head is not None
        return removed

    def _rescan(self) -> None:
        total = count = 0
        for entry in self._files():
            try:
                total += entry.stat(follow_symlinks=False).st_size
                count += 1
            except FileNotFoundError:
                pass
        self._bytes, self._count = total, count

    def _shrink(self) -> None:
        now = time.time()
        live: list[tuple[float, int, str]] = []
        for entry in list(self._files()):
            head = self._read_head(entry.path)
            try:
                st = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue
            if head is None or head[0] <= now:
                self._unlink_quiet(entry.path)
                continue
            live.append((st.st_mtime, st.st_size, entry.path))
        live.sort()
        total = sum(size for _, size, _ in live)
        count = len(live)
        byte_goal = self.max_bytes * _LOW_WATER
        count_goal = self.max_entries * _LOW_WATER
        for _, size, name in live:
            if total <= byte_goal and count <= count_goal:
                break
            if self._unlink_quiet(name):
                total -= size
                count -= 1
        self._bytes, self._count = total, count

    @staticmethod
    def _unlink_quiet(name: str) -> bool:
        try:
            os.unlink(name)
        except FileNotFoundError:
            return False
        return True
