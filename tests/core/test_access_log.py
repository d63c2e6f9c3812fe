"""areion_core/access_log.py: fields, formats, batching, a slow destination, and no line lost at SIGTERM."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from areion_core import AreionServerBuilder, ConfigError, HttpRequest, Router, access_log
from areion_core.access_log import AccessLog
from areion_core.testing import LiveServer, TestClient

#: Part of the smoke suite run on every supported Python (scripts/smoke.sh).
pytestmark = pytest.mark.smoke


TEXT_LINE = re.compile(
    r'^(?P<client>\S+) - - \[(?P<time>\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d) \+0000\] '
    r'"(?P<method>\S+) (?P<target>.*) HTTP/(?P<version>1\.[01])" (?P<status>\d{3}) (?P<bytes>\d+) '
    r'(?P<ms>\d+\.\d{3})ms (?P<request_id>\S+)$'
)
APP = str(Path(__file__).parent / "apps" / "log_app.py") + ":server"


def router() -> Router:
    r = Router()

    @r.get("/hello")
    async def hello(request: HttpRequest) -> str:
        return "Hello, World!"

    @r.get("/tagged")
    async def tagged(request: HttpRequest) -> str:
        request.request_id = "req-42"
        return "tagged"

    @r.get("/slow")
    async def slow(request: HttpRequest) -> str:
        await asyncio.sleep(0.05)
        return "slow"

    return r


def server(path: Path, fmt: str = "text", plugins: list[str] | None = None):  # type: ignore[no-untyped-def]
    return (AreionServerBuilder().with_router(router()).without_config_file()
            .with_config(plugins=plugins or [], access_log_file=str(path), access_log_format=fmt).build())


def test_text_lines_hold_every_field(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    with LiveServer(server(log)) as live, httpx.Client(base_url=live.url) as client:
        hello = client.get("/hello?name=x")
        client.get("/tagged")
        client.get("/missing")
        client.head("/hello")
        client.get("/slow")
    lines = log.read_text().splitlines()
    assert len(lines) == 5
    fields = [TEXT_LINE.match(line) for line in lines]
    assert all(fields), lines
    first = fields[0]
    assert first["client"].startswith("127.0.0.1:") and first["method"] == "GET"
    assert first["target"] == "/hello?name=x" and first["version"] == "1.1" and first["status"] == "200"
    # bytes counts everything written for the response, its head included
    head_and_body = sum(len(f"{k}: {v}\r\n") for k, v in hello.headers.items()) + len("HTTP/1.1 200 OK\r\n\r\n")
    assert int(first["bytes"]) == head_and_body + len(hello.content)
    assert first["request_id"] == "-"
    assert fields[1]["request_id"] == "req-42"
    assert fields[2]["status"] == "404" and fields[3]["method"] == "HEAD"
    assert float(fields[4]["ms"]) >= 45.0  # the duration covers the handler's 50 ms wait (timers round to 1 ms)
    stamp = time.strptime(first["time"], "%d/%b/%Y:%H:%M:%S")
    assert abs(time.mktime(stamp) - time.mktime(time.gmtime())) < 60


def test_behind_a_trusted_proxy_the_client_is_the_one_it_names(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    app = (AreionServerBuilder().with_router(router()).without_config_file()
           .with_config(plugins=[], access_log_file=str(log), forwarded_allow_ips=["127.0.0.1"]).build())
    with LiveServer(app) as live, httpx.Client(base_url=live.url) as client:
        client.get("/hello", headers={"x-forwarded-for": "198.51.100.4, 203.0.113.7"})
        client.get("/hello")
    lines = [TEXT_LINE.match(line) for line in log.read_text().splitlines()]
    assert all(lines) and len(lines) == 2
    assert lines[0]["client"] == "203.0.113.7"  # the rightmost hop the proxy (127.0.0.1) names (no port)
    assert lines[1]["client"].startswith("127.0.0.1:")  # no header: the peer itself


def test_json_lines_hold_the_same_fields(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    with LiveServer(server(log, "json")) as live, httpx.Client(base_url=live.url) as client:
        client.get('/hello?q="quoted"')
        client.get("/tagged")
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert [set(r) for r in records] == [{"time", "client", "method", "target", "http_version", "status", "bytes",
                                          "duration_ms", "request_id"}] * 2
    first, second = records
    assert first["target"] == '/hello?q=%22quoted%22' and first["status"] == 200 and first["request_id"] is None
    assert first["client"].startswith("127.0.0.1:") and first["http_version"] == "1.1"
    assert first["bytes"] > len("Hello, World!") and first["duration_ms"] >= 0
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", first["time"])
    assert second["request_id"] == "req-42"


def test_a_target_cannot_break_out_of_its_quotes(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    with TestClient(server(log)) as client:
        # A raw quote and backslash (legal in a request target for llhttp) must not end the field.
        client.raw(b'GET /hello?a="b"\\c HTTP/1.1\r\nHost: x\r\n\r\n')
    line = log.read_text()
    assert line.count("\n") == 1
    match = TEXT_LINE.match(line.rstrip("\n"))
    assert match is not None and match["target"] == '/hello?a=\\"b\\"\\\\c'


def test_the_example_plugins_request_id_is_logged(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    app = server(log, plugins=["request_id"])
    with TestClient(app) as client:
        response = client.get("/hello")
    match = TEXT_LINE.match(log.read_text().rstrip("\n"))
    assert match is not None and match["request_id"] == response.headers["x-request-id"]


def test_lines_are_written_in_batches_not_per_request() -> None:
    # A SOCK_SEQPACKET socket keeps each write() a message of its own: reading counts the writes.
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)

    async def main() -> None:
        log = AccessLog(ours.fileno())
        log.start(asyncio.get_running_loop())
        request = HttpRequest("GET", "/x", "", [])
        for _ in range(10):
            log.record(request, 200, 10, time.perf_counter_ns())
            await asyncio.sleep(0.001)  # turns of the loop between requests
        await asyncio.sleep(0.2)  # past the flush interval
        await log.close()

    with ours, theirs:
        asyncio.run(main())
        theirs.setblocking(False)
        writes = []
        while True:
            try:
                writes.append(theirs.recv(65536))
            except BlockingIOError:
                break
    assert len(writes) == 1  # ten requests, one write
    assert writes[0].count(b"\n") == 10


def test_a_destination_that_does_not_read_never_blocks_the_loop_and_bounds_memory() -> None:
    read, write = os.pipe()  # nobody reads until the end: the writer thread blocks on a full pipe

    async def main() -> tuple[float, int]:
        log = AccessLog(write, max_pending=256 * 1024)
        log.start(asyncio.get_running_loop())
        request = HttpRequest("GET", "/" + "x" * 200, "", [])
        worst = 0.0
        for _ in range(40):
            started = time.perf_counter_ns()
            for _ in range(1000):
                log.record(request, 200, 10, started)
            worst = max(worst, (time.perf_counter_ns() - started) / 1e9)
            await asyncio.sleep(0)
        pending = log.pending
        drained = threading.Thread(target=lambda: _drain(read))
        drained.start()
        await log.close()
        drained.join(5)
        return worst, pending

    out: list[bytes] = []

    def _drain(fd: int) -> None:
        while chunk := os.read(fd, 1 << 20):
            out.append(chunk)

    try:
        worst, pending = asyncio.run(main())
        os.close(write)
    finally:
        os.close(read)
    assert worst < 1.0  # 1,000 requests' records never waited on the pipe
    assert pending <= 256 * 1024 + 512 * 300  # bounded: at most the limit plus one batch
    text = b"".join(out)
    assert re.search(rb"areion: the access log could not keep up; \d+ lines were dropped\n", text)


def test_a_json_log_stays_json_when_lines_are_dropped() -> None:
    read, write = os.pipe()  # nobody reads until the end: batches are dropped
    out: list[bytes] = []

    def drain() -> None:
        while chunk := os.read(read, 1 << 20):
            out.append(chunk)

    async def main() -> None:
        log = AccessLog(write, "json", max_pending=64 * 1024)
        log.start(asyncio.get_running_loop())
        request = HttpRequest("GET", "/" + "x" * 200, "", [])
        for _ in range(20):
            for _ in range(1000):
                log.record(request, 200, 10, time.perf_counter_ns())
            await asyncio.sleep(0)
        reader = threading.Thread(target=drain)
        reader.start()
        await asyncio.to_thread(_wait_until, lambda: not log.pending, 5.0)  # the writer catches up
        log.record(request, 200, 10, time.perf_counter_ns())  # the next batch carries the notice
        await log.close()
        os.close(write)
        reader.join(5)

    try:
        asyncio.run(main())
    finally:
        os.close(read)
    records = [json.loads(line) for line in b"".join(out).splitlines()]
    notices = [r for r in records if "message" in r]
    assert notices and all(r["level"] == "WARNING" and r["logger"] == "areion.access" for r in notices)
    assert re.fullmatch(r"the access log could not keep up; \d+ lines were dropped", notices[0]["message"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", notices[0]["time"])
    assert len(records) - len(notices) < 20_001  # some lines were dropped, and counted


def _wait_until(condition: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)


def test_the_format_is_checked_at_startup() -> None:
    with pytest.raises(ConfigError) as caught:
        AreionServerBuilder().with_router(router()).without_config_file().with_config(
            plugins=[], access_log_format="xml").build()
    assert caught.value.key == "access_log_format"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2])
def test_no_line_is_lost_at_sigterm(tmp_path: Path, workers: int) -> None:
    port = _free_port()
    err = tmp_path / "stderr.log"
    env = dict(os.environ, AREION_PLUGINS="")
    with err.open("w") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "areion_core", "run", APP, "--port", str(port), "--workers", str(workers)],
            stdout=subprocess.DEVNULL, stderr=stderr, env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/ready", timeout=1)
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, err.read_text()
                time.sleep(0.1)
        def burst(count: int) -> None:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
                for i in range(count):
                    assert client.get(f"/hit/{i}").status_code == 200

        threads = [threading.Thread(target=burst, args=(300,)) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        proc.send_signal(signal.SIGTERM)  # straight after the last answer: lines are still buffered
        assert proc.wait(20) == 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
    # Only the burst is counted: a /ready probe that timed out on a loaded machine was still
    # answered (and logged) by the server, so the probes' count is not known exactly.
    lines = [line for line in err.read_text().splitlines() if '" 200 ' in line]
    hits = [line for line in lines if '"GET /hit/' in line]
    assert len(hits) == 1200, err.read_text()[-2000:]
    assert all(sum(f'"GET /hit/{i} ' in line for line in hits) == 4 for i in (0, 150, 299))
    assert all(TEXT_LINE.match(line) for line in lines)  # whole lines, even with two workers writing


def test_behind_an_untrusted_peer_the_proxy_headers_are_ignored(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    app = (AreionServerBuilder().with_router(router()).without_config_file()
           .with_config(plugins=[], access_log_file=str(log), forwarded_allow_ips=["10.0.0.1"]).build())
    with LiveServer(app) as live, httpx.Client(base_url=live.url) as client:
        client.get("/hello", headers={"x-forwarded-for": "198.51.100.4"})
    lines = [TEXT_LINE.match(line) for line in log.read_text().splitlines()]
    assert len(lines) == 1 and lines[0] is not None
    assert lines[0]["client"].startswith("127.0.0.1:")  # the peer: 127.0.0.1 is no trusted proxy


# --- the formats against a line-by-line reference -------------------------------------------
# The formats build lines from cached pieces (a client's text, a second's time, a plain path);
# these tests hold them to what a plain one-line-at-a-time formatter writes, across seconds and
# with every kind of field, the caches warm or cold.

_WALL = 1_764_979_199 * 1_000_000_000 + 990_000_000  # 10 ms before a second (and a day) ends
_PERF = 5_000 * 1_000_000_000  # perf_counter_ns() at _WALL


def _reference_target(path: str, query: str) -> str:
    target = f"{path}?{query}" if query else path
    if '"' in target or "\\" in target or not target.isprintable():
        target = target.encode("unicode_escape").decode("ascii").replace('"', '\\"')
    return target


def _reference_text(record: tuple[Any, ...]) -> str:
    end, started, client, method, path, query, version, status, nbytes, request_id = record
    t = time.gmtime((end - _PERF + _WALL) // 1_000_000_000)
    month = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")[t.tm_mon - 1]
    who = "-" if client is None else f"{client[0]}:{client[1]}" if client[1] else client[0]
    us = (end - started + 500) // 1000
    return (f'{who} - - [{t.tm_mday:02d}/{month}/{t.tm_year}:{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} +0000] '
            f'"{method} {_reference_target(path, query)} HTTP/{version}" {status} {nbytes} '
            f'{us // 1000}.{us % 1000:03d}ms {request_id or "-"}')


def _reference_json(record: tuple[Any, ...]) -> dict[str, Any]:
    end, started, client, method, path, query, version, status, nbytes, request_id = record
    wall = end - _PERF + _WALL
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(wall // 1_000_000_000))
    who = None if client is None else f"{client[0]}:{client[1]}" if client[1] else client[0]
    us = (end - started + 500) // 1000
    return {"time": f"{stamp}.{wall // 1_000_000 % 1000:03d}Z", "client": who, "method": method,
            "target": f"{path}?{query}" if query else path, "http_version": version, "status": status,
            "bytes": nbytes, "duration_ms": us / 1000, "request_id": request_id}


def _records() -> list[tuple[Any, ...]]:
    clients = [("127.0.0.1", 50412), ("::1", 8080), ("203.0.113.7", 0), None]
    targets = [("/json", ""), ("/json", "a=1"), ('/q"x', ""), ("/back\\slash", "b"), ("/tab\tx", ""),
               ("/\u00e9t\u00e9", ""), ("/\x85", ""), ("/hello", 'a="b"\\c')]
    ids = [None, "req-42", "", 'we"ird']
    durations = [0, 114_000, 499_999, 500_000, 999_499, 999_500, 1_234_567_890, 61_000_000_000]
    out = []
    for i in range(64):
        end = _PERF + i * 400_000  # 25.6 ms in all: the batch crosses into the next second (and day)
        path, query = targets[i % len(targets)]
        out.append((end, end - durations[i % len(durations)], clients[i % len(clients)], ("GET", "HEAD")[i % 2],
                    path, query, ("1.1", "1.0")[i % 3 == 0], (200, 404, 101, 999)[i % 4],
                    (0, 152, 999, 1000, 123_456)[i % 5], ids[i % len(ids)]))
    return out


@pytest.fixture
def fixed_clocks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(time, "time_ns", lambda: _WALL)
    monkeypatch.setattr(access_log, "_perf_counter_ns", lambda: _PERF)


@pytest.mark.usefixtures("fixed_clocks")
def test_text_lines_are_those_of_a_line_by_line_formatter() -> None:
    records = _records()
    expected = [_reference_text(r) for r in records]
    assert expected[0].split("[")[1].startswith("05/Dec/2025:23:59:59") and "06/Dec/2025:00:00:00" in expected[-1]
    for _ in range(2):  # cold caches, then warm ones
        assert access_log._text_lines(records).decode().split("\n") == [*expected, ""]


@pytest.mark.usefixtures("fixed_clocks")
def test_json_lines_are_those_of_a_line_by_line_formatter() -> None:
    records = _records()
    expected = [_reference_json(r) for r in records]
    for _ in range(2):
        lines = access_log._json_lines(records).decode().split("\n")[:-1]  # not splitlines(): "\x85" is one
        assert [json.loads(line) for line in lines] == expected
        assert all(re.search(r'"duration_ms":\d+\.\d{3},', line) for line in lines)  # always three decimals


class _OwnRequest(HttpRequest):
    """A request type of an app's own: its fields are found as Python finds them."""


