"""Real server processes: three ``areion run`` servers sharing one Redis run each tick once and
hand over after ``kill -9``; two workers under uvicorn or ``areion run --workers 2`` without
Redis run each tick once (the host's lock file); SIGTERM during a thread job that outlives
``shutdown_timeout`` ends the process anyway, says the job was abandoned, and keeps the lease."""

from __future__ import annotations

import os
import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from tests.plugins.scheduling._scheduling_support import ServerProcess, wait_for
from tests.reliability._budget import count

TTL = 2.0  # lease_ttl in scheduling_app.py: the period a takeover must fit in


def read_runs(path: Path) -> list[tuple[int, int]]:
    """The ``<tick ms> <pid>`` lines the app's ``ticker`` job appended, one per run."""
    if not path.exists():
        return []
    return [(int(ms), int(pid)) for ms, pid in
            (line.split() for line in path.read_text().splitlines() if line.strip())]


@pytest.fixture
def servers(redis_url: str, tmp_path: Path) -> Iterator[list[ServerProcess]]:
    env = {"SCHEDULING_TEST_REDIS": redis_url}
    started = [ServerProcess(tmp_path / f"server{i}.log", env) for i in range(3)]
    try:
        yield started
    finally:
        for server in started:
            server.kill()


@pytest.mark.slow
def test_three_servers_one_run_per_tick_and_a_takeover_after_kill_9(
    redis_url: str, servers: list[ServerProcess]
) -> None:
    store = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        for server in servers:
            wait_for(server.ready, 20, f"the server on port {server.port}")
        # A task submitted by a handler runs in the process that served the request.
        for server in servers:
            assert httpx.get(f"{server.url}/remember/{server.port}").json() == {
                "queued": str(server.port)}
        wait_for(lambda: store.llen("app:remembered") >= 6, 5, "the background tasks")
        remembered = set(store.lrange("app:remembered", 0, -1))
        assert {f"{s.port}:{s.proc.pid}" for s in servers} <= remembered

        wait_for(lambda: int(store.get("app:counter") or 0) >= 3, 8, "three ticks")
        holder_pid = int(store.get("app:lease").split(":")[1])
        holder = next(s for s in servers if s.proc.pid == holder_pid)
        killed_at = time.time()
        os.kill(holder_pid, signal.SIGKILL)
        holder.proc.wait(5)

        def new_holder() -> bool:
            token = store.get("app:lease")
            return token is not None and int(token.split(":")[1]) != holder_pid

        wait_for(new_holder, TTL + 2, "another server to take the lease")
        takeover = time.time() - killed_at
        successor_pid = int(store.get("app:lease").split(":")[1])
        wait_for(lambda: list(store.hgetall("app:runner").values()).count(str(successor_pid)) >= 3,
                 6, "three ticks on the new holder")
        for server in servers:
            if server is not holder:
                server.proc.send_signal(signal.SIGTERM)
        for server in servers:
            if server is not holder:
                assert server.proc.wait(10) == 0, server.output()

        runs = {int(ms): int(n) for ms, n in store.hgetall("app:runs").items()}
        runner = {int(ms): int(pid) for ms, pid in store.hgetall("app:runner").items()}
        # Once per tick, not once per process: no tick ran twice; the counter agrees.
        assert set(runs.values()) == {1}, runs
        assert int(store.get("app:counter")) == len(runs)
        ticks = sorted(runs)
        assert all(ms % 1000 == 0 for ms in ticks)
        before = [ms for ms in ticks if ms < killed_at * 1000]
        after = [ms for ms in ticks if ms > killed_at * 1000]
        assert before and {runner[ms] for ms in before} == {holder_pid}
        assert after and {runner[ms] for ms in after} == {successor_pid}
        # Consecutive seconds on each side of the kill: no tick skipped while a holder lived.
        assert before == list(range(before[0], before[-1] + 1, 1000))
        assert after == list(range(after[0], after[-1] + 1, 1000))
        # Taken over within one lease period (plus polling slack); the gap is that period.
        assert takeover <= TTL + 0.5, takeover
        assert (after[0] - before[-1]) / 1000 <= TTL + 2
        assert store.get("app:lease") is None  # released by the graceful shutdowns
    finally:
        store.close()


