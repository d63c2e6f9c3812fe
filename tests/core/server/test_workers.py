"""The process tree of ``areion run``, from outside: who owns the port, what each signal does,
and that no process outlives its parent. Every test runs real processes on real sockets."""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

APP_TEXT = '''
import os
from areion_core import AreionServerBuilder, Router

VERSION = "version 1"
router = Router()


@router.get("/pid")
async def pid(request):
    return {"pid": os.getpid(), "version": VERSION}


server = (AreionServerBuilder().with_router(router).without_config_file().with_config(plugins=[])
          .with_access_log(False).build())
'''


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with contextlib.suppress(OSError), open(f"/proc/{pid}/stat") as fh:
        return fh.read().split(") ")[1][0] != "Z"  # a zombie has exited
    return True


def descendants(pid: int) -> list[int]:
    found: list[int] = []
    with contextlib.suppress(OSError), open(f"/proc/{pid}/task/{pid}/children") as fh:
        for child in map(int, fh.read().split()):
            found += [child, *descendants(child)]
    return found


def wait_until(predicate, timeout: float) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return bool(predicate())


class Served:
    """``areion run`` of the app in ``tmp_path`` (its own session, so cleanup reaches every process)."""

    def __init__(self, app_dir: Path, port: int, *args: str) -> None:
        self.port = port
        self.log = app_dir / f"server-{port}-{time.monotonic_ns()}.log"
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "areion_core", "run", str(app_dir / "app.py") + ":server",
                 "--port", str(port), *args],
                stdout=out, stderr=subprocess.STDOUT, cwd=app_dir, start_new_session=True,
                env={**os.environ, "AREION_PLUGINS": ""})

    def get(self, path: str = "/pid") -> dict[str, object] | None:
        try:
            with httpx.Client() as client:  # a new connection each time: the kernel spreads them
                return client.get(f"http://127.0.0.1:{self.port}{path}", timeout=2).json()  # type: ignore[no-any-return]
        except httpx.HTTPError:
            return None

    def wait_serving(self) -> None:
        if not wait_until(lambda: self.proc.poll() is not None or self.get() is not None, 20):
            raise AssertionError("did not start: " + self.output())
        if self.proc.poll() is not None:
            raise AssertionError(f"exited with {self.proc.returncode}: " + self.output())

    def worker_pids(self, count: int) -> set[int]:
        pids: set[int] = set()
        deadline = time.monotonic() + 15
        while len(pids) < count and time.monotonic() < deadline:
            answer = self.get()
            if answer is not None:
                pids.add(int(answer["pid"]))  # type: ignore[call-overload]
        return pids

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def kill_all(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(5)


@pytest.fixture
def app_dir(tmp_path: Path) -> Path:
    (tmp_path / "app.py").write_text(APP_TEXT)
    return tmp_path


@pytest.fixture
def serve(app_dir: Path) -> Iterator:  # type: ignore[type-arg]
    started: list[Served] = []

    def start(*args: str, port: int | None = None, wait: bool = True) -> Served:
        served = Served(app_dir, port or free_port(), *args)
        started.append(served)
        if wait:
            served.wait_serving()
        return served

    yield start
    for served in started:
        served.kill_all()


# --- the port ------------------------------------------------------------------------------------
@pytest.mark.parametrize("first", [(), ("--workers", "2")], ids=["single", "workers"])
@pytest.mark.parametrize("second", [(), ("--workers", "2")], ids=["single", "workers"])
def test_a_second_server_on_a_busy_port_fails_at_once_naming_the_address(serve, first, second):
    one = serve(*first)
    two = serve(*second, port=one.port, wait=False)
    assert two.proc.wait(15) == 1
    lines = two.output().strip().splitlines()
    assert lines == [f"areion: cannot listen on 127.0.0.1:{one.port}: the address is in use "
                     "(another process listens there)"]
    # The first one still serves every connection, and alone.
    first_pids = one.worker_pids(2 if first else 1)
    for _ in range(20):
        assert int(one.get()["pid"]) in first_pids  # type: ignore[index, call-overload]


@pytest.mark.parametrize("ours", [(), ("--workers", "2")], ids=["single", "workers"])
def test_a_port_held_by_a_foreign_so_reuseport_listener_is_refused(serve, ours):
    foreign = socket.socket()
    foreign.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    foreign.bind(("127.0.0.1", 0))
    foreign.listen()
    try:
        ours = serve(*ours, port=foreign.getsockname()[1], wait=False)
        assert ours.proc.wait(15) == 1
        assert "the address is in use" in ours.output()
    finally:
        foreign.close()


def test_a_foreign_so_reuseport_listener_joining_later_receives_no_connection(serve):
    ours = serve("--workers", "2")
    intruder = socket.socket()
    intruder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    intruder.bind(("127.0.0.1", ours.port))  # the kernel lets a same-user SO_REUSEPORT socket join...
    intruder.listen()
    intruder.setblocking(False)
    try:
        for _ in range(40):  # ...but every connection still reaches our workers
            assert ours.get() is not None
        with pytest.raises(BlockingIOError):
            intruder.accept()
    finally:
        intruder.close()


# --- signals ---------------------------------------------------------------------------------------
class Load:
    """Keep-alive clients sending requests back to back; counts answers, failures and versions."""

    def __init__(self, port: int, clients: int = 4) -> None:
        self.port = port
        self.ok = 0
        self.failures: list[str] = []
        self.versions: list[str] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._client, daemon=True) for _ in range(clients)]
        self._lock = threading.Lock()

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(10)

    def _client(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        while not self._stop.is_set():
            try:
                conn.request("GET", "/pid")
                response = conn.getresponse()
                body = response.read()
                if response.status != 200:
                    raise AssertionError(f"status {response.status}")
                version = body.split(b'"version":"')[1].split(b'"')[0].decode()
                with self._lock:
                    self.ok += 1
                    self.versions.append(version)
            except Exception as exc:  # every failure a client would see
                with self._lock:
                    self.failures.append(repr(exc))
                conn.close()
        conn.close()


def test_sighup_rolls_the_workers_onto_new_code_without_a_failed_request(serve, app_dir):
    served = serve("--workers", "2")
    before = served.worker_pids(2)
    supervisor = served.proc.pid
    with Load(served.port) as load:
        time.sleep(0.5)
        (app_dir / "app.py").write_text(APP_TEXT.replace("version 1", "version 2"))
        os.kill(supervisor, signal.SIGHUP)
        assert wait_until(lambda: "reload complete" in served.output(), 30), served.output()
        time.sleep(0.5)
    assert load.failures == []
    assert load.ok > 100
    assert load.versions[-1] == "version 2" and "version 1" in load.versions
    assert served.proc.poll() is None and served.proc.pid == supervisor
    after = served.worker_pids(2)
    assert len(after) == 2 and not after & before
    assert not any(alive(pid) for pid in before)
    assert {served.get()["version"] for _ in range(10)} == {"version 2"}  # type: ignore[index]


def test_a_reload_whose_new_code_fails_keeps_the_old_workers_serving(serve, app_dir):
    served = serve("--workers", "2")
    before = served.worker_pids(2)
    (app_dir / "app.py").write_text(APP_TEXT + "\nraise RuntimeError('broken deploy')\n")
    os.kill(served.proc.pid, signal.SIGHUP)
    assert wait_until(lambda: "reload failed" in served.output(), 30), served.output()
    assert all(alive(pid) for pid in before)
    assert {int(served.get()["pid"]) for _ in range(20)} <= before  # type: ignore[index, call-overload]


def test_sighup_to_a_single_process_server_reloads_it_in_place(serve, app_dir):
    served = serve()
    pid = served.proc.pid
    with Load(served.port, clients=2) as load:
        time.sleep(0.3)
        (app_dir / "app.py").write_text(APP_TEXT.replace("version 1", "version 2"))
        os.kill(pid, signal.SIGHUP)
        assert wait_until(lambda: bool(load.versions) and load.versions[-1] == "version 2", 20)
        time.sleep(0.3)
    assert load.failures == []
    assert served.get() == {"pid": pid, "version": "version 2"}


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_or_sigint_to_the_supervisor_stops_the_whole_tree(serve, signum):
    served = serve("--workers", "2")
    workers = served.worker_pids(2)
    os.kill(served.proc.pid, signum)
    assert served.proc.wait(10) == 0
    assert not any(alive(pid) for pid in workers)
    assert served.get() is None


def test_kill_9_of_the_supervisor_ends_every_worker_within_5_seconds(serve):
    served = serve("--workers", "2")
    workers = served.worker_pids(2)
    assert set(descendants(served.proc.pid)) >= workers
    started = time.monotonic()
    os.kill(served.proc.pid, signal.SIGKILL)
    assert wait_until(lambda: not any(alive(pid) for pid in workers), 5), \
        f"workers still alive {time.monotonic() - started:.1f} s after the supervisor died"


def test_a_worker_killed_by_someone_else_is_replaced_and_sigterm_to_a_worker_is_drained(serve):
    served = serve("--workers", "2")
    workers = served.worker_pids(2)
    victim = min(workers)
    os.kill(victim, signal.SIGTERM)
    assert wait_until(lambda: not alive(victim), 10)
    assert wait_until(lambda: len(served.worker_pids(2) - {victim}) == 2, 15)


# --- `areion run --reload`: its child never outlives it -------------------------------------------------
@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "kill-9"])
@pytest.mark.parametrize("workers", [(), ("--workers", "2")], ids=["single", "workers"])
def test_the_reload_parent_takes_its_whole_tree_with_it(serve, how, workers):
    served = serve("--reload", *workers)
    tree = descendants(served.proc.pid)
    assert len(tree) == (3 if workers else 1)
    os.kill(served.proc.pid, how)
    assert wait_until(lambda: not any(alive(pid) for pid in tree), 6), \
        f"still alive: {[pid for pid in tree if alive(pid)]}\n{served.output()}"
    assert served.get() is None
