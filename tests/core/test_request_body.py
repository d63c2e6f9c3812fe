"""Streamed request bodies on the real server: request.stream() as bytes arrive, back-pressure,
per-route limits (413 before the body / mid-chunked), keep-alive after an unread body,
Expect: 100-continue, pipelining, and the errors of reading a body twice."""

from __future__ import annotations

import hashlib
import socket
import threading
import time

import httpx
import pytest

from areion_core import Router
from areion_core.server.body import HIGH_WATER, RECV_SIZE

from ._core_support import exchange, read_all, status_of

pytestmark = pytest.mark.timeout(60)

MiB = 1024 * 1024


def _router(events: dict[str, threading.Event], seen: dict[str, object]) -> Router:
    r = Router()

    @r.put("/hash", max_body_bytes=64 * MiB)
    async def hash_body(request):
        digest = hashlib.sha256()
        size = 0
        async for chunk in request.stream():
            if size == 0:
                events["first_chunk"].set()
            digest.update(chunk)
            size += len(chunk)
        return {"bytes": size, "sha256": digest.hexdigest()}

    @r.put("/slow", max_body_bytes=256 * MiB)
    async def slow(request):
        import asyncio

        await asyncio.sleep(1.0)  # the client sends meanwhile: the server must stop reading
        size = 0
        peak = 0
        source = request._source  # the BodyStream: how much the server holds unread
        async for chunk in request.stream():
            peak = max(peak, source.buffered + len(chunk))
            size += len(chunk)
            await asyncio.sleep(0)
        seen["peak"] = peak
        return {"bytes": size}

    @r.post("/small", max_body_bytes=1000)
    async def small(request):
        return {"bytes": len(await request.body())}

    @r.post("/big", max_body_bytes=5000)
    async def big(request):  # buffered, but with a limit above the server's
        return {"bytes": len(request.body)}

    @r.post("/default")
    async def default(request):
        return {"bytes": len(request.body)}

    @r.post("/ignore")
    async def ignore(request):
        """Streams (it names stream()), but answers without reading."""
        if request.query_params.get("read"):
            return {"bytes": sum([len(c) async for c in request.stream()])}
        return {"ignored": True}

    @r.post("/ignore-big", max_body_bytes=MiB, stream_body=True)
    async def ignore_big(request):
        return {"ignored": True}

    @r.post("/twice")
    async def twice(request):
        first = [c async for c in request.stream()]
        try:
            await request.body()
        except RuntimeError as exc:
            return {"chunks": len(first), "error": str(exc)}
        return {"error": None}

    @r.post("/whole", stream_body=True)
    async def whole(request):
        body = await request.body()
        return {"bytes": len(body), "same": body == request.body, "json": await request.json()}

    return r


@pytest.fixture
def server(live):
    events = {"first_chunk": threading.Event()}
    seen: dict[str, object] = {}
    srv = live(_router(events, seen), limits={"max_body_bytes": 2000, "body_timeout": 2})
    srv.events = events
    srv.seen = seen
    return srv


def _connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def test_the_handler_reads_the_body_as_it_arrives(server):
    with _connect(server.port) as sock:
        sock.sendall(b"PUT /hash HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nhello")
        # The handler has its first chunk while half the body is still to come.
        assert server.events["first_chunk"].wait(5)
        sock.sendall(b"world")
        response = read_all(sock, until_close=False, expect=b"}")
    assert status_of(response) == 200
    assert hashlib.sha256(b"helloworld").hexdigest().encode() in response


