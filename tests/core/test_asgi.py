"""The app as an ASGI 3 callable under uvicorn, Hypercorn and Granian with several workers: lifespan once per
worker, ``root_path`` in routing and ``url_for``, a client disconnect stopping a streamed body,
and a shutdown that does not hang."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

APP_TEXT = '''
import asyncio
import os
from pathlib import Path

from areion_core import AreionServerBuilder, Router, StreamingResponse, hookimpl

MARKS = Path(__file__).with_name("marks.log")


def mark(what):
    with open(MARKS, "a") as fh:
        fh.write(f"{what} {os.getpid()}\\n")


class Lifespan:
    name = "lifespan-marks"

    @hookimpl
    def startup(self, app):
        mark("startup")

    @hookimpl
    def shutdown(self, app):
        mark("shutdown")


router = Router()


@router.get("/where", name="where")
async def where(request):
    return {"path": request.path, "url": request.app.url_for("where"), "pid": os.getpid()}


@router.get("/stream")
async def stream(request):
    async def forever():
        mark("stream-started")
        try:
            while True:
                yield b"tick\\n"
                await asyncio.sleep(0.05)
        finally:
            mark("stream-closed")
    return StreamingResponse(forever(), content_type="text/plain")


server = (AreionServerBuilder().with_router(router).without_config_file().with_config(plugins=[])
          .with_plugins(Lifespan()).with_access_log(False).build())
asgi = server.asgi
'''


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def command(server: str, port: int, workers: int, root_path: str) -> list[str]:
    """How each ASGI server is started, with ``workers`` processes and a root path."""
    if server == "uvicorn":
        cmd = ["uvicorn", "app:asgi", "--port", str(port), "--no-access-log", "--workers", str(workers)]
        return cmd + (["--root-path", root_path] if root_path else [])
    if server == "hypercorn":
        cmd = ["hypercorn", "app:asgi", "--bind", f"127.0.0.1:{port}", "--workers", str(workers)]
        return cmd + (["--root-path", root_path] if root_path else [])
    cmd = ["granian", "--interface", "asgi", "app:asgi", "--port", str(port), "--workers", str(workers)]
    return cmd + (["--url-path-prefix", root_path] if root_path else [])


class ASGIServer:
    def __init__(self, app_dir: Path, name: str, workers: int = 1, root_path: str = "") -> None:
        self.name = name
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = app_dir / f"{name}.log"
        self.marks = app_dir / "marks.log"
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", *command(name, self.port, workers, root_path)],
                cwd=app_dir, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                env={**os.environ, "AREION_PLUGINS": "", "PYTHONPATH": str(app_dir)})
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(self.log.read_text())
            with contextlib.suppress(httpx.HTTPError):
                httpx.get(self.url + "/where", timeout=1)
                if len(self.lines("startup")) >= workers:
                    return
            time.sleep(0.1)
        raise AssertionError(f"{name} did not start: " + self.log.read_text())

    def lines(self, what: str) -> list[str]:
        if not self.marks.exists():
            return []
        return [line.split()[1] for line in self.marks.read_text().splitlines() if line.split()[0] == what]

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(5)


@pytest.fixture
def app_dir(tmp_path: Path) -> Path:
    (tmp_path / "app.py").write_text(APP_TEXT)
    return tmp_path


@pytest.fixture(params=["uvicorn", "hypercorn", "granian"])
def asgi_server(request: pytest.FixtureRequest, app_dir: Path) -> Iterator:  # type: ignore[type-arg]
    started: list[ASGIServer] = []

    def start(workers: int = 1, root_path: str = "") -> ASGIServer:
        server = ASGIServer(app_dir, request.param, workers, root_path)
        started.append(server)
        return server

    yield start
    for server in started:
        server.kill()


def wait_until(predicate, timeout: float) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return bool(predicate())


def test_lifespan_runs_once_per_worker_and_shutdown_does_not_hang(asgi_server):
    server = asgi_server(workers=2)
    assert wait_until(lambda: len(server.lines("startup")) == 2, 10)
    pids: set[str] = set()
    deadline = time.monotonic() + 10
    while len(pids) < 2 and time.monotonic() < deadline:
        with httpx.Client() as client:
            pids.add(str(client.get(server.url + "/where").json()["pid"]))
    assert sorted(server.lines("startup")) == sorted(pids)  # each worker once, and only workers
    server.proc.send_signal(signal.SIGTERM)
    assert server.proc.wait(15) in (0, -signal.SIGTERM)  # some re-raise the signal once stopped
    shutdowns, startups = sorted(server.lines("shutdown")), sorted(server.lines("startup"))
    if server.name == "hypercorn":
        # Hypercorn's main process SIGTERMs the remaining workers as soon as the first one has
        # exited, which can cut another's lifespan shutdown short: never twice, at least once.
        assert shutdowns and set(shutdowns) <= set(startups) and len(set(shutdowns)) == len(shutdowns)
    else:
        assert shutdowns == startups


def test_root_path_is_honoured_by_routing_and_url_for(asgi_server):
    # The proxy strips the prefix; the server reports it in the scope's root_path (uvicorn
    # also puts it back in front of the scope's path).
    server = asgi_server(root_path="/svc")
    response = httpx.get(server.url + "/where")
    assert response.status_code == 200
    assert response.json()["path"] == "/where"
    assert response.json()["url"] == "/svc/where"
    assert httpx.get(server.url + "/nowhere").status_code == 404
    assert httpx.get(server.url + "/where/").headers["location"] == "/svc/where"  # the redirect too


def test_a_client_disconnect_closes_the_streamed_body_and_shutdown_is_prompt(asgi_server):
    server = asgi_server()
    with httpx.Client() as client, client.stream("GET", server.url + "/stream", timeout=5) as response:
        chunks = response.iter_bytes()
        assert next(chunks).startswith(b"tick")
        assert server.lines("stream-started")
    # The client is gone (the connection closed): the generator's finally must run now.
    assert wait_until(lambda: len(server.lines("stream-closed")) == 1, 5), server.log.read_text()
    started = time.monotonic()
    server.proc.send_signal(signal.SIGTERM)
    assert server.proc.wait(10) in (0, -signal.SIGTERM)  # uvicorn re-raises the signal once it has stopped
    assert time.monotonic() - started < 5
    assert len(server.lines("shutdown")) == 1  # a graceful stop: the lifespan's shutdown ran