#: Seconds of one-second ticks watched: 4 in `make test`, 10 under `make reliability`.
WINDOW = count(4, 10)


@pytest.mark.slow
@pytest.mark.parametrize("server", ["uvicorn", "hypercorn", "granian", "areion"])
def test_two_workers_without_redis_run_each_tick_once(
    server: str, tmp_path: Path, private_runtime_dir: Path
) -> None:
    # The ASGI servers' workers all see worker_id 0; Areion's are 0 and 1. Either way the lock file
    # (at its default path: no lock_file set) lets one of them schedule.
    runs = tmp_path / "runs"
    proc = ServerProcess(tmp_path / "server.log", {"SCHEDULING_TEST_RUNS": str(runs)},
                         server=server, workers=2)
    try:
        wait_for(proc.ready, 20, "the server")
        wait_for(lambda: proc.output().count("scheduler started with") == 2, 10,
                 "both workers to start their scheduler")
        start = (int(time.time()) + 1) * 1000  # WINDOW whole seconds from the next one
        end = start + WINDOW * 1000
        wait_for(lambda: any(ms >= end for ms, _ in read_runs(runs)), WINDOW + 4, f"{WINDOW} seconds of ticks")
        assert proc.terminate() == 0, proc.output()
    finally:
        proc.kill()
    ran = read_runs(runs)
    in_window = [ms for ms, _ in ran if start <= ms < end]
    # One run per tick; a run per worker would be about twice as many.
    assert WINDOW - 1 <= len(in_window) <= WINDOW + 1, ran
    assert len({ms for ms, _ in ran}) == len(ran), ran  # no tick ran twice
    assert len({pid for ms, pid in ran if start <= ms < end}) == 1
    log = proc.output()
    assert "is held by another process" in log  # the other worker waited
    path = Path(re.findall(r"scheduler lock file (\S+) acquired by", log)[0])
    assert path.parent == private_runtime_dir
    assert path.name.startswith(f"areion-scheduling-{os.getuid()}-")


@pytest.mark.slow
def test_sigterm_during_a_thread_job_past_shutdown_timeout(redis_url: str, tmp_path: Path) -> None:
    timeout = 1.0
    store = redis.Redis.from_url(redis_url, decode_responses=True)
    proc = ServerProcess(tmp_path / "server.log", {
        "SCHEDULING_TEST_REDIS": redis_url, "SCHEDULING_TEST_SLOW": "1",
        "SCHEDULING_TEST_SHUTDOWN": str(timeout)})
    try:
        wait_for(proc.ready, 20, "the server")
        wait_for(lambda: store.llen("app:seen") >= 5, 10, "the slow job to run")
        token = store.get("app:lease")
        assert token is not None and token.split(":")[1] == str(proc.pid)
        signalled = time.monotonic()
        proc.proc.send_signal(signal.SIGTERM)
        code = proc.proc.wait(15)
        took = time.monotonic() - signalled
        # Read at once: the lease after the process is gone.
        holder_after_exit, ttl_after_exit = store.get("app:lease"), store.pttl("app:lease")
        seen = store.lrange("app:seen", 0, -1)
        wait_for(lambda: store.get("app:lease") is None, TTL + 1, "the lease to lapse")
    finally:
        proc.kill()
        store.close()
    log = proc.output()
    assert code == 0, log
    # The job sleeps for a minute in a thread; the process did not wait for it.
    assert took <= timeout + 1.5, (took, log)
    assert ("shutdown: job slow is still running in a thread after the 1s grace period; threads "
            "cannot be interrupted, so it is abandoned when the process exits") in log
    assert "cancelled job slow" not in log
    # Never released while the job ran: still held by the dead process, it lapses on its own.
    assert "scheduler lease app:lease kept until the job(s) still running finish" in log
    assert "scheduler lease app:lease released" not in log
    assert holder_after_exit == token and 0 < ttl_after_exit <= TTL * 1000
    assert seen and {entry.split(" ", 1)[1] for entry in seen} == {token}