def test_large_and_chunked_bodies_stream_whole(server):
    data = bytes(range(256)) * (12 * 4096)  # 12 MiB, over the server's 2000-byte default
    with httpx.Client(base_url=server.url, timeout=30) as client:
        got = client.put("/hash", content=data)
        assert got.json() == {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}

        def pieces():
            for i in range(0, len(data), 300_000):
                yield data[i:i + 300_000]
        chunked = client.put("/hash", content=pieces())  # Transfer-Encoding: chunked
        assert chunked.json() == {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_slow_handler_holds_back_the_client(server, chunked):
    """While the handler does not read, the server stops reading: what it holds stays bounded.

    A large Content-Length body is read 1 MiB at a time (a BufferedReceiver), pausing past
    RECV_SIZE unread bytes; a chunked one in the loop's reads, pausing past HIGH_WATER."""
    total = 64 * MiB
    sent = [0]

    def send_all(sock: socket.socket) -> None:
        block = b"z" * MiB
        if chunked:
            sock.sendall(b"PUT /slow HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n")
            block = b"%x\r\n%s\r\n" % (len(block), block)
        else:
            sock.sendall(b"PUT /slow HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % total)
        for _ in range(total // MiB):
            sock.sendall(block)
            sent[0] += MiB
        if chunked:
            sock.sendall(b"0\r\n\r\n")

    with _connect(server.port) as sock:
        sock.settimeout(30)
        sender = threading.Thread(target=send_all, args=(sock,))
        sender.start()
        time.sleep(0.7)
        # The handler sleeps for 1 s: the client got only as far as the socket buffers allow.
        assert sent[0] < total // 2
        sender.join(30)
        response = read_all(sock, until_close=False, expect=b"}", timeout=30)
    assert status_of(response) == 200 and b'"bytes":%d' % total in response
    if chunked:
        assert server.seen["peak"] <= HIGH_WATER + 2 * 256 * 1024  # HIGH_WATER plus a read or two
    else:
        assert server.seen["peak"] <= 2 * RECV_SIZE  # RECV_SIZE unread plus one read


def test_content_length_over_the_route_limit_is_413_before_the_body(server):
    # No body byte is sent: the answer cannot have waited for it.
    response = exchange(server.port, b"POST /small HTTP/1.1\r\nHost: t\r\nContent-Length: 1001\r\n\r\n",
                        timeout=3)
    assert status_of(response) == 413 and b"application/problem+json" in response
    assert b"Connection: close" in response
    # With Expect: 100-continue the client is refused without a 100 Continue.
    response = exchange(server.port, b"PUT /hash HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\n"
                                     b"Content-Length: %d\r\n\r\n" % (64 * MiB + 1), timeout=3)
    assert status_of(response) == 413 and b"100 Continue" not in response


def test_chunked_body_over_the_limit_is_413_once_crossed(server):
    with _connect(server.port) as sock:
        sock.sendall(b"PUT /hash HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n")
        block = b"%x\r\n" % MiB + b"a" * MiB + b"\r\n"
        status = None
        for _ in range(80):  # 80 MiB would be sent; the limit is 64 MiB
            try:
                sock.sendall(block)
            except (BrokenPipeError, ConnectionResetError):
                break
        response = read_all(sock, timeout=5)
        status = status_of(response)
    assert status == 413 and b'"status":413' in response


def test_per_route_limits_both_ways(server):
    with httpx.Client(base_url=server.url, timeout=10) as client:
        assert client.post("/big", content=b"b" * 4000).json() == {"bytes": 4000}  # above the server's 2000
        assert client.post("/big", content=b"b" * 5001).status_code == 413
        assert client.post("/default", content=b"d" * 2000).json() == {"bytes": 2000}
        assert client.post("/default", content=b"d" * 2001).status_code == 413
        assert client.post("/small", content=b"s" * 1000).json() == {"bytes": 1000}
        tiny = client.post("/small", content=iter([b"s" * 600, b"s" * 600]))  # chunked, crosses 1000
        assert tiny.status_code == 413 and tiny.headers["content-type"] == "application/problem+json"


def test_keep_alive_after_an_unread_body(server):
    with _connect(server.port) as sock:
        # A small announced body the handler did not read is dropped: the connection carries on.
        sock.sendall(b"POST /ignore HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\n" + b"i" * 1000)
        first = read_all(sock, until_close=False, expect=b"}")
        sock.sendall(b"POST /ignore?read=1 HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nabcde")
        second = read_all(sock, until_close=False, expect=b"}")
    assert b'"ignored":true' in first and b'"bytes":5' in second
    # An unannounced (chunked) rest cannot be dropped safely: the connection closes after the answer.
    response = exchange(server.port, b"POST /ignore HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                                     b"5\r\nabcde\r\n", timeout=4)
    assert status_of(response) == 200 and b'"ignored":true' in response


def test_expect_100_continue_is_sent_when_the_handler_reads(server):
    with _connect(server.port) as sock:
        sock.sendall(b"PUT /hash HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n")
        interim = read_all(sock, until_close=False, expect=b"\r\n\r\n", timeout=3)
        assert interim.startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
        sock.sendall(b"abc")
        response = read_all(sock, until_close=False, expect=b"}")
    assert status_of(response) == 200 and hashlib.sha256(b"abc").hexdigest().encode() in response
    # A handler that answers without reading gets no 100 Continue, and the connection closes.
    response = exchange(server.port, b"POST /ignore HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\n"
                                     b"Content-Length: 3\r\n\r\n", timeout=3)
    assert b"100 Continue" not in response and status_of(response) == 200


def test_pipelined_streamed_requests_answer_in_order(server):
    one = b"PUT /hash HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\none"
    two = b"POST /ignore?read=1 HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\ntwo"
    three = b"GET /nowhere HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
    response = exchange(server.port, one + two + three, timeout=5)
    assert response.count(b"HTTP/1.1 ") == 3
    first, second = response.index(hashlib.sha256(b"one").hexdigest().encode()), response.index(b'{"bytes":3}')
    assert first < second < response.index(b"404 Not Found")


def test_body_twice_and_body_after_stream(server):
    with httpx.Client(base_url=server.url, timeout=10) as client:
        got = client.post("/twice", content=b"abc").json()
        assert got["chunks"] == 1 and "consumed as a stream" in got["error"]
        whole = client.post("/whole", content=b'{"a": [1, 2]}').json()
        assert whole == {"bytes": 13, "same": True, "json": {"a": [1, 2]}}


def test_a_client_that_stops_mid_body_times_out_with_408(server):
    with _connect(server.port) as sock:
        sock.sendall(b"PUT /hash HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\nonly part")
        response = read_all(sock, timeout=6)
    assert status_of(response) == 408


def test_a_body_parameter_keeps_the_body_whole(live):
    from dataclasses import dataclass

    @dataclass
    class Note:
        title: str

    r = Router()

    @r.post("/notes")
    async def create(request, note: Note):
        # Names stream() (as a helper might), yet the body parameter needs the whole body first.
        chunks = [c async for c in request.stream()]
        return {"title": note.title, "chunks": len(chunks)}

    srv = live(r)
    got = httpx.post(srv.url + "/notes", json={"title": "t"})
    assert got.json() == {"title": "t", "chunks": 1}


def test_a_handler_slow_to_read_is_not_a_body_timeout(live):
    """The body timeout is for a client that stops sending, not for a handler that has not
    read yet: with the buffer full and reading paused, the clock does not run."""
    import asyncio

    r = Router()

    @r.put("/later", max_body_bytes=64 * MiB)
    async def later(request):
        await asyncio.sleep(3.5)  # past body_timeout (and a tick), with the client held back meanwhile
        return {"bytes": sum([len(c) async for c in request.stream()])}

    # 2 s: timeouts are judged by a once-a-second tick, so 1 s could catch a body that is moving.
    srv = live(r, limits={"body_timeout": 2})
    data = b"l" * (16 * MiB)
    got = httpx.put(srv.url + "/later", content=data, timeout=20)
    assert got.status_code == 200 and got.json() == {"bytes": len(data)}


def test_a_client_gone_mid_body_ends_the_handler_read(live):
    """The handler waiting for more body hears that the client left (a 400 it cannot send)."""
    outcome: dict[str, object] = {}
    done = threading.Event()
    r = Router()

    @r.put("/wait", max_body_bytes=64 * MiB)
    async def wait(request):
        try:
            async for _ in request.stream():
                pass
        except Exception as exc:
            outcome["error"] = (type(exc).__name__, getattr(exc, "status_code", None))
            raise
        finally:
            done.set()
        return {}

    srv = live(r)
    with _connect(srv.port) as sock:
        sock.sendall(b"PUT /wait HTTP/1.1\r\nHost: t\r\nContent-Length: 1000000\r\n\r\n" + b"w" * 1000)
        time.sleep(0.2)
    assert done.wait(5)
    assert outcome["error"] == ("BadRequestError", 400)
    assert httpx.put(srv.url + "/wait", content=b"ok").status_code == 200  # the worker serves on


def test_a_body_split_across_reads_then_pipelined_requests(server):
    """A Content-Length body whose later reads skip llhttp (parser.py's _feed_raw): its end and
    the requests pipelined after it in the same read are parsed by a fresh parser, in order."""
    data = bytes(range(256)) * 4096  # 1 MiB: many reads after the first
    with _connect(server.port) as sock:
        sock.sendall(b"PUT /hash HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % len(data) + data[:10])
        assert server.events["first_chunk"].wait(5)
        follow = (b"PUT /hash HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc"
                  b"GET /nowhere HTTP/1.1\r\nHost: t\r\n\r\n"
                  b"PUT /hash HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
        sock.sendall(data[10:] + follow)
        response = read_all(sock, timeout=10)
    assert response.count(b"HTTP/1.1 200 OK") == 3 and response.count(b"HTTP/1.1 ") == 4
    digests = [hashlib.sha256(body).hexdigest().encode() for body in (data, b"abc", b"ok")]
    assert response.index(digests[0]) < response.index(digests[1]) < response.index(b"404 Not Found")
    assert response.index(b"404 Not Found") < response.index(digests[2])


def test_an_unread_body_arriving_later_is_dropped_and_the_connection_kept(server):
    """The handler answers before the body comes; the body (under DRAIN_LIMIT) arrives in later
    reads, which skip llhttp, is dropped, and the next request on the connection is answered."""
    with _connect(server.port) as sock:
        sock.sendall(b"POST /ignore-big HTTP/1.1\r\nHost: t\r\nContent-Length: 200000\r\n\r\n")
        first = read_all(sock, until_close=False, expect=b"}")
        sock.sendall(b"i" * 200000 + b"POST /ignore?read=1 HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nabcde")
        second = read_all(sock, until_close=False, expect=b"}", timeout=5)
    assert b'"ignored":true' in first and status_of(second) == 200 and b'"bytes":5' in second
