"""Who runs the scheduler without Redis: the process holding a lock file on this host.

Every process of the app opens the same file and tries ``flock(LOCK_EX | LOCK_NB)`` on it.
The one that gets the lock schedules and holds it for as long as it lives; the kernel drops
the lock when that process exits, however it exits (``kill -9`` included). The others try
again on every heartbeat, so one of them takes over within a heartbeat of the holder's exit.

This replaces "worker 0 schedules": under uvicorn, Granian or Hypercorn with several workers
every process is worker 0, and while Areion's supervisor replaces a worker (SIGHUP) the old
worker 0 drains beside the new one. Both would schedule; only one of them can hold the lock.

The file also serves as the tick guard (the Redis lease's ``tick:`` keys): before running a
tick the holder writes, per job, the last tick it claimed. A new holder reads them when it
takes over and skips ticks claimed already; a follower's paused scheduler would otherwise run
the latest tick it missed, which the previous holder may have run. Written with one
``pwrite`` before the run, the record survives ``kill -9``: a tick runs at most once.

A lock belongs to an open file, not to a path: if the file is removed (a temp-dir cleaner, a
logout emptying ``$XDG_RUNTIME_DIR``) a new process would lock a new file beside the old
holder. So the holder touches the file on every heartbeat (age-based cleaners leave it
alone), checks on every heartbeat that the path still names its file, and if not locks the
new one or steps down; followers reopen the path when it names another file.

None of that file I/O runs on the event loop: a stat, a touch or a ``pwrite`` on a disk that
stalls (writeback, a full journal) would stall every request of the process with it. Each
file operation runs in the lease's own thread, one at a time and in order, so the descriptor
is never closed or replaced under an operation; what they decide (leader or not, the claims)
is kept and changed on the loop, between them.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import fcntl
import hashlib
import json
import logging
import os
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from .lease import Leadership

_T = TypeVar("_T")

#: Descriptors of held lock files, closed in a child made by ``os.fork()`` (multiprocessing):
#: the child shares the lock otherwise, and would keep it after this process died.
_HELD: set[int] = set()


def _close_held_in_child() -> None:
    for fd in list(_HELD):
        with contextlib.suppress(OSError):
            os.close(fd)
    _HELD.clear()


os.register_at_fork(after_in_child=_close_held_in_child)


def default_lock_path(key_prefix: str, config_source: str | None = None,
                      cwd: str | None = None) -> Path:
    """``$XDG_RUNTIME_DIR`` (else the temp dir) ``/areion-scheduling-<uid>-<digest>.lock``.

    The name holds the user id, and the digest what every process of one app on one host
    shares: the working directory it was started in, the config file it read, and
    ``key_prefix`` (already what keeps apps apart in a shared Redis). Workers of uvicorn,
    Granian, Hypercorn or ``areion run --workers N``, and a worker replaced on SIGHUP, agree
    on it; another app started elsewhere, or by another user, does not.
    """
    identity = "\0".join([os.path.realpath(cwd or os.getcwd()),
                          os.path.realpath(config_source) if config_source else "", key_prefix])
    digest = hashlib.sha256(identity.encode()).hexdigest()[:16]
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    base = runtime if runtime and os.path.isdir(runtime) and os.access(runtime, os.W_OK) \
        else tempfile.gettempdir()
    return Path(base) / f"areion-scheduling-{os.getuid()}-{digest}.lock"


def open_lock_file(path: Path) -> int:
    """Open (creating, mode 0600) the lock file; ``OSError`` says why it cannot be used."""
    return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)


class LockFileLease(Leadership):
    """The lock-file leadership described in the module docstring."""

    def __init__(self, path: Path, heartbeat: float, logger: Callable[[], logging.Logger]) -> None:
        self.path = path
        self.heartbeat = heartbeat
        #: What the file holds while this process leads (for the followers' log line).
        self.token = f"{socket.gethostname()}:{os.getpid()}"
        self._log = logger
        self._fd: int | None = None
        self._task: asyncio.Task[None] | None = None
        self._campaigning = True
        self._told_holder = False
        #: Per job id, the last tick (epoch ms) claimed by any holder: the file's second line.
        self._claims: dict[str, int] = {}
        self._written = 0  # the longest state written: shorter ones are padded to cover it
        #: Where the file operations run, one at a time (made by ``start``).
        self._io: concurrent.futures.ThreadPoolExecutor | None = None
        self._elected: Callable[[], None] = lambda: None
        self._deposed: Callable[[], None] = lambda: None
        self.claim = self.claim_tick

    async def start(self, elected: Callable[[], None], deposed: Callable[[], None]) -> None:
        self._elected, self._deposed = elected, deposed
        self._io = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="areion scheduler lock file")
        try:
            self._fd = await self._file_io(open_lock_file, self.path)
        except OSError:  # the orchestrator turns it into a ConfigError
            self._io.shutdown(wait=False)
            self._io = None
            raise
        await self._beat()  # at once, so a lone process schedules from the start
        self._task = asyncio.get_running_loop().create_task(self._heartbeat(),
                                                            name="areion scheduler lock file")

    def _file_io(self, call: Callable[..., _T], *args: Any) -> asyncio.Future[_T]:
        """Run one file operation in the lease's thread, after those submitted before it."""
        return asyncio.get_running_loop().run_in_executor(self._io, call, *args)

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat)
            try:
                await self._beat()
            except Exception:
                self._log().exception("scheduler lock file %s: heartbeat failed", self.path)

    async def _beat(self) -> None:
        if self.is_leader:
            if await self._file_io(self._touch_if_ours):
                return
            self._log().warning("scheduler lock file %s was removed or replaced", self.path)
            if await self._file_io(self._relock):
                await self._write_state()  # what we claimed, for whoever holds the new file next
            else:
                self._lose("another process locked the new lock file, or it cannot be created")
            return
        if not self._campaigning:
            return
        locked, lines = await self._file_io(self._campaign)
        if not self._campaigning:  # shutdown began while the file was tried
            if locked:
                await self._file_io(self._release)
            return
        if locked:
            self.is_leader = True
            self._claims = self._parse_claims(lines)
            await self._write_state()
            self._log().info("scheduler lock file %s acquired by %s: this process runs "
                             "scheduled jobs", self.path, self.token)
            self._elected()
        elif lines is not None and not self._told_holder:
            self._told_holder = True
            self._log().info("scheduler lock file %s is held by another process (%s): that one "
                             "runs scheduled jobs; this one takes over if it exits", self.path,
                             lines[0].strip() if lines else "unknown")

    # --- file operations: in the lease's thread ---------------------------------------------
    def _touch_if_ours(self) -> bool:
        if not self._names_our_file():
            return False
        with contextlib.suppress(OSError):
            os.utime(self.path)  # fresh, so no age-based temp cleaner removes it
        return True

    def _relock(self) -> bool:
        return self._reopen() and self._try_lock()

    def _campaign(self) -> tuple[bool, list[str] | None]:
        """Try for the lock: (True, the file's lines) when taken, (False, its lines) when
        another process holds it and the holder is not named yet, (False, None) otherwise."""
        if not self._names_our_file() and not self._reopen():
            return False, None
        if self._try_lock():
            return True, self._read_lines()
        return False, None if self._told_holder else self._read_lines()

    def _names_our_file(self) -> bool:
        if self._fd is None:
            return False
        try:
            here, there = os.fstat(self._fd), os.stat(self.path)
        except OSError:
            return False
        return (here.st_dev, here.st_ino) == (there.st_dev, there.st_ino)

    def _reopen(self) -> bool:
        """Open the path afresh (dropping any lock on the old file); False if it cannot be."""
        old, self._fd = self._fd, None
        if old is not None:
            _HELD.discard(old)
            os.close(old)
        try:
            self._fd = open_lock_file(self.path)
        except OSError as exc:
            self._log().warning("scheduler lock file %s cannot be opened (%r); trying again in "
                                "%.3gs", self.path, exc, self.heartbeat)
            return False
        return True

    def _try_lock(self) -> bool:
        assert self._fd is not None
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        _HELD.add(self._fd)
        return True

    async def _write_state(self) -> None:
        """Line 1: who holds the lock (for the followers' log); line 2: the claimed ticks.

        One ``pwrite``, padded to cover the longest state written before (no truncation, so
        no moment at which the file holds half a state). The bytes are made here, on the loop,
        where the claims change."""
        data = (f"{self.token} {' '.join(sys.argv)[:400]}\n"
                f"{json.dumps(self._claims, separators=(',', ':'))}\n").encode()
        self._written = max(self._written, len(data))
        await self._file_io(self._pwrite, data.ljust(self._written))

    def _pwrite(self, data: bytes) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.pwrite(self._fd, data, 0)

    def _read_lines(self) -> list[str]:
        assert self._fd is not None
        try:
            size = os.fstat(self._fd).st_size
            data = os.pread(self._fd, size, 0)
        except OSError:
            return []
        self._written = max(self._written, size)
        return data.decode(errors="replace").splitlines()

    # --- on the loop ------------------------------------------------------------------------
    def _parse_claims(self, lines: list[str] | None) -> dict[str, int]:
        lines = lines or []
        try:
            claims = json.loads(lines[1]) if len(lines) > 1 else {}
        except ValueError:
            claims = None
        if not isinstance(claims, dict):
            self._log().warning("scheduler lock file %s: the ticks claimed before are unreadable; "
                                "a tick due before now may run again", self.path)
            return {}
        return {str(job): int(ms) for job, ms in claims.items() if isinstance(ms, int)}

    async def claim_tick(self, job_id: str, run_time: datetime, grace: int | None) -> bool:
        """Claim one tick of one job; False if a holder of this lock file claimed it already."""
        if not self.is_leader:
            return False
        ms = round(run_time.timestamp() * 1000)
        if ms <= self._claims.get(job_id, -1):
            self._log().info("job %s: the %s run already happened on another process; skipped",
                             job_id, run_time.isoformat())
            return False
        self._claims[job_id] = ms
        await self._write_state()  # on the file before the run: kill -9 after it cannot repeat it
        return self.is_leader

    def _lose(self, reason: str) -> None:
        if not self.is_leader:
            return
        self.is_leader = False
        self._log().warning("scheduler lock file lost (%s): this process stops scheduling", reason)
        self._deposed()

    def stop_campaign(self) -> None:
        self._campaigning = False

    async def stop(self, keep_while: Callable[[], bool] | None = None) -> None:
        self._campaigning = False
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self._io is None:
            return
        if self.is_leader and self._fd is not None and keep_while is not None and keep_while():
            self._log().info("scheduler lock file %s kept until the job(s) still running finish "
                             "or this process exits", self.path)
            threading.Thread(target=self._release_after, args=(keep_while,), daemon=True,
                             name="areion scheduler lock keeper").start()
            return
        # After any operation the cancelled heartbeat left in the thread.
        await self._file_io(self._release)
        self._io.shutdown(wait=False)

    def _release_after(self, keep_while: Callable[[], bool]) -> None:
        # A daemon thread: it ends with the process, and the kernel drops the lock then.
        while keep_while():
            time.sleep(0.05)
        assert self._io is not None
        self._io.submit(self._release).result()
        self._io.shutdown(wait=False)

    def _release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        _HELD.discard(fd)
        os.close(fd)  # drops the lock
        if self.is_leader:
            self.is_leader = False
            self._log().info("scheduler lock file %s released", self.path)
