"""Failing dependencies: in every case the server answers, logs clearly, and recovers.

Redis is stopped, slowed and restarted under the response cache and under the scheduler; the
filesystem cache loses its disk space or its write permission; a plugin raises or hangs. The
parts are real: the server on a loopback socket, a redis-server of each test's own (stopping
it disturbs no other test), tmpfs mounts, resource limits and permissions on real
directories. Faults come from outside the code under test: SIGTERM to redis-server,
``CLIENT PAUSE``, a filled or remounted disk, a lowered ``RLIMIT_FSIZE``.

The store-level fault tests in tests/plugins/caching/test_faults.py drive the in-process
client; these add the real socket, slowness, bounds on latency, one warning per outage and
what Redis holds afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import functools
import logging
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from areion_caching import cache
from areion_scheduling import DefaultOrchestrator, Every, scheduled_time

from areion_core import AreionServerBuilder, HttpRequest, HttpResponse, Router, hookimpl
from areion_core.runner import AreionServer
from areion_core.testing import LiveServer
from tests._redis import RedisServer, free_port
from tests.reliability._budget import budget, count

HERE = Path(__file__).parent

# --- helpers ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    """One request as the client saw it."""

    sent: float  # time.monotonic() when sent
    path: str
    status: int  # 0: no HTTP answer at all
    cache: str  # the X-Cache header, "" if none
    latency: float


class Traffic:
    """Clients on their own threads and keep-alive connections, sending GETs round-robin."""

    def __init__(self, base_url: str, paths: list[str], clients: int = 2) -> None:
        self.base_url = base_url
        self.paths = paths
        self.samples: list[Sample] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(i,), daemon=True)
                         for i in range(clients)]

    def _run(self, offset: int) -> None:
        with httpx.Client(base_url=self.base_url, timeout=30) as client:
            i = offset
            while not self._stop.is_set():
                path = self.paths[i % len(self.paths)]
                sent = time.monotonic()
                try:
                    response = client.get(path)
                    status, label = response.status_code, response.headers.get("x-cache", "")
                except httpx.TransportError:
                    status, label = 0, ""
                self.samples.append(Sample(sent, path, status, label, time.monotonic() - sent))
                i += 1
                time.sleep(0.005)

    def __enter__(self) -> Traffic:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(30)

    def between(self, start: float, end: float) -> list[Sample]:
        return [s for s in list(self.samples) if start <= s.sent < end]

    def first(self, predicate: Callable[[Sample], bool], after: float, timeout: float) -> Sample:
        """The first sample sent after ``after`` that matches, waiting up to ``timeout``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for sample in list(self.samples):
                if sample.sent >= after and predicate(sample):
                    return sample
            time.sleep(0.01)
        raise AssertionError(f"no matching request within {timeout}s")


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.01)


def pause_redis(url: str, seconds: float) -> None:
    """Make Redis answer nothing for ``seconds`` (commands wait; connections stay open)."""
    client = redis.Redis.from_url(url)
    try:
        client.execute_command("CLIENT", "PAUSE", int(seconds * 1000), "ALL")
    finally:
        client.close()


def texts(caplog: pytest.LogCaptureFixture, logger: str | None = None) -> list[str]:
    return [r.getMessage() for r in caplog.records if logger is None or r.name == logger]


def cached_routes() -> Router:
    router = Router()

    @router.get("/data/:n")
    @cache(ttl=60)
    async def data(request: HttpRequest, n: int) -> dict[str, int]:
        return {"n": n}

    return router


def build(router: Router, plugins: dict[str, Any], *, orchestrator: Any = None,
          objects: tuple[Any, ...] = (), **config: Any) -> AreionServer:
    builder = (AreionServerBuilder().with_router(router).without_config_file()
               .with_config({"plugins": plugins, **config}).with_access_log(False))
    if orchestrator is not None:
        builder.with_orchestrator(orchestrator)
    if objects:
        builder.with_plugins(*objects)
    return builder.build()


