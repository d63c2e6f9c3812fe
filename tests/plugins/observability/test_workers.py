"""Metrics across ``areion run --workers 2``: real processes, real sockets, a worker restart."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.plugins.observability._observability_support import samples, value

APP_TEXT = '''
import os
from areion_core import AreionServerBuilder, Metric, Router

router = Router()
PIDS = Metric("test_pid_answers_total", "counter", "Answers of /pid.")
STARTED = Metric("test_started_workers", "gauge", "Set by a component that starts before any plugin.")


@router.get("/pid")
async def pid(request):
    request.app.telemetry.inc(PIDS)
    return {"pid": os.getpid()}


class Orchestrator:
    """Components start before the plugins' startup hooks: its report comes first in a worker."""

    def submit_task(self, task, *args, **kwargs):
        return task(*args, **kwargs)

    def startup(self, app):
        app.telemetry.set(STARTED, 1)


METRICS_PORT = int(os.environ.get("TEST_METRICS_PORT", "0"))
server = (AreionServerBuilder().with_router(router).without_config_file().with_orchestrator(Orchestrator())
          .with_config(plugins=["observability"]).with_access_log(False)
          .with_config({"plugins": {"observability": {"metrics": {"port": METRICS_PORT}}}}).build())
'''
REQ = "areion_http_requests_total"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(predicate: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


class Workers:
    """``areion run app.py:server --workers 2`` in its own session (cleanup reaches every process)."""

    def __init__(self, app_dir: Path, metrics_port: int = 0) -> None:
        self.port = free_port()
        self.metrics_port = metrics_port
        self.log = app_dir / "server.log"
        # TMPDIR: the workers' metrics directory is made under it, and removed with tmp_path.
        env = {**os.environ, "AREION_PLUGINS": "observability", "TMPDIR": str(app_dir),
               "TEST_METRICS_PORT": str(metrics_port)}
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "areion_core", "run", str(app_dir / "app.py") + ":server",
                 "--port", str(self.port), "--workers", "2"],
                stdout=out, stderr=subprocess.STDOUT, cwd=app_dir, start_new_session=True, env=env)

    def get(self, path: str) -> httpx.Response | None:
        try:
            with httpx.Client() as client:  # a new connection each time: the kernel spreads them
                return client.get(f"http://127.0.0.1:{self.port}{path}", timeout=3)
        except httpx.HTTPError:
            return None

    def pid(self) -> int | None:
        r = self.get("/pid")
        return int(r.json()["pid"]) if r is not None and r.status_code == 200 else None

    def scrape(self) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
        if self.metrics_port:
            with httpx.Client() as client:
                r = client.get(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=3)
        else:
            r = self.get("/metrics")
        assert r is not None and r.status_code == 200, self.output()
        return samples(r.text)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(5)


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Workers]:
    (tmp_path / "app.py").write_text(APP_TEXT)
    served = Workers(tmp_path)
    try:
        assert wait_for(lambda: served.proc.poll() is not None or served.pid() is not None, 30), served.output()
        assert served.proc.poll() is None, served.output()
        yield served
    finally:
        served.stop()


def pids_answering(workers: Workers, count: int) -> dict[int, int]:
    """Send ``count`` requests to /pid, each on a new connection; requests answered per worker pid."""
    seen: dict[int, int] = {}
    for _ in range(count):
        pid = workers.pid()
        assert pid is not None, workers.output()
        seen[pid] = seen.get(pid, 0) + 1
    return seen


def test_counts_are_summed_across_workers_and_survive_a_worker_restart(workers: Workers) -> None:
    first = pids_answering(workers, 40)
    while len(first) < 2:  # the kernel picks a worker at random: make sure both served
        for pid, n in pids_answering(workers, 10).items():
            first[pid] = first.get(pid, 0) + n
    total = sum(first.values()) + 1  # the readiness probe of the fixture

    # Each worker flushes into the shared files at least once a second; a scrape sees the sum.
    assert wait_for(lambda: value(workers.scrape(), REQ, method="GET", route="/pid", status_class="2xx") == total,
                    5), (workers.scrape(), first)
    # What the app reports through app.telemetry is summed too (counters at once: no batching),
    # and a gauge set before this plugin's startup hook is in the shared files of both workers.
    scrape = workers.scrape()
    assert value(scrape, "test_pid_answers_total") == total
    assert value(scrape, "test_started_workers") == 2

    # SIGTERM one worker: it drains, the supervisor starts a replacement on its slot.
    victim = next(iter(first))
    os.kill(victim, signal.SIGTERM)
    seen: list[float] = []

    def replaced() -> bool:
        seen.append(value(workers.scrape(), REQ, method="GET", route="/pid", status_class="2xx"))
        pids = set(pids_answering(workers, 4))
        return victim not in pids and len(pids) == 2

    assert wait_for(replaced, 20), workers.output()
    # Counting /pid requests while waiting: the scrapes never saw the count go down.
    assert seen == sorted(seen) and seen[0] >= total, seen
    more = pids_answering(workers, 20)
    assert victim not in more
    expected = total + 4 * len(seen) + 20

    assert wait_for(lambda: value(workers.scrape(), REQ, method="GET", route="/pid",
                                  status_class="2xx") == expected, 5), (workers.scrape(), expected)
    # The stopped worker's live gauges left the sum: only the scrape itself is in flight, and two
    # workers (the replacement and the other) have started.
    assert wait_for(lambda: value(workers.scrape(), "areion_http_requests_in_flight") == 1, 5)
    scrape = workers.scrape()
    assert value(scrape, "test_started_workers") == 2
    assert value(scrape, "test_pid_answers_total") == expected
    assert "Traceback" not in workers.output(), workers.output()


def test_a_metrics_port_shared_by_the_workers_answers_with_their_sum(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(APP_TEXT)
    served = Workers(tmp_path, metrics_port=free_port())
    try:
        assert wait_for(lambda: served.proc.poll() is not None or served.pid() is not None, 30), served.output()
        seen = pids_answering(served, 30)
        while len(seen) < 2:
            for pid, n in pids_answering(served, 10).items():
                seen[pid] = seen.get(pid, 0) + n
        total = sum(seen.values()) + 1
        # Each scrape lands on either worker (both listen on the port); every one sees the sum.
        assert wait_for(lambda: value(served.scrape(), REQ, method="GET", route="/pid", status_class="2xx") == total,
                        5), served.output()
        for _ in range(6):
            assert value(served.scrape(), "test_pid_answers_total") == total
        missing = served.get("/metrics")
        assert missing is not None and missing.status_code == 404  # not on the app's port
    finally:
        served.stop()
