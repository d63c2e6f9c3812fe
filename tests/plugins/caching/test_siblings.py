"""Invalidations between sibling processes: two real processes, real sockets, garbage ignored."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from areion_caching import cache
from areion_caching._siblings import SiblingInvalidations, decode, encode

from areion_core import HttpRequest, Router
from areion_core.testing import TestClient
from tests.plugins.caching._caching_support import build_server

ROOT = Path(__file__).resolve().parents[3]  # the peers run as tests.plugins.caching._sibling_peer
EVERYTHING = ["GET:/about", "GET:/about#vary:accept-language=de", "GET:/posts/1",
              "GET:/users/1", "GET:/users/2"]


class Peer:
    """A ``_sibling_peer`` process; both peers are children of this test, so siblings."""

    def __init__(self, runtime_dir: Path) -> None:
        env = {**os.environ, "XDG_RUNTIME_DIR": str(runtime_dir),
               "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.plugins.caching._sibling_peer"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
            cwd=ROOT, text=True,
        )
        self.pid = self.read()["ready"]

    def read(self) -> Any:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            assert self.proc.stderr is not None
            raise AssertionError(f"peer exited: {self.proc.wait(5)}\n{self.proc.stderr.read()}")
        return json.loads(line)

    def ask(self, command: str) -> Any:
        assert self.proc.stdin is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return self.read()

    def stop(self) -> str:
        """Quit; the peer's stderr (its log)."""
        assert self.ask("quit") == "closed"
        assert self.proc.wait(10) == 0
        assert self.proc.stderr is not None
        return self.proc.stderr.read()


@pytest.fixture
def runtime_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Short: an AF_UNIX path is limited to 108 bytes.
    return tmp_path_factory.mktemp("rt")


@pytest.fixture
def peers(runtime_dir: Path) -> Iterator[tuple[Peer, Peer]]:
    started: list[Peer] = []
    try:
        started.append(Peer(runtime_dir))
        started.append(Peer(runtime_dir))
        yield started[0], started[1]
    finally:
        for peer in started:
            with peer.proc:  # closes its pipes
                if peer.proc.poll() is None:
                    peer.proc.kill()


def sockets(runtime_dir: Path) -> dict[str, Path]:
    """The sockets of every group under ``runtime_dir``, by file name."""
    return {p.name: p for p in runtime_dir.glob(f"areion-cache-{os.getuid()}/*/*.sock")}


def test_invalidations_reach_the_sibling_and_garbage_is_ignored(
    runtime_dir: Path, peers: tuple[Peer, Peer]
) -> None:
    a, b = peers
    found = sockets(runtime_dir)
    assert set(found) == {f"{a.pid}-0.sock", f"{b.pid}-0.sock"}  # one group: same parent, same app
    group = found[f"{a.pid}-0.sock"].parent
    assert group.name.startswith(f"{os.getpid()}-")
    assert (group.parent.stat().st_mode & 0o777) == 0o700

    garbage = [b"", b"hello", encode("tag", "users")[:-6] + b"z", encode("key", "x")[:-1] + b"\xff",
               encode("clear", "") + b"extra", b"\x00" * 100_000]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as raw:
        for data in garbage:
            for path in found.values():
                raw.sendto(data, str(path))

    assert a.ask("invalidate tag users") == {"removed": 2}
    left = ["GET:/about", "GET:/about#vary:accept-language=de", "GET:/posts/1"]
    assert a.ask("keys") == left
    assert b.ask("keys") == left  # applied by the sibling, after the garbage

    assert a.ask("invalidate key /about") == {"removed": 2}  # the key and its Vary variant
    assert b.ask("keys") == ["GET:/posts/1"]

    assert b.ask("invalidate prefix /posts/") == {"removed": 1}  # the other way round
    assert a.ask("keys") == []

    # A process that died without removing its socket: the next sender removes it.
    stale = group / "999999999-0.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as dead:
        dead.bind(str(stale))
    assert stale.exists()
    assert a.ask("clear") == "cleared"
    assert not stale.exists()

    log_a, log_b = a.stop(), b.stop()
    for log in (log_a, log_b):
        assert log.count("ignored a malformed message") == 1, log  # once, then quietly
        assert "Traceback" not in log
    assert not group.exists()  # the last one out removed the directory


def test_the_wire_format_is_strict() -> None:
    for kind, text in (("key", "GET:/a?b=1"), ("prefix", "GET:/é"), ("tag", "users"),
                       ("clear", "")):
        assert decode(encode(kind, text)) == (kind, text)
    assert decode(encode("clear", "") + b"x") is None
    assert decode(encode("tag", "t").replace(b" t", b" q")) is None
    assert decode(b"areion") is None


def cached_app() -> Router:
    router = Router()

    @router.get("/n")
    @cache(ttl=60)
    async def n(request: HttpRequest) -> str:
        return "n"

    return router


def test_a_server_joins_at_startup_and_leaves_at_shutdown(
    runtime_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime_dir))
    with TestClient(build_server(cached_app())) as client:
        assert [p.name.split("-")[0] for p in sockets(runtime_dir).values()] == [str(os.getpid())]
        assert client.get("/n").headers["x-cache"] == "MISS"
    assert sockets(runtime_dir) == {}
    with TestClient(build_server(cached_app(), {"broadcast_invalidations": False})) as client:
        assert sockets(runtime_dir) == {}
        assert client.get("/n").headers["x-cache"] == "MISS"
    with TestClient(build_server(cached_app(), {"store": "filesystem",
                                                "path": str(runtime_dir / "fs")})) as client:
        assert sockets(runtime_dir) == {}  # shared already: nothing to send


def test_a_directory_that_is_not_private_is_refused_and_the_server_still_serves(
    runtime_dir: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime_dir))
    shared = runtime_dir / f"areion-cache-{os.getuid()}"
    shared.mkdir(mode=0o777)
    shared.chmod(0o777)
    with TestClient(build_server(cached_app())) as client:
        assert [client.get("/n").headers["x-cache"] for _ in range(2)] == ["MISS", "HIT"]
    assert "is not a directory private to this user" in caplog.text
    assert "invalidations will reach this process only" in caplog.text
    assert list(shared.iterdir()) == []


def fill(sock_path: Path) -> int:
    """Queue datagrams on ``sock_path`` until the kernel refuses more; how many it took."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sender:
        sender.setblocking(False)
        n = 0
        while True:
            try:
                sender.sendto(b"filler", str(sock_path))
            except BlockingIOError:
                return n
            n += 1


async def test_a_full_queue_is_retried_until_it_drains_then_given_up_with_a_warning(
    runtime_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    group = runtime_dir / "private" / "group"
    sender = SiblingInvalidations(str(group), lambda kind, text: None, logging.getLogger("t"))
    sender.open()
    busy = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)  # a sibling whose loop is stuck
    try:
        busy.bind(str(group / "1-0.sock"))
        assert fill(group / "1-0.sock") > 0
        publishing = asyncio.ensure_future(sender.publish("tag", "users"))
        await asyncio.sleep(0.1)
        assert not publishing.done()  # still retrying
        received = []
        busy.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            while True:
                received.append(busy.recv(100))
        assert await publishing == 1  # delivered once the loop read its queue
        received.append(busy.recv(100))
        assert decode(received[-1]) == ("tag", "users")

        fill(group / "1-0.sock")
        assert await sender.publish("tag", "users") == 0  # never drained: given up
        assert "1-0.sock did not take an invalidation within 1.0s" in caplog.text
    finally:
        busy.close()
        sender.close()
