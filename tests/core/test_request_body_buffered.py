"""Large streamed bodies read by a BufferedReceiver (server/body.py), on uvloop and on asyncio's
loop: the connection's protocol is switched for the body and back at its end, what follows the
body in the same read is parsed as usual, and every outcome of a streamed body stays."""

from __future__ import annotations

import asyncio
import hashlib
import socket
import threading

import pytest

from areion_core import HttpError, Router
from areion_core.server.body import RECV_SIZE

from ._core_support import read_all, status_of

pytestmark = pytest.mark.timeout(60)

MiB = 1024 * 1024


def _protocol_of(request) -> str:
    """The name of the protocol the connection's transport reads into now."""
    return type(request.conn.transport.get_protocol()).__name__


def _router(seen: dict[str, object], failed: threading.Event) -> Router:
    r = Router()

    @r.put("/hash", max_body_bytes=64 * MiB)
    async def hash_body(request):
        digest = hashlib.sha256()
        size = 0
        protocols = set()
        try:
            async for chunk in request.stream():
                protocols.add(_protocol_of(request))
                digest.update(chunk)
                size += len(chunk)
        except HttpError as exc:
            seen["error"] = exc.status_code
            failed.set()
            raise
        return {"bytes": size, "sha256": digest.hexdigest(), "protocols": sorted(protocols)}

    @r.put("/ignore", max_body_bytes=64 * MiB, stream_body=True)
    async def ignore(request):
        return {"ignored": True}

    @r.get("/after")
    async def after(request):
        loop = type(asyncio.get_running_loop()).__module__.split(".")[0]  # "uvloop" or "asyncio"
        return {"protocol": type(request.conn.transport.get_protocol()).__name__, "loop": loop}

    return r


@pytest.fixture(params=["uvloop", "asyncio"])
def server(request, live, monkeypatch):
    if request.param == "asyncio":
        monkeypatch.setattr("areion_core.runner.new_event_loop", asyncio.new_event_loop)
    seen: dict[str, object] = {}
    failed = threading.Event()
    srv = live(_router(seen, failed), limits={"body_timeout": 5})
    srv.seen = seen
    srv.failed = failed
    srv.loop_name = request.param
    return srv


def _connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _put(body: bytes, path: bytes = b"/hash", extra: bytes = b"") -> bytes:
    return b"PUT %s HTTP/1.1\r\nHost: t\r\n%sContent-Length: %d\r\n\r\n" % (path, extra, len(body)) + body


def _bodies(response: bytes) -> list[bytes]:
    """The bodies of the responses in ``response`` (each with a Content-Length)."""
    out = []
    while response:
        head, _, rest = response.partition(b"\r\n\r\n")
        length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
        out.append(rest[:length])
        response = rest[length:]
    return out


def test_a_large_body_is_read_by_the_receiver_and_the_next_requests_as_usual(server):
    """Two large bodies and a GET in one stream of bytes: the second request's head arrives in the
    read that ends the first body (the switch back and forth within one read)."""
    first = bytes(range(256)) * (4 * 4096 + 17)  # 4 MiB and a bit: not a multiple of any read
    # Over twice the receiver's read: it holds back (high water) until the handler reads, so
    # the handler reads while the receiver is attached whatever the timing (a body of one
    # read and a bit can be read whole before its handler starts: then it sees none of it).
    second = b"x" * (2 * RECV_SIZE + 1)
    with _connect(server.port) as sock:
        sock.sendall(_put(first) + _put(second) + b"GET /after HTTP/1.1\r\nHost: t\r\n\r\n")
        response = read_all(sock, until_close=False, expect=b'"protocol"', timeout=30)
    one, two, three = _bodies(response)
    assert b'"bytes":%d,"sha256":"%s"' % (len(first), hashlib.sha256(first).hexdigest().encode()) in one
    assert b'"bytes":%d,"sha256":"%s"' % (len(second), hashlib.sha256(second).hexdigest().encode()) in two
    # The handler read each body through the BufferedReceiver (the last chunk may come after
    # the switch back); the GET after them found the connection as its protocol again.
    assert b'"BufferedReceiver"' in one and b'"BufferedReceiver"' in two
    assert three == b'{"protocol":"HttpConnection","loop":"%s"}' % server.loop_name.encode()


def test_a_body_under_recv_size_stays_with_the_connection(server):
    body = b"y" * (RECV_SIZE - 1)
    with _connect(server.port) as sock:
        sock.sendall(_put(body))
        response = read_all(sock, until_close=False, expect=b"}", timeout=30)
    assert status_of(response) == 200
    assert b'"protocols":["HttpConnection"]' in response


def test_expect_100_continue_then_a_large_body(server):
    body = b"z" * (3 * MiB)
    with _connect(server.port) as sock:
        sock.sendall(_put(b"", extra=b"Expect: 100-continue\r\n").replace(b"Length: 0", b"Length: %d" % len(body)))
        assert read_all(sock, until_close=False, expect=b"\r\n\r\n", timeout=10) == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(body)
        response = read_all(sock, until_close=False, expect=b"}", timeout=30)
    assert status_of(response) == 200 and b'"bytes":%d' % len(body) in response


def test_an_unread_large_body_closes_the_connection_after_the_answer(server):
    """Past DRAIN_LIMIT the rest is not read to keep the connection: the answer, then the close."""
    with _connect(server.port) as sock:
        sock.sendall(_put(b"i" * (8 * MiB), path=b"/ignore"))
        response = read_all(sock, until_close=True, timeout=30)
        try:
            closed = sock.recv(1) == b""  # read_all stopped at the close, not at its timeout
        except ConnectionResetError:
            closed = True
    assert status_of(response) == 200 and b'{"ignored":true}' in response
    assert closed


def test_a_client_gone_mid_body_fails_the_handlers_read(server):
    body = b"c" * (2 * MiB)
    with _connect(server.port) as sock:
        sock.sendall(_put(body).replace(b"Length: %d" % len(body), b"Length: %d" % (8 * MiB)))
    assert server.failed.wait(10)
    assert server.seen["error"] == 400
