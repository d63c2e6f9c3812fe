"""Soak: the showcase app under a long mixed load keeps its memory, descriptors and tasks flat.

The showcase (every plugin on, memory cache store) runs as a real server process; wrk drives
a mix of its endpoints (``_soak_mix.lua``) while a slow lane posts background tasks and
reads the event stream. The load runs in segments; after each one, with no client
connected, the test samples the server's RSS and open descriptors from ``/proc`` and its
asyncio tasks from ``/__soak`` (``_soak_app.py``). After a warm-up segment, none of them may
grow: a leak of a few hundred bytes per request, one descriptor or one task shows.

Counts come from ``_budget.py``: one million requests under ``AREION_RELIABILITY=full``, a
short run in CI. ``pytest -s`` prints the figures.
"""

from __future__ import annotations

import gzip
import http.client
import itertools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.reliability._budget import budget, count

HERE = Path(__file__).parent
REPO = HERE.parent.parent
WRK = shutil.which("wrk") or "/usr/bin/wrk"

TOTAL = count(80_000, 1_000_000)  # requests sent by wrk, warm-up included
WARMUP = TOTAL // 8
SEGMENTS = 6
CONNECTIONS = 16
# Idle RSS moves by allocator noise (0.1 MB here), not with the number of requests served:
# 4 MiB is 60 bytes per request of the CI run after warm-up, 4 bytes per request of the full
# run. (Checked by planting leaks in the app: 140 bytes per request, one descriptor or one
# task per 2,000 requests all fail this test.)
RSS_TOLERANCE_KB = 4 * 1024
# gc-tracked objects, idle: caches are bounded and warmed up, so only a leak makes this grow.
OBJECT_TOLERANCE = 2_000

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not os.path.exists(WRK), reason="wrk is not installed"),
    pytest.mark.timeout(budget(120, 1800)),
]


@dataclass
class Sample:
    label: str
    requests: int
    rss_kb: int
    fds: int
    tasks: int
    threads: int
    objects: int

    def row(self) -> str:
        return (f"{self.label:>12} {self.requests:>9} {self.rss_kb / 1024:>9.1f} {self.fds:>5} "
                f"{self.tasks:>6} {self.threads:>8} {self.objects:>9}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS in /proc status")


