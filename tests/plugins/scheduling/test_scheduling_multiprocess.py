"""Three real server processes (``areion run``) share one Redis: each tick of a job runs once,
background tasks run where they are submitted, and ``kill -9`` on the lease holder hands the
schedule to another process within one lease period without running a tick twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import redis

from tests._redis import free_port

HERE = Path(__file__).parent
ROOT = HERE.parents[2]  # the repository: the app is imported as tests.plugins.scheduling.scheduling_app
TTL = 2.0  # lease_ttl in scheduling_app.py: the period a takeover must fit in


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)


class Server:
    def __init__(self, redis_url: str, log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        env = {**os.environ, "SCHEDULING_TEST_REDIS": redis_url, "AREION_PLUGINS": "scheduling",
               "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
        with open(log, "wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "areion_core", "run", "tests.plugins.scheduling.scheduling_app:server",
                 "--port", str(self.port), "--no-access-log"],
                stdout=out, stderr=subprocess.STDOUT, env=env, cwd=HERE,
            )

    def ready(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"server exited early:\n{self.log.read_text()}")
        try:
            return httpx.get(self.url + "/remember/ping", timeout=0.5).status_code == 200
        except httpx.TransportError:
            return False


@pytest.fixture
def servers(redis_url: str, tmp_path: Path) -> Iterator[list[Server]]:
    started = [Server(redis_url, tmp_path / f"server{i}.log") for i in range(3)]
    try:
        yield started
    finally:
        for server in started:
            if server.proc.poll() is None:
                server.proc.kill()
            server.proc.wait(10)


@pytest.mark.slow
def test_three_servers_one_run_per_tick_and_a_takeover_after_kill_9(
    redis_url: str, servers: list[Server]
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
                assert server.proc.wait(10) == 0, server.log.read_text()

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