@pytest.mark.parametrize("kind", [HttpRequest, _OwnRequest])
@pytest.mark.parametrize("conn", [None, "namespace"])
def test_a_record_holds_the_requests_fields_whatever_its_type_and_connection(kind: type, conn: str | None) -> None:
    # Compiled, the fields of a plain HttpRequest (and of the server's own connection) are read
    # from their slots; any other request or connection type is read as Python reads it.
    from types import SimpleNamespace

    connection = SimpleNamespace(client=("192.0.2.7", 5000)) if conn else None
    request = kind("PATCH", "/items/1", "a=1", [], conn=connection, http_version="1.0")
    request.request_id = "req-1"
    log = AccessLog(os.open(os.devnull, os.O_WRONLY))
    try:
        log.record(request, 204, 17, 123)
        log.record(kind("GET", "/", "", [], conn=connection), 200, 5, 456)  # no request id
        first, second = log._records
    finally:
        os.close(log.fd)
    client = ("192.0.2.7", 5000) if conn else None
    assert first[1:] == (123, client, "PATCH", "/items/1", "a=1", "1.0", 204, 17, "req-1")
    assert second[1:] == (456, client, "GET", "/", "", "1.1", 200, 5, None)
    assert first[0] <= second[0] <= time.perf_counter_ns()


def test_a_record_of_a_request_missing_a_field_raises_as_python_would() -> None:
    request = HttpRequest.__new__(HttpRequest)  # no __init__: every slot unset
    log = AccessLog(os.open(os.devnull, os.O_WRONLY))
    try:
        with pytest.raises(AttributeError, match="conn"):
            log.record(request, 200, 0, 0)
    finally:
        os.close(log.fd)
