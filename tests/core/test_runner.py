"""Running the server: CLI, workers, signals, threads, TLS, global headers, ASGI under uvicorn."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from areion_core import AreionServerBuilder, Router
from areion_core.testing import LiveServer
from tests.core._core_support import make_server, read_all

#: Part of the smoke suite run on every supported Python (scripts/smoke.sh).
pytestmark = pytest.mark.smoke


APP = str(Path(__file__).parent / "apps" / "worker_app.py") + ":server"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _spawn(*args: str) -> tuple[subprocess.Popen[str], int]:
    port = _free_port()
    env = dict(os.environ, AREION_PLUGINS="")
    import tempfile

    log = tempfile.TemporaryFile("w+")
    # A session of its own, so that _stop can end the workers too when a test fails half-way.
    proc = subprocess.Popen([sys.executable, "-m", "areion_core", "run", APP, "--port", str(port), *args],
                            stdout=subprocess.DEVNULL, stderr=log, text=True, env=env, start_new_session=True)
    proc.log = log  # type: ignore[attr-defined]
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/pid", timeout=1).status_code == 200:
                return proc, port
        except httpx.HTTPError:
            time.sleep(0.1)
    _kill_all(proc)
    output = _output(proc)
    log.close()  # not left to the garbage collector, whose ResourceWarning would fail the next test
    raise AssertionError("server did not start: " + output)


def _output(proc: subprocess.Popen[str]) -> str:
    proc.log.seek(0)  # type: ignore[attr-defined]
    return proc.log.read()  # type: ignore[attr-defined, no-any-return]


def _kill_all(proc: subprocess.Popen[str]) -> None:
    """SIGKILL the server and every worker it started (killing the supervisor alone orphans them)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(5)


def _stop(proc: subprocess.Popen[str]) -> None:
    _kill_all(proc)
    proc.log.close()  # type: ignore[attr-defined]


def test_cli_run_announces_the_url_and_sigterm_drains_in_flight_requests():
    proc, port = _spawn()
    try:
        result: dict[str, object] = {}

        def slow_request() -> None:
            result["response"] = httpx.get(f"http://127.0.0.1:{port}/slow?s=1", timeout=10)

        t = threading.Thread(target=slow_request)
        t.start()
        time.sleep(0.3)  # the slow request is in flight
        proc.send_signal(signal.SIGTERM)
        t.join(10)
        response = result["response"]
        assert response.status_code == 200 and response.text == "finished"  # type: ignore[attr-defined]
        assert proc.wait(10) == 0
        assert f"Areion serving on http://127.0.0.1:{port}" in _output(proc)
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"http://127.0.0.1:{port}/pid", timeout=1)
    finally:
        _stop(proc)


def test_workers_share_the_port_and_a_killed_worker_is_replaced():
    proc, port = _spawn("--workers", "2")
    try:
        pids: set[int] = set()
        deadline = time.monotonic() + 10
        while len(pids) < 2 and time.monotonic() < deadline:
            with httpx.Client() as client:  # a new connection each time: the kernel spreads them
                pids.add(client.get(f"http://127.0.0.1:{port}/pid").json()["pid"])
        assert len(pids) == 2
        victim, survivor = sorted(pids)
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 10
        seen: set[int] = set()
        while time.monotonic() < deadline:
            try:
                seen.add(httpx.get(f"http://127.0.0.1:{port}/pid", timeout=2).json()["pid"])
            except httpx.HTTPError:
                pass
            if survivor in seen and seen - pids:
                break
        assert survivor in seen, "the other worker should go on serving"
        assert len(seen - pids) == 1, f"one replacement worker should be serving: {seen} after {pids}"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
    finally:
        _stop(proc)


def test_global_headers_and_server_header_switch():
    r = Router()
    r.add_route("/", lambda request: "ok", inline=True)
    server = (AreionServerBuilder().with_router(r).without_config_file().with_config(plugins=[])
              .with_global_headers({"Access-Control-Allow-Origin": "*", "X-Frame-Options": "DENY"})
              .with_server_header(False).build())
    with LiveServer(server) as live:
        response = httpx.get(live.url + "/")
        missing = httpx.get(live.url + "/nope")
    for got in (response, missing):
        assert got.headers["access-control-allow-origin"] == "*"
        assert got.headers["x-frame-options"] == "DENY"
        assert "server" not in got.headers


