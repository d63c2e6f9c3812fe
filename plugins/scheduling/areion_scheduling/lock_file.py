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
"""

from __future__ import annotations

import asyncio
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

from .lease import Leadership

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
        self._elected: Callable[[], None] = lambda: None
        self._deposed: Callable[[], None] = lambda: None
        self.claim = self.claim_tick

    async def start(self, elected: Callable[[], None], deposed: Callable[[], None]) -> None:
        self._elected, self._deposed = elected, deposed
        self._fd = open_lock_file(self.path)  # the orchestrator turns an OSError into a ConfigError
        self._beat()  # at once, so a lone process schedules from the start
        self._task = asyncio.get_running_loop().create_task(self._heartbeat(),
                                                            name="areion scheduler lock file")

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat)
            try:
                self._beat()
            except Exception:
                self._log().exception("scheduler lock file %s: heartbeat failed", self.path)

    def _beat(self) -> None:
        if self.is_leader:
            if self._names_our_file():
                with contextlib.suppress(OSError):
                    os.utime(self.path)  # fresh, so no age-based temp cleaner removes it
                return
            self._log().warning("scheduler lock file %s was removed or replaced", self.path)
            if self._reopen() and self._try_lock():
                self._write_state()  # what we claimed, for whoever holds the new file next
            else:
                self._lose("another process locked the new lock file, or it cannot be created")
            return
        if not self._campaigning:
            return
        if not self._names_our_file() and not self._reopen():
            return
        if self._try_lock():
            self.is_leader = True
            self._claims = self._read_claims()
            self._write_state()
            self._log().info("scheduler lock file %s acquired by %s: this process runs "
                             "scheduled jobs", self.path, self.token)
            self._elected()
        elif not self._told_holder:
            self._told_holder = True
            self._log().info("scheduler lock file %s is held by another process (%s): that one "
                             "runs scheduled jobs; this one takes over if it exits", self.path,
                             self._read_token() or "unknown")

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

    def _write_state(self) -> None:
        """Line 1: who holds the lock (for the followers' log); line 2: the claimed ticks.

        One ``pwrite``, padded to cover the longest state written before (no truncation, so
        no moment at which the file holds half a state)."""
        assert self._fd is not None
        data = (f"{self.token} {' '.join(sys.argv)[:400]}\n"
                f"{json.dumps(self._claims, separators=(',', ':'))}\n").encode()
        self._written = max(self._written, len(data))
        with contextlib.suppress(OSError):
            os.pwrite(self._fd, data.ljust(self._written), 0)

    def _read_lines(self) -> list[str]:
        assert self._fd is not None
        try:
            size = os.fstat(self._fd).st_size
            self._written = size
            return os.pread(self._fd, size, 0).decode(errors="replace").splitlines()
        except OSError:
            return []

    def _read_token(self) -> str:
        lines = self._read_lines()
        return lines[0].strip() if lines else ""

    def _read_claims(self) -> dict[str, int]:
        lines = self._read_lines()
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
        self._write_state()
        return True

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
        if self._fd is None:
            return
        if self.is_leader and keep_while is not None and keep_while():
            self._log().info("scheduler lock file %s kept until the job(s) still running finish "
                             "or this process exits", self.path)
            threading.Thread(target=self._release_after, args=(keep_while,), daemon=True,
                             name="areion scheduler lock keeper").start()
            return
        self._release()

    def _release_after(self, keep_while: Callable[[], bool]) -> None:
        # A daemon thread: it ends with the process, and the kernel drops the lock then.
        while keep_while():
            time.sleep(0.05)
        self._release()

    def _release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        _HELD.discard(fd)
        os.close(fd)  # drops the lock
        if self.is_leader:
            self.is_leader = False
            self._log().info("scheduler lock file %s released", self.path)

