"""The host lock file that elects one scheduler without Redis: in one process (several
orchestrators, each with its own open file, contend as processes do) and across real processes
(``kill -9`` on the holder)."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from areion_scheduling import DefaultOrchestrator, Every, scheduled_time
from areion_scheduling.lock_file import default_lock_path

from areion_core.exceptions import ConfigError
from tests.plugins.scheduling._scheduling_support import (
    ROOT,
    ServerProcess,
    make_app,
    wait_for,
    wait_until,
)

HEARTBEAT = 0.1


def locked(path: Path, **options: object) -> DefaultOrchestrator:
    return DefaultOrchestrator(lock_file=path, heartbeat=HEARTBEAT, shutdown_timeout=1,
                               **options)  # type: ignore[arg-type]


def lock_is_free(path: Path) -> bool:
    """Whether a new open file could take the lock now (released at once if so)."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)
    return True


def test_the_default_path_names_the_user_the_directory_and_the_prefix(
    private_runtime_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    here = default_lock_path("areion:scheduling:", None, cwd=str(tmp_path))
    assert here.parent == private_runtime_dir  # $XDG_RUNTIME_DIR: per user, emptied at reboot
    assert here.name.startswith(f"areion-scheduling-{os.getuid()}-") and here.suffix == ".lock"
    # Every worker of one app computes the same path; another app (directory, config file or
    # key_prefix) another one.
    assert default_lock_path("areion:scheduling:", None, cwd=str(tmp_path)) == here
    assert default_lock_path("other:", None, cwd=str(tmp_path)) != here
    assert default_lock_path("areion:scheduling:", None, cwd=str(tmp_path / "run")) != here
    assert default_lock_path("areion:scheduling:", str(tmp_path / "areion.toml"),
                             cwd=str(tmp_path)) != here
    monkeypatch.delenv("XDG_RUNTIME_DIR")
    assert default_lock_path("areion:scheduling:").parent == Path(tempfile.gettempdir())
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "missing"))
    assert default_lock_path("areion:scheduling:").parent == Path(tempfile.gettempdir())