# --- caching on Redis ------------------------------------------------------------------------

STORE_TIMEOUT = 0.25
RETRY_INTERVAL = 0.2
#: Longest a request may take while Redis is down or paused: one store timeout (a timeout is
#: not retried), with room for a busy machine. A store without timeouts would wait out the
#: whole pause (SLOW, twice as long).
REQUEST_BOUND = 2 * STORE_TIMEOUT + 0.5
DOWN = budget(0.8, 5.0)
SLOW = budget(2.0, 6.0)
RECOVERY = 5.0  # seconds the cache may take to serve hits again once the fault is gone


def test_cache_on_redis_that_stops_slows_and_restarts(
    own_redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    paths = [f"/data/{i}" for i in range(5)]
    server = build(cached_routes(), {"enabled": ["caching"], "caching": {
        "store": "redis", "url": own_redis.url, "store_timeout": STORE_TIMEOUT,
        "retry_interval": RETRY_INTERVAL}})
    recoveries: list[float] = []
    with contextlib.closing(redis.Redis.from_url(own_redis.url, decode_responses=True)) as store, \
            LiveServer(server) as live, Traffic(live.url, paths, count(2, 8)) as traffic:
        began = time.monotonic()
        for path in paths:
            traffic.first(lambda s, p=path: s.cache == "HIT" and s.path == p, began, RECOVERY)
        origin = f"#@http://127.0.0.1:{live.port}"  # keys hold the request's origin
        assert {f"areion:cache:k:GET:{p}{origin}" for p in paths} <= set(store.keys("areion:cache:k:*"))

        # 1. Stopped: every request after the stop misses, none fails.
        own_redis.stop()
        down_from = time.monotonic()
        time.sleep(DOWN)
        down = traffic.between(down_from, time.monotonic())
        own_redis.start()
        up_at = time.monotonic()
        recoveries.append(traffic.first(lambda s: s.cache == "HIT", up_at, RECOVERY).sent - up_at)
        assert set(store.keys("areion:cache:k:*"))  # entries are written again

        # 2. Slowed: Redis accepts commands but answers none for SLOW seconds.
        pause_redis(own_redis.url, SLOW)
        slow_from = time.monotonic()
        wall_offset = time.time() - slow_from  # log records carry wall-clock times
        time.sleep(SLOW)
        slow_until = time.monotonic()
        slow = traffic.between(slow_from, slow_until)
        recoveries.append(
            traffic.first(lambda s: s.cache == "HIT", slow_until, RECOVERY).sent - slow_until)
        time.sleep(0.2)  # some hits after recovery
    assert down and slow
    statuses = {s.status for s in traffic.samples}
    assert statuses == {200}, f"no 5xx and no dropped request at any point, got {statuses}"
    assert {s.cache for s in down} == {"MISS"}  # the cache was really gone ...
    # ... and really stalled: once a read has timed out (a MISS that took the store's timeout:
    # the store noticed the stall) and the local tier has given up its copies (its tracking
    # connection silent for two heartbeats: "invalidations lost"), every later request misses.
    # Before that, requests served from the local tier (CLIENT TRACKING: a stalled Redis takes
    # no writes, so those copies are still current) may hit, and a quick MISS is only an entry
    # not yet written again after the restart; how many of either depends on the machine's load.
    noticed = min((s for s in slow if s.cache == "MISS" and s.latency >= STORE_TIMEOUT * 0.9),
                  key=lambda s: s.sent + s.latency)
    lost = [r.created - wall_offset for r in caplog.records
            if "invalidations lost" in r.getMessage() and r.created - wall_offset >= slow_from]
    assert lost, "the local tier did not notice the stalled tracking connection"
    stalled = [s for s in slow if s.sent > max(noticed.sent + noticed.latency, lost[0])]
    assert stalled and {s.cache for s in stalled} == {"MISS"}
    worst = max(s.latency for s in down + slow)
    assert worst < REQUEST_BOUND, f"a request took {worst:.2f}s while Redis was slow or down"
    assert all(r < RECOVERY for r in recoveries)
    warnings = texts(caplog)
    # One warning when each outage begins and one when it ends, not one per request.
    assert sum("serving uncached" in m for m in warnings) == 2, warnings
    assert sum("caching resumed" in m for m in warnings) == 2, warnings


# --- scheduling on Redis ---------------------------------------------------------------------

LEASE_TTL = 1.0
FAST = 0.2  # seconds between ticks of the fast job
SLOW_JOB = 2.0  # seconds between ticks of the slow job: a quick restart and handover fit in one


@dataclass(frozen=True)
class Tick:
    server: str
    job: str
    at: datetime  # the tick (scheduled fire time) the run was for
    ran: float  # time.monotonic() when it ran


def scheduled_app(name: str, url: str, ticks: list[Tick]) -> tuple[AreionServer, DefaultOrchestrator]:
    orchestrator = DefaultOrchestrator(
        redis_url=url, key_prefix="rel:", lease_ttl=LEASE_TTL, shutdown_timeout=1,
        logger=logging.getLogger(f"scheduling.{name}"))

    def record(job: str) -> None:
        tick = scheduled_time()
        assert tick is not None
        ticks.append(Tick(name, job, tick, time.monotonic()))

    orchestrator.add_job(record, Every(seconds=FAST), args=("fast",), id="fast")
    orchestrator.add_job(record, Every(seconds=SLOW_JOB), args=("slow",), id="slow")
    router = Router()

    @router.get("/ping")
    async def ping(request: HttpRequest) -> str:
        return name

    return build(router, {"enabled": []}, orchestrator=orchestrator), orchestrator


def test_scheduler_on_redis_that_stops_slows_and_restarts(
    own_redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    ticks: list[Tick] = []
    server_a, orch_a = scheduled_app("a", own_redis.url, ticks)
    server_b, orch_b = scheduled_app("b", own_redis.url, ticks)
    outage = budget(1.5, 5.0)  # longer than the lease: the holder must step down

    def ticked_since(moment: float, job: str = "fast") -> bool:
        return any(t.ran >= moment and t.job == job for t in list(ticks))

    with LiveServer(server_a) as live_a, LiveServer(server_b) as live_b, \
            Traffic(live_a.url, ["/ping"], 1) as traffic_a, \
            Traffic(live_b.url, ["/ping"], 1) as traffic_b:
        assert orch_a.is_scheduler and not orch_b.is_scheduler
        wait_for(lambda: ticked_since(0), 3, "the first tick")

        # 1. Stopped for longer than the lease, then back.
        own_redis.stop()
        time.sleep(outage)
        assert not orch_a.is_scheduler and not orch_b.is_scheduler
        quiet_from = time.monotonic()
        time.sleep(3 * FAST)
        assert not ticked_since(quiet_from), "a tick ran while no process could claim it"
        own_redis.start()
        back = time.monotonic()
        wait_for(lambda: ticked_since(back), LEASE_TTL + 3, "ticks after Redis came back")

        # 2. Restarted (its data lost) right after a slow tick, and the lease changes hands:
        #    the new holder must not run that tick again although Redis forgot its claim.
        before = len([t for t in ticks if t.job == "slow"])
        wait_for(lambda: len([t for t in ticks if t.job == "slow"]) > before, SLOW_JOB + 3,
                 "a slow tick")
        own_redis.stop()
        own_redis.start()
        back = time.monotonic()
        wait_for(lambda: ticked_since(back), LEASE_TTL + 3, "ticks after the quick restart")
        time.sleep(SLOW_JOB + FAST)

        # 3. Paused for longer than the lease.
        pause_redis(own_redis.url, outage)
        time.sleep(outage)
        back = time.monotonic()
        wait_for(lambda: ticked_since(back), 2 * LEASE_TTL + 3, "ticks after the pause")
        wait_for(lambda: ticked_since(back, "slow"), 2 * LEASE_TTL + SLOW_JOB + 3,
                 "a slow tick after the pause")
        assert orch_a.is_scheduler != orch_b.is_scheduler  # exactly one schedules
        leader = "a" if orch_a.is_scheduler else "b"
        store = redis.Redis.from_url(own_redis.url, decode_responses=True)
        holder = store.get("rel:lease")
        last = max((t for t in ticks if t.job == "fast"), key=lambda t: t.at)
        claimed_by = store.get(f"rel:tick:fast:{round(last.at.timestamp() * 1000)}")
        store.close()
    # Redis holds the lease for the process that schedules, and each tick's claim for the
    # process that ran it (tokens as each process logged them when it took the lease).
    tokens = {name: {m.split("acquired by ", 1)[1].split(": this process")[0]
                     for m in texts(caplog, f"scheduling.{name}") if " acquired by " in m}
              for name in ("a", "b")}
    assert holder in tokens[leader] and last.server == leader and claimed_by in tokens[leader]
    # HTTP went on through every fault.
    for traffic in (traffic_a, traffic_b):
        assert traffic.samples and {s.status for s in traffic.samples} == {200}
        assert max(s.latency for s in traffic.samples) < 1.0
    # No tick ran twice, on one process or across both.
    runs = [(t.job, t.at) for t in ticks]
    doubled = {run for run in runs if runs.count(run) > 1}
    assert not doubled, f"ticks run twice: {sorted(doubled)}"
    # The tick that ran just before the quick restart was skipped, and the log says why.
    assert any("Redis started after it was due" in m for m in texts(caplog))
    # Each process said clearly what happened, once per outage rather than once per beat.
    for name in ("a", "b"):
        logged = texts(caplog, f"scheduling.{name}")
        unreachable = [m for m in logged if m.startswith("scheduler lease: Redis at")]
        assert 1 <= len(unreachable) <= 3, logged
        assert "scheduler lease: Redis reachable again" in logged
    assert any(m.startswith("scheduler lease lost") for m in texts(caplog))


# --- the filesystem store on a full or read-only disk ----------------------------------------


class CacheServer:
    """``areion run _cache_app:server`` in a subprocess, its log read from a pipe.

    A pipe, not a file: with RLIMIT_FSIZE lowered the process could not write a log file.
    """

    def __init__(self, cache_path: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # The subprocess imports the app as the top-level module `_cache_app`, found through PYTHONPATH.
        env = {**os.environ, "CACHE_TEST_PATH": str(cache_path), "AREION_PLUGINS": "caching",
               "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "areion_core", "run", "_cache_app:server",
             "--port", str(self.port), "--no-access-log"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd=HERE, text=True)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        wait_for(self._ready, 30, "the cache server to start")

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))

    def _ready(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError("the cache server exited:\n" + "\n".join(self.lines))
        try:
            return httpx.get(self.url + "/data/999", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._reader.join(5)
        assert self.proc.stderr is not None
        self.proc.stderr.close()


@functools.cache
def tmpfs_works() -> bool:
    """Whether this process may mount a tmpfs (root, with mount(8) allowed here)."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    with tempfile.TemporaryDirectory() as probe:
        if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", probe],
                          capture_output=True).returncode != 0:
            return False
        subprocess.run(["umount", probe], check=True)
    return True



@contextlib.contextmanager
def tmpfs(size: str = "256k") -> Iterator[Path]:
    """A small tmpfs mounted on a fresh directory, always unmounted afterwards."""
    root = Path(tempfile.mkdtemp(prefix="areion-disk-"))
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(root)],
                   check=True)
    try:
        yield root
    finally:
        if subprocess.run(["umount", str(root)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(root)], check=False)
        root.rmdir()


class Fault:
    """Something done to the cache's disk from outside the server, and undone."""

    error = ""  # what the warning names (the OS error's text)

    def inflict(self, server: CacheServer) -> None:
        raise NotImplementedError

    def clear(self, server: CacheServer) -> None:
        raise NotImplementedError


class FillTmpfs(Fault):
    error = "No space left on device"

    def __init__(self, root: Path) -> None:
        self.filler = root / "filler"

    def inflict(self, server: CacheServer) -> None:
        fd = os.open(self.filler, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            while True:
                os.write(fd, b"\0" * 4096)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
        finally:
            os.close(fd)

    def clear(self, server: CacheServer) -> None:
        self.filler.unlink()


class LowerFileSizeLimit(Fault):
    """The server process may not grow any file past 0 bytes: every write fails with EFBIG."""

    error = "File too large"

    def inflict(self, server: CacheServer) -> None:
        resource.prlimit(server.proc.pid, resource.RLIMIT_FSIZE, (0, resource.RLIM_INFINITY))

    def clear(self, server: CacheServer) -> None:
        resource.prlimit(server.proc.pid, resource.RLIMIT_FSIZE,
                         (resource.RLIM_INFINITY, resource.RLIM_INFINITY))


class RemountReadOnly(Fault):
    error = "Read-only file system"

    def __init__(self, root: Path) -> None:
        self.root = root

    def inflict(self, server: CacheServer) -> None:
        subprocess.run(["mount", "-o", "remount,ro", str(self.root)], check=True)

    def clear(self, server: CacheServer) -> None:
        subprocess.run(["mount", "-o", "remount,rw", str(self.root)], check=True)


class ChmodReadOnly(Fault):
    """Every directory of the cache 0o555 (works only when not root: root ignores modes)."""

    error = "Permission denied"

    def __init__(self, cache_path: Path) -> None:
        self.cache_path = cache_path

    def _dirs(self) -> list[Path]:
        return [self.cache_path, *(p for p in self.cache_path.rglob("*") if p.is_dir())]

    def inflict(self, server: CacheServer) -> None:
        for path in self._dirs():
            path.chmod(0o555)

    def clear(self, server: CacheServer) -> None:
        for path in self._dirs():
            path.chmod(0o700)


def exercise_disk_fault(cache_path: Path, make_fault: Callable[[], Fault]) -> None:
    """Warm the cache, break the disk, check answers and logs, mend it, check caching resumes."""
    server = CacheServer(cache_path)
    try:
        fault = make_fault()
        with httpx.Client(base_url=server.url, timeout=10) as client:
            assert client.get("/data/0").headers["x-cache"] == "MISS"
            assert client.get("/data/0").headers["x-cache"] == "HIT"
            fault.inflict(server)
            # Long enough for the store to be retried (every 0.2 s) a few times meanwhile.
            until, n, least = time.monotonic() + budget(1.0, 5.0), 0, count(5, 50)
            while n < least or time.monotonic() < until:
                n += 1
                first, again = client.get(f"/data/{n}"), client.get(f"/data/{n}")
                assert (first.status_code, again.status_code) == (200, 200)
                assert (first.headers["x-cache"], again.headers["x-cache"]) == ("MISS", "MISS")
                assert again.json()["run"] > first.json()["run"]  # the handler ran again
                time.sleep(0.02)
            # What was stored before the fault is still served from the cache.
            assert client.get("/data/0").headers["x-cache"] == "HIT"
            fault.clear(server)
            cleared_at = time.monotonic()
            wait_for(lambda: client.get("/data/1").headers["x-cache"] == "HIT", RECOVERY,
                     "caching to resume")
            assert time.monotonic() - cleared_at < RECOVERY
        warnings = [line for line in server.lines if "WARNING" in line]
        failed = [line for line in warnings if "serving uncached" in line]
        assert len(failed) == 1 and fault.error in failed[0], warnings
        assert sum("caching resumed" in line for line in warnings) == 1, warnings
    finally:
        server.close()


def test_filesystem_store_on_a_full_disk(tmp_path: Path) -> None:
    if tmpfs_works():
        with tmpfs() as root:
            exercise_disk_fault(root / "cache", lambda: FillTmpfs(root))
    else:  # no tmpfs without root: take the space away from the server process alone
        exercise_disk_fault(tmp_path / "cache", LowerFileSizeLimit)


def test_filesystem_store_on_a_read_only_disk(tmp_path: Path) -> None:
    if tmpfs_works():
        with tmpfs() as root:
            exercise_disk_fault(root / "cache", lambda: RemountReadOnly(root))
    elif os.geteuid() != 0:
        exercise_disk_fault(tmp_path / "cache", lambda: ChmodReadOnly(tmp_path / "cache"))
    else:
        pytest.skip("root without mount(8): neither tmpfs nor file modes can make a directory "
                    "read-only for this process")


# --- plugins that raise or hang --------------------------------------------------------------

HOOK_TIMEOUT = 0.3


class Flaky:
    """Raises or hangs in one hook on /flaky while told to; otherwise passes everything on."""

    name = "flaky"

    def __init__(self, hook: str) -> None:
        self.hook = hook
        self.mode = "behave"

    async def _act(self, hook: str, request: Any) -> None:
        if hook != self.hook or request.path != "/flaky":
            return
        if self.mode == "raise":
            raise RuntimeError("flaky plugin broke")
        if self.mode == "hang":
            await asyncio.Event().wait()

    @hookimpl
    async def request_received(self, request: Any) -> None:
        await self._act("request_received", request)

    @hookimpl
    async def response_ready(self, request: Any, response: HttpResponse) -> None:
        await self._act("response_ready", request)


@pytest.mark.parametrize("hook", ["request_received", "response_ready"])
def test_a_plugin_that_raises_then_hangs_then_behaves(
    hook: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR)
    plugin = Flaky(hook)
    router = Router()

    @router.get("/flaky")
    async def flaky(request: HttpRequest) -> str:
        return "flaky route"

    @router.get("/steady")
    async def steady(request: HttpRequest) -> str:
        return "steady route"

    server = build(router, {"enabled": []}, objects=(plugin,), hook_timeout=HOOK_TIMEOUT)
    rounds = count(3, 30)
    with LiveServer(server) as live, Traffic(live.url, ["/steady"], 1) as steady_traffic, \
            httpx.Client(base_url=live.url, timeout=10) as client:
        for mode in ("raise", "hang", "behave", "hang", "behave"):
            plugin.mode = mode
            for _ in range(rounds):
                sent = time.monotonic()
                response = client.get("/flaky")
                took = time.monotonic() - sent
                if mode == "behave":
                    assert (response.status_code, response.text) == (200, "flaky route")
                else:
                    assert response.status_code == 500
                    assert response.json() == {"type": "about:blank", "title": "Internal Server Error",
                                               "status": 500, "detail": "Internal Server Error",
                                               "error": "Internal Server Error"}
                if mode == "hang":
                    assert HOOK_TIMEOUT * 0.9 <= took < HOOK_TIMEOUT + 2.0
    # The other route never noticed, not even while a request hung on the same server.
    assert steady_traffic.samples and {s.status for s in steady_traffic.samples} == {200}
    assert max(s.latency for s in steady_traffic.samples) < HOOK_TIMEOUT
    failures = [r for r in caplog.records if r.getMessage() ==
                f"plugin 'flaky' failed in {hook} for GET /flaky"]
    causes = [type(r.exc_info[1]).__name__ for r in failures if r.exc_info]
    assert causes.count("RuntimeError") == rounds  # one clear line per failed request
    assert causes.count("HookTimeout") == 2 * rounds
    assert all("/steady" not in r.getMessage() for r in caplog.records)