def fd_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def get(port: int, path: str, method: str = "GET", body: bytes | None = None,
        headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    """One request on its own connection, read to the end (the server closes its side first)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, body=body, headers={"Connection": "close", **(headers or {})})
        response = conn.getresponse()
        data = response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, data
    finally:
        conn.close()


def stats(port: int) -> dict[str, int]:
    status, _, body = get(port, "/__soak")
    assert status == 200, body
    result: dict[str, int] = json.loads(body)
    return result


class Server:
    """``areion run`` of the soak app in its own process."""

    def __init__(self, tmp: Path) -> None:
        self.port = free_port()
        self.log = (tmp / "server.log").open("wb")
        # The subprocess imports `examples.showcase` from the repository root, given it through PYTHONPATH.
        env = {**os.environ, "SHOWCASE_CACHE_STORE": "memory", "PYTHONPATH": str(REPO)}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "areion_core", "run", str(HERE / "_soak_app.py") + ":server",
             "--host", "127.0.0.1", "--port", str(self.port), "--no-access-log"],
            cwd=REPO, env=env, stdout=self.log, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"server exited: {self.logtext()}"
            try:
                if get(self.port, "/json")[0] == 200:
                    return
            except OSError:
                time.sleep(0.1)
        raise AssertionError(f"server did not start: {self.logtext()}")

    def logtext(self) -> str:
        self.log.flush()
        return Path(self.log.name).read_text(errors="replace")[-4000:]

    def sample(self, label: str, requests: int, baseline: Sample | None = None) -> Sample:
        """Idle figures; waits (up to 10 s) for descriptors and tasks to come back to ``baseline``."""
        pid = self.proc.pid
        deadline = time.monotonic() + 10
        while True:
            fds = fd_count(pid)
            s = stats(self.port)
            settled = baseline is None or (fds <= baseline.fds and s["tasks"] <= baseline.tasks)
            if settled or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        return Sample(label, requests, rss_kb(pid), fds, s["tasks"], s["threads"], s["objects"])

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=40)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


class SlowLane(threading.Thread):
    """POST /tasks ten times a second and GET /stream every two seconds, checking each answer.

    These stay off wrk's connections: a task holds a pool thread for 50 ms and a stream its
    connection for half a second, so their rate must not follow wrk's.
    """

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.stop_event = threading.Event()
        self.running = threading.Event()  # cleared: the lane waits, with no request in flight
        self.running.set()
        self.idle = threading.Event()
        self.tasks = self.streams = 0
        self.failures: list[str] = []

    def pause(self) -> None:
        self.running.clear()
        assert self.idle.wait(10), "the slow lane did not pause"

    def resume(self) -> None:
        self.idle.clear()
        self.running.set()

    def run(self) -> None:
        next_stream = time.monotonic()
        while not self.stop_event.is_set():
            if not self.running.is_set():
                self.idle.set()
                self.running.wait()
                continue
            try:
                status, _, body = get(self.port, "/tasks", "POST", b"")
                if status != 200 or json.loads(body) != {"status": "submitted"}:
                    self.failures.append(f"POST /tasks: {status} {body[:200]!r}")
                self.tasks += 1
                if time.monotonic() >= next_stream:
                    next_stream += 2
                    status, headers, body = get(self.port, "/stream", headers={"Accept-Encoding": "gzip"})
                    if headers.get("content-encoding") == "gzip":
                        body = gzip.decompress(body)  # compressed chunk by chunk, one gzip stream
                    if status != 200 or headers.get("content-type", "").split(";")[0] != "text/event-stream":
                        self.failures.append(f"GET /stream: {status} {headers}")
                    elif body.count(b"data: tick") != 5:
                        self.failures.append(f"GET /stream body: {body[:200]!r}")
                    self.streams += 1
            except OSError as exc:
                self.failures.append(f"{type(exc).__name__}: {exc}")
            self.stop_event.wait(0.1)


def run_wrk(port: int, responses: int) -> dict[str, int]:
    """``responses`` answers through the mix; one wrk thread (the other core is the server's).

    wrk runs for its whole ``-d`` even when its threads stop early, so once the script says
    it has its answers, wrk is interrupted (SIGINT ends the run and prints the summary). A
    signal may land on the stopping worker thread instead of the sleeping main one, so it
    is repeated until wrk exits.
    """
    output = []
    with subprocess.Popen(
        [WRK, "-t1", f"-c{CONNECTIONS}", "-d600s", "--timeout", "10s", "-s", str(HERE / "_soak_mix.lua"),
         f"http://127.0.0.1:{port}", "--", str(responses)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    ) as proc:
        assert proc.stdout is not None
        try:
            for line in proc.stdout:
                output.append(line)
                if line.startswith("SOAK-DONE"):
                    break
            while True:
                proc.send_signal(signal.SIGINT)
                try:
                    proc.wait(timeout=0.5)
                    break
                except subprocess.TimeoutExpired:
                    continue
            output.extend(proc.stdout)
        finally:
            if proc.poll() is None:
                proc.kill()
    text = "".join(output)
    assert proc.returncode == 0, text
    line = next((ln for ln in text.splitlines() if ln.startswith("SOAK {")), None)
    assert line is not None, text
    result: dict[str, int] = json.loads(line[5:])
    return result


def test_showcase_soak_keeps_memory_descriptors_and_tasks_flat(tmp_path: Path) -> None:
    server = Server(tmp_path)
    lane = SlowLane(server.port)
    totals: dict[str, int] = {}
    samples: list[Sample] = []
    started = time.monotonic()
    try:
        lane.start()
        segment = (TOTAL - WARMUP) // SEGMENTS
        sizes = [WARMUP] + [segment] * (SEGMENTS - 1) + [TOTAL - WARMUP - segment * (SEGMENTS - 1)]
        sent = 0
        for i, size in enumerate(sizes):
            result = run_wrk(server.port, size)
            sent += result["responses"]
            for key, value in result.items():
                totals[key] = max(totals.get(key, 0), value) if key == "p99_us" else totals.get(key, 0) + value
            baseline = samples[0] if samples else None
            lane.pause()
            samples.append(server.sample("warm-up" if i == 0 else f"segment {i}", sent, baseline))
            lane.resume()
        lane.stop_event.set()
        lane.join(timeout=10)
        time.sleep(1)  # the last background tasks finish (50 ms each, four at a time)
        _, _, body = get(server.port, "/tasks")
        tasks_done = json.loads(body)["tasks_done"]
        samples.append(server.sample("idle", sent, samples[0]))
    finally:
        lane.stop_event.set()
        lane.running.set()
        server.stop()
    elapsed = time.monotonic() - started

    first, last = samples[0], samples[-1]
    print(f"\nsoak: {totals['responses']} requests from wrk in {elapsed:.1f} s "
          f"(+{lane.tasks} POST /tasks, {lane.streams} streams; {tasks_done} tasks done), "
          f"worst segment p99 {totals['p99_us'] / 1000:.1f} ms")
    print(f"      2xx {totals['s2xx']}  3xx {totals['s3xx']}  4xx {totals['s4xx']} "
          f"(404s sent {totals['sent404']})  5xx {totals['s5xx']}")
    print(f"{'':>12} {'requests':>9} {'RSS (MB)':>9} {'fds':>5} {'tasks':>6} {'threads':>8} {'objects':>9}")
    for s in samples:
        print(s.row())
    print(f"RSS growth after warm-up: {(last.rss_kb - first.rss_kb) / 1024:+.1f} MB; "
          f"objects {last.objects - first.objects:+d}")

    assert (totals["connect"], totals["read"], totals["write"], totals["timeout"]) == (0, 0, 0, 0), totals
    assert totals["s5xx"] == 0 and totals["other"] == 0, totals
    assert totals["responses"] >= TOTAL, totals
    # Every 4xx is one of the mix's deliberate 404s (a request cut off at a segment's end
    # may have been counted as sent without its answer being read).
    assert totals["sent404"] - (SEGMENTS + 1) * CONNECTIONS <= totals["s4xx"] <= totals["sent404"], totals
    assert not lane.failures, lane.failures[:5]
    assert lane.tasks > 0 and lane.streams > 0 and tasks_done > 0

    after = samples[1:]
    for s in after:
        assert s.fds == first.fds, f"descriptors grew: {first.row()} -> {s.row()}"
        assert s.tasks == first.tasks, f"asyncio tasks grew: {first.row()} -> {s.row()}"
    assert last.rss_kb - first.rss_kb < RSS_TOLERANCE_KB, f"RSS grew: {first.row()} -> {last.row()}"
    # A leak grows with every segment; allocator noise does not. Flag a rise at every step.
    rss = [s.rss_kb for s in samples]
    steps = [b - a for a, b in itertools.pairwise(rss)]
    assert not (all(step > 0 for step in steps) and rss[-1] - rss[0] > 1024), f"RSS rises steadily: {rss}"
    assert last.objects - first.objects < OBJECT_TOLERANCE, f"objects grew: {first.row()} -> {last.row()}"
