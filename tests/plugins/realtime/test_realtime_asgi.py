"""The same WebSocket routes under uvicorn (the ASGI ``websocket`` scope), with the websockets client."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from tests._redis import free_port

APP = '''
from tests.plugins.realtime._realtime_app import make_server

asgi = make_server(allowed_origins=["http://localhost:3000"]).asgi
'''
ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(params=["websockets", "wsproto"])
def uvicorn_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """uvicorn serving the test app, with each of its WebSocket implementations."""
    (tmp_path / "asgi_app.py").write_text(APP)
    port = free_port()
    log = tmp_path / "uvicorn.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "asgi_app:asgi", "--port", str(port), "--no-access-log",
             "--ws", request.param],
            cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            env={**os.environ, "AREION_PLUGINS": "", "PYTHONPATH": f"{tmp_path}{os.pathsep}{ROOT}"})
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while True:
        if proc.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(log.read_text())
        with contextlib.suppress(httpx.HTTPError):
            httpx.get(url + "/plain", timeout=1)
            break
        time.sleep(0.1)
    try:
        yield url.replace("http://", "ws://")
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(10)


def test_echo_under_uvicorn(uvicorn_url: str) -> None:
    with connect(uvicorn_url + "/ws/echo") as ws:
        ws.send("text")
        assert ws.recv(5) == "text"
        ws.send(b"\x01\x02")
        assert ws.recv(5) == b"\x01\x02"


def test_parameters_auth_and_subprotocols_under_uvicorn(uvicorn_url: str) -> None:
    with connect(uvicorn_url + "/ws/items/3?token=ok") as ws:
        assert ws.recv(5) == '{"item":3,"type":"int"}'
    with pytest.raises(InvalidStatus) as refused:
        connect(uvicorn_url + "/ws/items/3")
    assert refused.value.response.status_code == 403
    with connect(uvicorn_url + "/ws/chat", subprotocols=["chat.v2"]) as ws:
        assert ws.subprotocol == "chat.v2"
        assert ws.recv(5) == "protocol=chat.v2"


def test_origin_check_and_disconnects_under_uvicorn(uvicorn_url: str) -> None:
    with pytest.raises(InvalidStatus) as refused:
        connect(uvicorn_url + "/ws/echo", origin="http://evil.example")  # type: ignore[arg-type]
    assert refused.value.response.status_code == 403
    with connect(uvicorn_url + "/ws/echo", origin="http://localhost:3000") as ws:  # type: ignore[arg-type]
        ws.send("ok")
        assert ws.recv(5) == "ok"
    with connect(uvicorn_url + "/ws/fail") as ws:
        ws.send("go")
        with pytest.raises(ConnectionClosed):
            ws.recv(5)
        assert ws.close_code == 1011


def test_a_plain_get_is_426_under_uvicorn(uvicorn_url: str) -> None:
    response = httpx.get(uvicorn_url.replace("ws://", "http://") + "/ws/echo")
    assert response.status_code == 426
    assert response.headers["upgrade"] == "websocket"


def test_a_forwarded_channel_reaches_members_under_uvicorn(uvicorn_url: str) -> None:
    """``Subscription.forward`` under ASGI: ``try_send`` declines (the ASGI session sends only
    asynchronously), so every message goes through ``await send_text``, in order."""
    http = uvicorn_url.replace("ws://", "http://", 1)
    with connect(uvicorn_url + "/ws/room/asgi") as one, connect(uvicorn_url + "/ws/room/asgi") as two:
        assert one.recv(5) == "joined" and two.recv(5) == "joined"
        for text in ("first", "second"):
            assert httpx.post(http + "/publish/asgi", content=text.encode()).status_code == 200
        assert [one.recv(5), one.recv(5)] == ["first", "second"]
        assert [two.recv(5), two.recv(5)] == ["first", "second"]