def test_start_in_thread_and_stop():
    r = Router()
    r.add_route("/", lambda request: "threaded", inline=True)
    server = make_server(r, port=0)
    handle = server.start_in_thread()
    try:
        assert httpx.get(handle.url + "/").text == "threaded"
    finally:
        handle.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(handle.url + "/", timeout=1)


def test_tls_with_an_ssl_context(tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
                    "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    r = Router()
    r.add_route("/", lambda request: "secure", inline=True)
    server = (AreionServerBuilder().with_router(r).without_config_file().with_config(plugins=[])
              .with_ssl(ctx).build())
    with LiveServer(server) as live:
        assert live.url.startswith("https://")
        client_ctx = ssl.create_default_context(cafile=str(cert))
        assert httpx.get(live.url + "/", verify=client_ctx).text == "secure"


def test_same_app_runs_under_uvicorn_as_asgi():
    import asyncio

    import uvicorn

    r = Router()

    @r.get("/json")
    async def json_(request):
        return {"message": "Hello, World!"}

    @r.post("/echo/:n")
    async def echo(request, n: int):
        return {"n": n, "body": request.get_parsed_body()}

    @r.get("/stream")
    async def stream(request):
        async def gen():
            yield "a"
            yield "b"
        return gen()

    server = make_server(r)
    port = _free_port()
    config = uvicorn.Config(server.asgi, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(uv.serve()), daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not uv.started and time.monotonic() < deadline:
            time.sleep(0.05)
        base = f"http://127.0.0.1:{port}"
        got = httpx.get(base + "/json")
        assert got.json() == {"message": "Hello, World!"}
        assert got.headers["content-type"] == "application/json"
        assert httpx.post(base + "/echo/3", json={"a": 1}).json() == {"n": 3, "body": {"a": 1}}
        assert httpx.get(base + "/stream").text == "ab"
        assert httpx.get(base + "/missing").status_code == 404
        assert httpx.get(base + "/echo/x").status_code == 405
    finally:
        uv.should_exit = True
        thread.join(10)


def test_reload_restarts_on_source_change(tmp_path):
    app_file = tmp_path / "reload_app.py"
    app_file.write_text(
        "from areion_core import AreionServerBuilder, Router\nr = Router()\n"
        "r.add_route('/', lambda request: 'version 1', inline=True)\n"
        "server = AreionServerBuilder().with_router(r).without_config_file().build()\n")
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "areion_core", "run", f"{app_file}:server", "--port", str(port),
                             "--reload"], cwd=tmp_path, env=dict(os.environ, AREION_PLUGINS=""),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        def get() -> str | None:
            try:
                return httpx.get(f"http://127.0.0.1:{port}/", timeout=1).text
            except httpx.HTTPError:
                return None

        deadline = time.monotonic() + 15
        while get() != "version 1" and time.monotonic() < deadline:
            time.sleep(0.1)
        assert get() == "version 1"
        time.sleep(1.1)  # a different mtime
        app_file.write_text(app_file.read_text().replace("version 1", "version 2"))
        deadline = time.monotonic() + 15
        while get() != "version 2" and time.monotonic() < deadline:
            time.sleep(0.2)
        assert get() == "version 2"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(15)


def test_origin_date_never_runs_ahead_of_the_date_being_served(monkeypatch):
    from areion_core.server import dates

    now = int(time.time())
    # Just after a second ticked over, before the server's once-a-second refresh.
    monkeypatch.setattr(dates, "_serving", (now - 1, dates.http_date(now - 1)))
    assert dates.origin_date(now + 0.3) == dates.http_date(now - 1)
    # A stale note (no server refreshing it) is not used: the clock is.
    monkeypatch.setattr(dates, "_serving", (now - 60, dates.http_date(now - 60)))
    assert dates.origin_date(now) == dates.http_date(now)
    # A time in the future (a file touched with a future mtime) becomes now.
    monkeypatch.setattr(dates, "_serving", (now, dates.http_date(now)))
    assert dates.origin_date(now + 3600) == dates.http_date(now)
    assert dates.origin_date(now - 100) == dates.http_date(now - 100)


def _drain_router() -> Router:
    r = Router()

    @r.get("/n/:i")
    async def numbered(request, i: int):
        return f"response {i}"

    @r.get("/slow")
    async def slow(request):
        await asyncio.sleep(0.4)
        return "slow done"

    return r


def _stop_in_background(handle, grace: float = 5.0) -> threading.Thread:
    t = threading.Thread(target=handle.stop, args=(grace,))
    t.start()
    return t


def test_drain_answers_a_request_on_an_idle_keep_alive_connection_during_the_linger():
    server = make_server(_drain_router(), port=0, limits={"drain_linger": 1.5})
    handle = server.start_in_thread()
    with socket.create_connection(("127.0.0.1", handle.port), timeout=5) as sock:
        sock.sendall(b"GET /n/1 HTTP/1.1\r\nHost: x\r\n\r\n")
        assert b"response 1" in read_all(sock, until_close=False, expect=b"response 1")
        stopper = _stop_in_background(handle)
        time.sleep(0.5)  # draining now; this connection is idle
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", handle.port), timeout=1).close()
        sock.sendall(b"GET /n/2 HTTP/1.1\r\nHost: x\r\n\r\n")
        out = read_all(sock, timeout=3)
    stopper.join(10)
    assert out.startswith(b"HTTP/1.1 200 OK") and out.endswith(b"response 2")
    assert b"\r\nConnection: close\r\n" in out


def test_drain_closes_idle_connections_after_the_linger():
    server = make_server(_drain_router(), port=0, limits={"drain_linger": 0.5})
    handle = server.start_in_thread()
    with socket.create_connection(("127.0.0.1", handle.port), timeout=5) as sock:
        sock.sendall(b"GET /n/1 HTTP/1.1\r\nHost: x\r\n\r\n")
        assert b"response 1" in read_all(sock, until_close=False, expect=b"response 1")
        t0 = time.monotonic()
        stopper = _stop_in_background(handle)
        assert read_all(sock, timeout=5) == b""  # closed, after the linger, without a word
        assert 0.4 < time.monotonic() - t0 < 2.0
    stopper.join(10)


def test_drain_answers_every_request_already_read_the_last_with_connection_close():
    server = make_server(_drain_router(), port=0)
    handle = server.start_in_thread()
    with socket.create_connection(("127.0.0.1", handle.port), timeout=5) as sock:
        sock.sendall(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\nGET /n/1 HTTP/1.1\r\nHost: x\r\n\r\n"
                     b"GET /n/2 HTTP/1.1\r\nHost: x\r\n\r\n")
        time.sleep(0.1)  # /slow is running, the other two are read and queued
        stopper = _stop_in_background(handle)
        out = read_all(sock, timeout=5)
    stopper.join(10)
    responses = out.split(b"HTTP/1.1 200 OK")[1:]
    assert [r.rsplit(b"\r\n\r\n", 1)[1] for r in responses] == [b"slow done", b"response 1", b"response 2"]
    assert [b"\r\nConnection: close\r\n" in r for r in responses] == [False, False, True]


def test_drain_ends_a_request_in_progress_with_connection_close():
    server = make_server(_drain_router(), port=0)
    handle = server.start_in_thread()
    with socket.create_connection(("127.0.0.1", handle.port), timeout=5) as sock:
        sock.sendall(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
        time.sleep(0.1)
        stopper = _stop_in_background(handle)
        out = read_all(sock, timeout=5)
    stopper.join(10)
    assert out.startswith(b"HTTP/1.1 200 OK") and out.endswith(b"slow done")
    assert b"\r\nConnection: close\r\n" in out