async def test_two_processes_one_scheduler_and_a_handover_on_shutdown(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    lock = tmp_path / "scheduler.lock"
    runs: dict[str, list[float]] = {"a": [], "b": []}
    orchestrators: dict[str, DefaultOrchestrator] = {}
    with caplog.at_level(logging.INFO):
        for name in ("a", "b"):
            orch = locked(lock)
            orch.add_job(lambda n=name: runs[n].append(scheduled_time().timestamp()),
                         Every(seconds=0.05), id="shared")
            await orch.startup(make_app())
            orchestrators[name] = orch
    a, b = orchestrators["a"], orchestrators["b"]
    try:
        assert (a.is_scheduler, b.is_scheduler) == (True, False)
        assert f"is held by another process ({socket.gethostname()}:{os.getpid()} " in caplog.text
        await wait_until(lambda: len(runs["a"]) >= 3)
        await asyncio.sleep(3 * HEARTBEAT)  # b keeps trying, and keeps failing
        assert runs["b"] == [] and not b.is_scheduler
        # Background tasks run in both; the follower still lists the job.
        assert await b.submit_task(lambda: "b's task") == "b's task"
        info = b.get_job("shared")
        assert info is not None and info.next_run_time is not None
        await a.shutdown()  # releases the lock: b takes it at its next heartbeat or so
        await wait_until(lambda: b.is_scheduler, timeout=1)
        await wait_until(lambda: len(runs["b"]) >= 2)
    finally:
        await a.shutdown()
        await b.shutdown()
    assert not set(runs["a"]) & set(runs["b"])  # no tick ran in both
    assert lock_is_free(lock)


async def test_a_removed_lock_file_never_leaves_two_schedulers(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # A temp-dir cleaner removes the file: a newcomer creates and locks a new one; the old
    # holder notices on its next heartbeat and steps down instead of scheduling beside it.
    lock = tmp_path / "scheduler.lock"
    a, b = locked(lock), locked(lock)
    await a.startup(make_app())
    assert a.is_scheduler
    lock.unlink()
    try:
        with caplog.at_level(logging.WARNING):
            await b.startup(make_app())
            assert b.is_scheduler
            await wait_until(lambda: not a.is_scheduler, timeout=1)
        assert "was removed or replaced" in caplog.text
        assert "scheduler lock file lost" in caplog.text
        await asyncio.sleep(3 * HEARTBEAT)
        assert (a.is_scheduler, b.is_scheduler) == (False, True)
        await b.shutdown()
        await wait_until(lambda: a.is_scheduler, timeout=1)  # and a follows on the new file
    finally:
        await a.shutdown()
        await b.shutdown()


async def test_a_lock_file_that_cannot_be_created_stops_startup_naming_the_key(
    tmp_path: Path,
) -> None:
    orch = locked(tmp_path / "no such directory" / "scheduler.lock")
    with pytest.raises(ConfigError) as caught:
        await orch.startup(make_app())
    assert caught.value.key == "plugins.scheduling.lock_file"
    assert "a file this user can create and lock (No such file or directory)" in str(caught.value)
    assert not orch.is_scheduler


async def test_lock_file_from_config_and_from_the_default_path(
    tmp_path: Path, private_runtime_dir: Path
) -> None:
    lock = tmp_path / "from-config.lock"
    orch = DefaultOrchestrator(shutdown_timeout=1)
    await orch.startup(make_app({"lock_file": str(lock)}))
    assert orch.is_scheduler and not lock_is_free(lock)
    await orch.shutdown()
    assert lock_is_free(lock)
    orch = DefaultOrchestrator(shutdown_timeout=1)
    await orch.startup(make_app())
    default = default_lock_path("areion:scheduling:")  # the stand-in app has no config file
    assert default.parent == private_runtime_dir
    assert orch.is_scheduler and not lock_is_free(default)
    await orch.shutdown()
    assert lock_is_free(default)


async def test_the_lock_is_kept_while_a_job_abandoned_at_shutdown_runs(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    lock = tmp_path / "scheduler.lock"
    a = DefaultOrchestrator(lock_file=lock, heartbeat=HEARTBEAT, shutdown_timeout=0.2)
    release = threading.Event()
    a.add_job(lambda: release.wait(10), Every(seconds=0.05), id="stuck")
    await a.startup(make_app())
    await wait_until(lambda: a.running_jobs == ["stuck"])
    with caplog.at_level(logging.INFO):
        await a.shutdown()
    assert "job stuck is still running in a thread" in caplog.text
    assert "kept until the job(s) still running finish" in caplog.text
    b = locked(lock)
    try:
        await b.startup(make_app())
        await asyncio.sleep(5 * HEARTBEAT)
        assert not b.is_scheduler and not lock_is_free(lock)  # the stuck job still runs
        release.set()
        await wait_until(lambda: b.is_scheduler, timeout=1)
    finally:
        release.set()
        await b.shutdown()


async def test_a_stalled_disk_never_stalls_the_event_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The holder touches the file on every heartbeat and writes a claim before every tick. On
    # a disk stalled by writeback each call can block for a long while; here each one sleeps
    # STALL. The loop must go on answering meanwhile, and the ticks must still be claimed.
    stall = 0.3
    calls: list[str] = []

    def stalled(real: Any, name: str) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            if threading.current_thread() is threading.main_thread():
                calls.append(f"{name} on the loop's thread")
            time.sleep(stall)
            return real(*args, **kwargs)
        return call

    lock = tmp_path / "scheduler.lock"
    runs: list[float] = []
    orch = locked(lock)

    async def tick() -> None:
        runs.append(time.monotonic())

    orch.add_job(tick, Every(seconds=0.05), id="tick")
    await orch.startup(make_app())
    try:
        await wait_until(lambda: orch.is_scheduler and len(runs) >= 1)
        monkeypatch.setattr(os, "utime", stalled(os.utime, "utime"))
        monkeypatch.setattr(os, "pwrite", stalled(os.pwrite, "pwrite"))
        worst, last, ran_before = 0.0, time.monotonic(), len(runs)
        until = last + 8 * stall
        while last < until:
            await asyncio.sleep(0.01)
            now = time.monotonic()
            worst, last = max(worst, now - last), now
        assert calls == []
        assert worst < stall / 2, f"the loop stalled for {worst:.3f}s"
        assert len(runs) - ran_before >= 3  # ticks still claimed (each write takes STALL)
        assert orch.is_scheduler
    finally:
        monkeypatch.undo()
        await orch.shutdown()
    assert lock_is_free(lock)


def test_a_forked_child_does_not_keep_the_lock(tmp_path: Path) -> None:
    # A job that forks (multiprocessing) leaves a child that would otherwise share the lock
    # and keep it after this process is gone.
    lock = tmp_path / "scheduler.lock"
    script = textwrap.dedent(f"""
        import asyncio, logging, os, time
        from pathlib import Path
        from areion_scheduling.lock_file import LockFileLease

        async def main():
            lease = LockFileLease(Path({str(lock)!r}), 1.0, logging.getLogger)
            await lease.start(lambda: None, lambda: None)
            assert lease.is_leader
            if os.fork() == 0:
                time.sleep(30)  # the child outlives its parent
                os._exit(0)
            print("forked", flush=True)
            os._exit(0)  # the parent dies holding the lock, as with kill -9

        asyncio.run(main())
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)}, start_new_session=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline() == "forked\n"
        assert proc.wait(10) == 0
        wait_for(lambda: lock_is_free(lock), 2, "the lock to be free while the child lives")
    finally:
        with contextlib.suppress(ProcessLookupError):  # the child is in the parent's group
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()


@pytest.mark.slow
def test_kill_9_on_the_holder_hands_the_schedule_to_the_other_process(tmp_path: Path) -> None:
    heartbeat = 0.5
    lock, runs = tmp_path / "scheduler.lock", tmp_path / "runs"
    env = {"SCHEDULING_TEST_RUNS": str(runs), "SCHEDULING_TEST_LOCK": str(lock),
           "SCHEDULING_TEST_HEARTBEAT": str(heartbeat)}

    def ran() -> list[tuple[int, int]]:
        lines = runs.read_text().splitlines() if runs.exists() else []
        return [(int(ms), int(pid)) for ms, pid in (line.split() for line in lines)]

    def holder() -> int | None:
        text = lock.read_text() if lock.exists() else ""
        return int(text.split()[0].split(":")[1]) if text else None

    servers = [ServerProcess(tmp_path / "first.log", env)]
    try:
        wait_for(servers[0].ready, 20, "the first server")
        servers.append(ServerProcess(tmp_path / "second.log", env))
        first, second = servers
        wait_for(second.ready, 20, "the second server")
        wait_for(lambda: "is held by another process" in second.output(), 5, "the second to wait")
        wait_for(lambda: len(ran()) >= 3, 6, "three ticks")
        assert holder() == first.pid
        os.kill(first.pid, signal.SIGKILL)
        killed = time.monotonic()
        killed_ms = time.time() * 1000
        first.proc.wait(5)
        wait_for(lambda: holder() == second.pid, 2 * heartbeat + 2, "the second to take the lock")
        takeover = time.monotonic() - killed
        wait_for(lambda: sum(pid == second.pid for _, pid in ran()) >= 2, 5, "ticks on the second")
        assert second.terminate() == 0, second.output()
    finally:
        for server in servers:
            server.kill()
    assert takeover <= 2 * heartbeat + 0.5, takeover  # within a heartbeat or two
    ticks = ran()
    assert len({ms for ms, _ in ticks}) == len(ticks), ticks  # no tick ran twice
    assert {pid for ms, pid in ticks if ms < killed_ms - 1000} == {first.pid}
    assert {pid for ms, pid in ticks if ms > killed_ms} == {second.pid}
    assert "acquired by" in second.output()
