"""Streamed request bodies under uvicorn, Hypercorn and Granian: receive() feeds request.stream(),
the route's limits hold."""

from __future__ import annotations

import contextlib
import hashlib
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
import hashlib
from areion_core import AreionServerBuilder, Router

router = Router()


@router.put("/hash", max_body_bytes=32 * 1024 * 1024)
async def hash_body(request):
    digest = hashlib.sha256()
    size = chunks = 0
    async for chunk in request.stream():
        digest.update(chunk)
        size += len(chunk)
        chunks += 1
    return {"bytes": size, "sha256": digest.hexdigest(), "chunks": chunks}


@router.post("/form", max_body_bytes=32 * 1024 * 1024)
async def form(request):
    parsed = await request.form()
    return {f.field: [f.size, hashlib.sha256(f.data).hexdigest()] for f in parsed.files}


@router.post("/small", max_body_bytes=100)
async def small(request):
    return {"bytes": len(request.body)}


asgi = (AreionServerBuilder().with_router(router).without_config_file().with_config(plugins=[])
        .with_access_log(False).build().asgi)
'''


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


_COMMANDS = {
    "uvicorn": ["uvicorn", "app:asgi", "--port", "{port}", "--no-access-log"],
    "hypercorn": ["hypercorn", "app:asgi", "--bind", "127.0.0.1:{port}"],
    "granian": ["granian", "--interface", "asgi", "app:asgi", "--port", "{port}"],
}


@pytest.fixture(scope="module", params=list(_COMMANDS))
def asgi_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The app under uvicorn, Hypercorn and Granian in turn."""
    app_dir = tmp_path_factory.mktemp("asgi_body")
    (app_dir / "app.py").write_text(APP_TEXT)
    port = _free_port()
    log = Path(app_dir / "server.log").open("wb")
    command = [part.replace("{port}", str(port)) for part in _COMMANDS[request.param]]
    proc = subprocess.Popen([sys.executable, "-m", *command],
                            cwd=app_dir, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                            env={**os.environ, "AREION_PLUGINS": "", "PYTHONPATH": str(app_dir)})
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            assert proc.poll() is None, (app_dir / "server.log").read_text()
            with contextlib.suppress(httpx.HTTPError):
                httpx.post(url + "/small", content=b"x", timeout=1)
                break
            time.sleep(0.1)
        yield url
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)
        log.close()


def test_a_body_streams_through_receive(asgi_url: str) -> None:
    data = os.urandom(8 * 1024 * 1024)
    with httpx.Client(base_url=asgi_url, timeout=30) as client:
        got = client.put("/hash", content=data).json()
        assert got["bytes"] == len(data) and got["sha256"] == hashlib.sha256(data).hexdigest()
        assert got["chunks"] > 1  # read a message at a time, not buffered whole first
        chunked = client.put("/hash", content=iter([data[:5000], data[5000:]])).json()
        assert chunked["sha256"] == hashlib.sha256(data).hexdigest()


def test_multipart_under_asgi(asgi_url: str) -> None:
    blob = os.urandom(3 * 1024 * 1024)
    with httpx.Client(base_url=asgi_url, timeout=30) as client:
        got = client.post("/form", files={"f": ("f.bin", blob)}).json()
    assert got == {"f": [len(blob), hashlib.sha256(blob).hexdigest()]}


def test_route_limits_under_asgi(asgi_url: str) -> None:
    with httpx.Client(base_url=asgi_url, timeout=30) as client:
        declared = client.put("/hash", content=b"x" * (32 * 1024 * 1024 + 1))
        assert declared.status_code == 413 and declared.headers["content-type"] == "application/problem+json"
        crossed = client.put("/hash", content=iter([b"y" * (20 * 1024 * 1024)] * 2))  # chunked, crosses 32 MiB
        assert crossed.status_code == 413 and crossed.json()["status"] == 413
        assert client.post("/small", content=b"s" * 100).json() == {"bytes": 100}
        assert client.post("/small", content=b"s" * 101).status_code == 413
        assert client.post("/small", content=iter([b"s" * 60, b"s" * 60])).status_code == 413
