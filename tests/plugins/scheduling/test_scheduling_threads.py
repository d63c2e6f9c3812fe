"""``DaemonThreadPool``: an executor of bounded daemon threads, which a process can exit past."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
import threading
import time

import pytest
from areion_scheduling.threads import DaemonThreadPool

from tests.plugins.scheduling._scheduling_support import ROOT, wait_for


def test_results_exceptions_and_at_most_max_workers_threads() -> None:
    pool = DaemonThreadPool(2)
    gate = threading.Event()
    lock = threading.Lock()
    running: list[str] = []

    def work(n: int) -> int:
        with lock:
            running.append(threading.current_thread().name)
        gate.wait(5)
        if n == 3:
            raise ValueError("three")
        return n * 10

    futures = [pool.submit(work, n) for n in range(8)]
    wait_for(lambda: len(running) == 2, 5, "two calls to start")
    time.sleep(0.1)
    assert len(running) == 2  # the other six wait for one of the two threads
    threads = [t for t in threading.enumerate() if t.name in running]
    assert len(threads) == 2 and all(t.daemon for t in threads)
    gate.set()
    assert [f.result(5) for f in futures if f is not futures[3]] == [0, 10, 20, 40, 50, 60, 70]
    with pytest.raises(ValueError, match="three"):
        futures[3].result(5)
    assert set(running) == {t.name for t in threads}  # the eight calls reused the two threads
    pool.shutdown()
    assert not any(t.is_alive() for t in threads)
    with pytest.raises(RuntimeError, match="after shutdown"):
        pool.submit(work, 1)


def test_shutdown_can_drop_what_has_not_started() -> None:
    pool = DaemonThreadPool(1)
    gate = threading.Event()
    first = pool.submit(gate.wait, 5)
    queued = [pool.submit(time.sleep, 0) for _ in range(3)]
    pool.shutdown(wait=False, cancel_futures=True)
    assert all(f.cancelled() for f in queued)
    gate.set()
    assert first.result(5) is True


async def test_run_in_executor_works_with_it() -> None:
    pool = DaemonThreadPool(1)
    try:
        name = await asyncio.get_running_loop().run_in_executor(
            pool, lambda: threading.current_thread().name)
        assert name.startswith("areion-task-")
    finally:
        pool.shutdown()


def test_a_process_exits_while_a_pool_thread_still_runs() -> None:
    # The reason for the pool: ThreadPoolExecutor joins its threads at exit, so this process
    # would live for the whole minute.
    script = textwrap.dedent("""
        import time
        from areion_scheduling.threads import DaemonThreadPool

        pool = DaemonThreadPool(1)
        pool.submit(time.sleep, 60)
        time.sleep(0.1)
        print("exiting", flush=True)
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=15, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert (proc.returncode, proc.stdout) == (0, "exiting\n"), proc.stderr
