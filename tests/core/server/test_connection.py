"""The HTTP/1.1 server over real sockets: framing, keep-alive, pipelining, limits, hostile input."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import socket
import threading
import time

import httpx
import pytest

from areion_core import HttpResponse, Router, StreamingResponse
from areion_core.server import HttpConnection, ServerState
from areion_core.server.driver import EAGER
from areion_core.testing import _MemoryTransport
from tests.core._core_support import exchange, make_server, read_all, status_of

#: Part of the smoke suite run on every supported Python (scripts/smoke.sh).
pytestmark = pytest.mark.smoke


def _router() -> Router:
    r = Router()

    @r.get("/json")
    async def json_(request):
        return {"message": "Hello, World!"}

    @r.get("/n/:i")
    async def numbered(request, i: int):
        return f"response {i}"

    @r.post("/echo")
    async def echo(request):
        return HttpResponse(bytes(request.body), content_type="application/octet-stream",
                            headers={"x-length": str(len(request.body))})

    @r.get("/slow")
    async def slow(request):
        await asyncio.sleep(0.3)
        return "slow done"

    @r.get("/version")
    async def version(request):
        return f"version {request.http_version};"

    @r.get("/inject")
    async def inject(request):
        return HttpResponse("x", headers={"X-Bad": "a\r\nSet-Cookie: evil=1"})

    @r.get("/stream")
    async def stream(request):
        async def gen():
            for i in range(3):
                yield f"part{i};"
        return StreamingResponse(gen(), content_type="text/plain")

    return r


@pytest.fixture
def server(live):
    return live(_router())


def test_keep_alive_serves_many_requests_on_one_connection(server):
    with httpx.Client(base_url=server.url) as client:
        ports = set()
        for _ in range(20):
            r = client.get("/json")
            assert r.status_code == 200
            assert r.json() == {"message": "Hello, World!"}
            ports.add(r.extensions["network_stream"].get_extra_info("client_addr")[1])
        assert len(ports) == 1  # every request reused the same TCP connection


def test_ten_pipelined_requests_in_one_write_are_answered_in_order(server):
    data = b"".join(b"GET /n/%d HTTP/1.1\r\nHost: x\r\n\r\n" % i for i in range(10))
    out = exchange(server.port, data + b"GET /n/10 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    bodies = [int(part.split(b"response ")[1].split(b"HTTP")[0]) for part in out.split(b"\r\n\r\n")[1:]
              if part.startswith(b"response ")]
    assert bodies == list(range(11))
    assert out.count(b"HTTP/1.1 200 OK") == 11


def test_each_pipelined_request_keeps_its_own_http_version(server):
    # The reader reads a request's version once, at the end of its head: the next request's
    # is its own, not the one before it.
    data = (b"GET /version HTTP/1.1\r\nHost: x\r\n\r\n"
            b"GET /version HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
            b"GET /version HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    out = exchange(server.port, data)
    assert [part.split(b";")[0] for part in out.split(b"version ")[1:]] == [b"1.1", b"1.0", b"1.1"]


def test_pipelined_slow_request_keeps_order(server):
    data = (b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n"
            b"GET /n/1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    out = exchange(server.port, data)
    assert out.index(b"slow done") < out.index(b"response 1")


def test_chunked_request_body_is_reassembled(server):
    body = b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
    out = exchange(server.port, b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                   b"Connection: close\r\n\r\n" + body)
    assert status_of(out) == 200
    assert out.endswith(b"hello world")
    assert b"X-Length: 11" in out


def test_expect_100_continue_gets_interim_response_before_body(server):
    with socket.create_connection(("127.0.0.1", server.port), timeout=3) as sock:
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
        interim = read_all(sock, until_close=False, expect=b"\r\n\r\n", timeout=2)
        assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(b"hello")
        final = read_all(sock, until_close=False, expect=b"hello", timeout=2)
    assert status_of(final) == 200 and final.endswith(b"hello")


def test_expect_100_continue_with_oversized_body_is_413_without_continue(live):
    srv = live(_router(), limits={"max_body_bytes": 10})
    out = exchange(srv.port, b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\nExpect: 100-continue\r\n\r\n")
    assert status_of(out) == 413
    assert b"100 Continue" not in out


def test_streamed_response_uses_chunked_encoding(server):
    out = exchange(server.port, b"GET /stream HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert b"Transfer-Encoding: chunked" in out
    assert out.endswith(b"6\r\npart0;\r\n6\r\npart1;\r\n6\r\npart2;\r\n0\r\n\r\n")


def test_http10_stream_is_close_delimited(server):
    out = exchange(server.port, b"GET /stream HTTP/1.0\r\n\r\n")
    assert b"Transfer-Encoding" not in out
    assert out.endswith(b"part0;part1;part2;")


def test_head_has_headers_but_no_body(server):
    out = exchange(server.port, b"HEAD /json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    head, _, body = out.partition(b"\r\n\r\n")
    assert status_of(out) == 200
    assert b"Content-Length: 27" in head
    assert body == b""


def test_options_and_405_carry_allow(server):
    out = exchange(server.port, b"OPTIONS /json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert status_of(out) == 204 and b"Allow: GET, HEAD, OPTIONS" in out
    out = exchange(server.port, b"DELETE /json HTTP/1.1\r\nHost: x\r\n\r\nGET /json HTTP/1.1\r\nHost: x\r\n"
                   b"Connection: close\r\n\r\n")
    assert status_of(out) == 405 and b"Allow: GET, HEAD, OPTIONS" in out
    assert out.count(b"HTTP/1.1 ") == 2  # 405 does not close the connection


def test_date_and_server_headers(server):
    r = httpx.get(server.url + "/json")
    assert r.headers["server"] == "areion"
    from email.utils import parsedate_to_datetime

    assert abs(parsedate_to_datetime(r.headers["date"]).timestamp() - time.time()) < 3


def test_response_header_injection_is_refused(server):
    r = httpx.get(server.url + "/inject")
    assert r.status_code == 500
    assert "set-cookie" not in r.headers
    assert "evil" not in r.text


# --- limits -------------------------------------------------------------------------------


def test_url_too_long_is_414(live):
    srv = live(_router(), limits={"max_url_bytes": 100})
    out = exchange(srv.port, b"GET /" + b"a" * 200 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status_of(out) == 414


def test_header_block_too_large_is_431(live):
    srv = live(_router(), limits={"max_header_bytes": 1024})
    out = exchange(srv.port, b"GET /json HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 2000 + b"\r\n\r\n")
    assert status_of(out) == 431


def test_too_many_headers_is_431(live):
    srv = live(_router(), limits={"max_headers": 10})
    headers = b"".join(b"X-H%d: v\r\n" % i for i in range(20))
    out = exchange(srv.port, b"GET /json HTTP/1.1\r\nHost: x\r\n" + headers + b"\r\n")
    assert status_of(out) == 431


def test_body_over_limit_from_content_length_is_413_before_reading(live):
    srv = live(_router(), limits={"max_body_bytes": 1000})
    out = exchange(srv.port, b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n")
    assert status_of(out) == 413


def test_chunked_body_over_limit_is_413_while_reading(live):
    srv = live(_router(), limits={"max_body_bytes": 1000})
    chunk = b"400\r\n" + b"a" * 1024 + b"\r\n"
    out = exchange(srv.port, b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk * 3)
    assert status_of(out) == 413


def test_header_read_timeout_is_408_then_close(live):
    srv = live(_router(), limits={"header_timeout": 1})
    t0 = time.monotonic()
    out = exchange(srv.port, b"GET /json HTTP/1.1\r\nHost: x\r\n", timeout=5)
    assert status_of(out) == 408
    assert time.monotonic() - t0 < 4.5  # closed by the server, not by our timeout


def test_idle_keep_alive_connection_is_closed(live):
    srv = live(_router(), limits={"keepalive_timeout": 1})
    with socket.create_connection(("127.0.0.1", srv.port)) as sock:
        sock.sendall(b"GET /json HTTP/1.1\r\nHost: x\r\n\r\n")
        t0 = time.monotonic()
        out = read_all(sock, timeout=5)
        assert status_of(out) == 200
        assert time.monotonic() - t0 < 4.5  # the server closed the idle connection


def test_connections_over_the_maximum_get_503_with_retry_after(live):
    srv = live(_router(), limits={"max_connections": 2})
    held = [socket.create_connection(("127.0.0.1", srv.port)) for _ in range(2)]
    try:
        time.sleep(0.2)
        out = exchange(srv.port, b"GET /json HTTP/1.1\r\nHost: x\r\n\r\n")
        assert status_of(out) == 503
        assert b"Retry-After: 1" in out
    finally:
        for s in held:
            s.close()
    time.sleep(0.2)
    assert httpx.get(srv.url + "/json").status_code == 200


def test_large_response_with_slow_reader_is_delivered_whole(live):
    router = Router()
    payload = bytes(range(256)) * (64 * 1024)  # 16 MiB: more than the socket buffers hold

    @router.get("/big")
    async def big(request):
        async def gen():
            for i in range(0, len(payload), 65536):
                yield payload[i:i + 65536]
        return StreamingResponse(gen())

    srv = live(router)
    with socket.create_connection(("127.0.0.1", srv.port)) as sock:
        sock.sendall(b"GET /big HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        time.sleep(0.5)  # not reading: the server must pause, not buffer 16 MiB or drop any
        out = read_all(sock, timeout=20)
    body = out.partition(b"\r\n\r\n")[2]
    decoded = b""
    while body:
        size_line, _, rest = body.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            break
        decoded += rest[:size]
        body = rest[size + 2:]
    assert decoded == payload


# --- malformed and hostile input ---------------------------------------------------------------

MALFORMED = [
    ("garbage request line", b"HELLO\r\n\r\n", 400),
    ("invalid method", b"FOO / HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    ("unsupported version", b"GET / HTTP/9.9\r\nHost: x\r\n\r\n", 505),
    ("http/2 preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 400),
    ("missing host", b"GET /json HTTP/1.1\r\n\r\n", 400),
    ("two hosts", b"GET /json HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
    ("negative content-length", b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", 400),
    ("non-numeric content-length", b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n", 400),
    ("two different content-lengths",
     b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", 400),
    ("content-length with transfer-encoding",
     b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    ("unknown transfer coding", b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501),
    ("bad chunk size", b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n", 400),
    ("obs-fold", b"GET /json HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n", 400),
    ("NUL in header value", b"GET /json HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n", 400),
    ("CR in header value", b"GET /json HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n", 400),
    ("LF-only line endings", b"GET /json HTTP/1.1\nHost: x\n\n", 400),
    ("space before colon", b"GET /json HTTP/1.1\r\nHost : x\r\n\r\n", 400),
    ("control char in target", b"GET /js\x01on HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    ("bad percent-encoding", b"GET /n/%zz HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    ("percent-encoded invalid utf-8", b"GET /n/%ff%fe HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    ("relative target", b"GET json HTTP/1.1\r\nHost: x\r\n\r\n", 400),
]


@pytest.mark.parametrize("name,data,status", MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_requests_get_4xx_and_never_crash(server, name, data, status):
    out = exchange(server.port, data)
    assert status_of(out) == status, out
    assert b"500" not in out.split(b"\r\n", 1)[0]
    # The server is still healthy afterwards.
    assert httpx.get(server.url + "/json").status_code == 200


def test_no_desync_after_bad_request_in_pipeline(server):
    """The bytes after an unparsable request are never taken as a new request."""
    smuggled = b"GET /n/666 HTTP/1.1\r\nHost: x\r\n\r\n"
    data = (b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
            + smuggled)
    out = exchange(server.port, data)
    assert status_of(out) == 400
    assert b"response 666" not in out
    assert b"Connection: close" in out


def test_requests_before_a_bad_one_are_still_answered(server):
    data = b"GET /n/1 HTTP/1.1\r\nHost: x\r\n\r\nBROKEN\r\n\r\n"
    out = exchange(server.port, data)
    assert out.startswith(b"HTTP/1.1 200 OK")
    assert b"response 1" in out
    assert b"HTTP/1.1 400 Bad Request" in out


def test_lowercase_content_length_body_is_not_parsed_as_next_request(server):
    """Areion 1.x's bug: a lower-case header name was ignored and the body became a request."""
    data = b"POST /echo HTTP/1.1\r\nhost: x\r\ncontent-length: 30\r\nconnection: close\r\n\r\nGET /n/7 HTTP/1.1\r\nHost: x\r\n\r\n"
    out = exchange(server.port, data)
    assert out.count(b"HTTP/1.1 ") == 1
    assert b"response 7" not in out
    # The 30 bytes were read as the body, and echoed.
    assert status_of(out) == 200 and b"X-Length: 30\r\n" in out
    assert out.endswith(b"\r\n\r\nGET /n/7 HTTP/1.1\r\nHost: x\r\n\r\n")


def test_absolute_form_target_is_accepted(server):
    out = exchange(server.port, b"GET http://x/n/3 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert status_of(out) == 200 and b"response 3" in out


def _statuses_of_connections_held_together(port: int, n: int) -> list[int]:
    """Open ``n`` connections first, then ask for /json on each: all are open at once.
    A status of 0 is a connection closed without an answer."""
    socks = [socket.create_connection(("127.0.0.1", port), timeout=3) for _ in range(n)]
    try:
        statuses = []
        for sock in socks:
            with contextlib.suppress(OSError):  # one shed at the door may be closed already
                sock.sendall(b"GET /json HTTP/1.1\r\nHost: x\r\n\r\n")
            out = read_all(sock, until_close=False, expect=b"}")
            statuses.append(status_of(out) if out else 0)
        return statuses
    finally:
        for sock in socks:
            sock.close()


def test_a_finished_connection_is_freed_at_once_not_left_to_the_garbage_collector(server):
    """A connection's parts point at each other (the parser holds its reader's methods; the
    reader, the driver and the transport point back at the connection). Unlinked when the
    connection is gone, they are freed by reference counting: none of them is cyclic garbage
    for a collection to find later (a collection's share on every connection, otherwise)."""
    kinds = {"HttpConnection", "RequestReader", "RequestDriver", "FlowControl", "HttpRequestParser"}
    closing = b"GET /json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    exchange(server.port, closing)
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)  # what a collection would free is kept in gc.garbage instead
    try:
        for _ in range(10):
            assert status_of(exchange(server.port, closing)) == 200  # the server closes
            with socket.create_connection(("127.0.0.1", server.port)) as sock:  # the client closes
                sock.sendall(b"GET /json HTTP/1.1\r\nHost: x\r\n\r\n")
                assert status_of(read_all(sock, until_close=False, expect=b"World")) == 200
        time.sleep(0.3)  # the server hears the last connections end
        gc.collect()
        found = [type(o).__name__ for o in gc.garbage if type(o).__name__ in kinds]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
    assert found == []


@pytest.mark.skipif(not EAGER, reason="the fallback runs each request in a task of its own, later")
def test_a_connection_s_last_request_is_answered_and_closed_in_the_read_that_completed_it():
    """A keep-alive request is answered in the turn's batch (after the read returns); a last
    one (Connection: close, HTTP/1.0) at once, so the transport closes in the same turn of the
    loop, before the client's FIN can arrive: a turn later costs three more system calls."""
    async def main() -> dict[bytes, tuple[bool, bool]]:
        app = make_server(_router()).app
        app.build()
        await app.startup()
        loop = asyncio.get_running_loop()
        state = ServerState(loop, app.handle, app.make_request, app.config.limits, app.constant_headers())
        seen = {}
        for extra in (b"", b"Connection: close\r\n"):
            transport = _MemoryTransport(loop)
            conn = HttpConnection(state)
            conn.connection_made(transport)


            def read(conn=conn, transport=transport, extra=extra):  # as the loop calls it: no task
                conn.data_received(b"GET /json HTTP/1.1\r\nHost: x\r\n" + extra + b"\r\n")
                seen[extra] = (b"200 OK" in transport.buffer, transport.is_closing())

            loop.call_soon(read)
            for _ in range(3):
                await asyncio.sleep(0)  # the read, then the turn's batch
            assert b"Hello, World!" in transport.buffer
            conn.connection_lost(None)
        return seen

    assert asyncio.run(main()) == {b"": (False, False), b"Connection: close\r\n": (True, True)}


def test_client_disconnect_mid_request_does_not_break_server(live, caplog):
    """Clients that go away mid-body, or while their handler runs, leave nothing behind: no
    handler sees a cut-off body, nothing is logged as an error, and their connection slots
    are given back (with max_connections=4, 21 leaked slots would turn every client away)."""
    bodies = []
    router = _router()

    @router.post("/record")
    async def record(request):
        bodies.append(bytes(request.body))
        return "recorded"

    srv = live(router, limits={"max_connections": 4})
    caplog.set_level(logging.ERROR)
    for _ in range(20):
        with socket.create_connection(("127.0.0.1", srv.port)) as sock:
            sock.sendall(b"POST /record HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc")
    with socket.create_connection(("127.0.0.1", srv.port)) as sock:
        sock.sendall(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
    # The slow handler holds its slot until it ends (0.3 s); give a busy machine time.
    deadline = time.monotonic() + 5
    while (statuses := _statuses_of_connections_held_together(srv.port, 4)) != [200] * 4:
        assert time.monotonic() < deadline, f"connection slots not given back: {statuses}"
        time.sleep(0.1)
    assert bodies == []
    assert [r.getMessage() for r in caplog.records] == []


def test_handlers_run_in_a_task_with_their_own_context(live):
    """asyncio.timeout, current_task() and context variables work as in a task per request."""
    import contextvars

    current_user: contextvars.ContextVar[str] = contextvars.ContextVar("current_user", default="nobody")
    r = Router()

    @r.get("/ctx/:name")
    async def ctx(request, name):
        before = current_user.get()
        current_user.set(name)  # must not leak into the next request
        task = asyncio.current_task()
        async with asyncio.timeout(5):
            await asyncio.sleep(0.01)
        return {"before": before, "task": task is not None, "same_task": task is asyncio.current_task()}

    @r.get("/timeout")
    async def timeout(request):
        try:
            async with asyncio.timeout(0.05):
                await asyncio.sleep(1)
        except TimeoutError:
            return "timed out"
        return "not timed out"

    @r.get("/eager-timeout")
    async def eager_timeout(request):
        async with asyncio.timeout(1):
            return "no await inside"

    srv = live(r)
    with httpx.Client(base_url=srv.url) as client:  # one keep-alive connection
        for name in ("ada", "bob"):
            assert client.get(f"/ctx/{name}").json() == {"before": "nobody", "task": True, "same_task": True}
        assert client.get("/timeout").text == "timed out"
        assert client.get("/eager-timeout").text == "no await inside"
        assert client.get("/ctx/carol").json()["before"] == "nobody"


def test_a_cancellation_reaches_the_handler_where_it_waits_and_only_that_request(live):
    """current_task().cancel() reaches the handler at its next wait (or where it waits now), as
    in a task of its own; the handler may catch it, and the connection's next request is not hit."""
    r = Router()
    parked: list[asyncio.Future[None]] = []

    @r.get("/self-cancel")
    async def self_cancel(request):
        asyncio.current_task().cancel()  # while running: delivered at its next wait
        try:
            await asyncio.sleep(1)
        except asyncio.CancelledError:
            asyncio.current_task().uncancel()
            return "cancelled at the next wait"
        return "not cancelled"

    @r.get("/cancel-while-waiting")
    async def cancel_while_waiting(request):
        future = asyncio.get_running_loop().create_future()
        parked.append(future)
        task = asyncio.current_task()
        asyncio.get_running_loop().call_soon(task.cancel)  # while it waits on the future
        try:
            await future
        except asyncio.CancelledError:
            asyncio.current_task().uncancel()
            return f"cancelled while waiting; the future cancelled: {future.cancelled()}"
        return "not cancelled"

    @r.get("/wait")
    async def wait(request):
        await asyncio.sleep(0.01)
        return "waited"

    @r.get("/now")
    async def now(request):
        return "now"

    @r.get("/task-group")
    async def task_group(request):
        # A failing child cancels its siblings and the group's parent task (the driver's), which
        # the group takes back (uncancel) as it would from a task of its own.
        async def fails():
            await asyncio.sleep(0.01)
            raise ValueError("child failed")

        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(fails())
                group.create_task(asyncio.sleep(5))
                await asyncio.sleep(5)
        except ExceptionGroup as group_error:
            failed = [type(e).__name__ for e in group_error.exceptions]
            return f"group failed: {failed}; cancelling: {asyncio.current_task().cancelling()}"
        return "group finished"

    srv = live(r)
    with httpx.Client(base_url=srv.url) as client:  # one keep-alive connection
        assert client.get("/self-cancel").text == "cancelled at the next wait"
        assert client.get("/wait").text == "waited"
        assert client.get("/cancel-while-waiting").text == "cancelled while waiting; the future cancelled: True"
        assert client.get("/wait").text == "waited"
        assert client.get("/now").text == "now"
        assert client.get("/wait").text == "waited"
        assert client.get("/task-group").text == "group failed: ['ValueError']; cancelling: 0"
        assert client.get("/wait").text == "waited"


# --- flow control and timeouts with clients that do not read -------------------------------------


def test_pipelined_requests_wait_while_the_client_is_not_reading(live):
    """A full write buffer holds back the next pipelined request instead of buffering its answer."""
    handled = []
    router = Router()

    @router.get("/big/:i")
    async def big(request, i: int):
        handled.append(i)
        return HttpResponse(b"%d" % i * (1024 * 1024), content_type="application/octet-stream")

    srv = live(router, limits={"write_buffer_high": 64 * 1024, "max_pipelined": 64})
    with socket.create_connection(("127.0.0.1", srv.port)) as sock:
        sock.sendall(b"".join(b"GET /big/%d HTTP/1.1\r\nHost: x\r\n\r\n" % (i % 10) for i in range(32)))
        time.sleep(0.5)  # not reading: the kernel takes a few MiB, the server then waits
        assert len(handled) < 16, f"{len(handled)} responses made for a client that reads nothing"
        sock.sendall(b"GET /big/0 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        out = read_all(sock, timeout=30)
    assert out.count(b"HTTP/1.1 200 OK") == 33
    assert len(handled) == 33
    bodies = [part.split(b"\r\n\r\n", 1)[1][:1] for part in out.split(b"HTTP/1.1 200 OK")[1:]]
    assert bodies == [b"%d" % (i % 10) for i in range(32)] + [b"0"]


def test_send_timeout_cuts_a_client_that_stops_reading(live):
    router = Router()

    @router.get("/endless")
    async def endless(request):
        async def gen():
            while True:
                yield b"e" * 65536
        return StreamingResponse(gen())

    srv = live(router, limits={"send_timeout": 1, "write_buffer_high": 64 * 1024})
    with socket.create_connection(("127.0.0.1", srv.port)) as sock:
        sock.sendall(b"GET /endless HTTP/1.1\r\nHost: x\r\n\r\n")
        time.sleep(3.5)  # the write buffer stays full: cut within send_timeout + the once-a-second sweep
        t0 = time.monotonic()
        out = read_all(sock, timeout=10)
        assert time.monotonic() - t0 < 5, "the server kept the stream going"
    assert status_of(out) == 200
    assert not out.endswith(b"0\r\n\r\n")


def test_reading_resumes_after_pipelined_requests_that_suspend(live):
    """Reading paused at max_pipelined resumes once the queue is answered, even by the driver task."""
    srv = live(_router(), limits={"max_pipelined": 2})
    with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as sock:
        sock.sendall(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\nGET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
        first = read_all(sock, until_close=False, expect=b"slow done", timeout=3)
        while first.count(b"slow done") < 2:
            first += read_all(sock, until_close=False, expect=b"slow done", timeout=3)
        sock.sendall(b"GET /n/5 HTTP/1.1\r\nHost: x\r\n\r\n")
        more = read_all(sock, until_close=False, expect=b"response 5", timeout=3)
    assert b"response 5" in more


def test_a_parse_error_behind_a_slow_request_is_answered_when_it_finishes(live):
    srv = live(_router(), limits={"keepalive_timeout": 30})
    t0 = time.monotonic()
    out = exchange(srv.port, b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\nBROKEN\r\n\r\n", timeout=5)
    assert out.startswith(b"HTTP/1.1 200 OK") and b"slow done" in out
    assert b"HTTP/1.1 400 Bad Request" in out
    assert time.monotonic() - t0 < 2.5  # answered and closed, not left to the idle timeout


def test_thousands_of_pipelined_requests_in_one_write_are_all_answered_in_order(server):
    """A large read is parsed a slice at a time, in step with answering it, and none is lost."""
    n = 5000
    data = b"".join(b"GET /n/%d HTTP/1.1\r\nHost: x\r\n\r\n" % i for i in range(n))
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sender = threading.Thread(target=sock.sendall, args=(data + b"GET /n/-1 HTTP/1.1\r\nHost: x\r\n"
                                                             b"Connection: close\r\n\r\n",))
        sender.start()
        time.sleep(0.3)  # let the server fill its write buffer while nothing is read
        out = read_all(sock, timeout=30)
        sender.join(10)
    numbers = [int(part.rsplit(b"response ", 1)[1]) for part in out.split(b"HTTP/1.1 200 OK")[1:]]
    assert numbers == [*range(n), -1]


class _Writes(asyncio.Transport):
    """An in-memory transport that keeps each write apart (the connection under test is real)."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data) -> None:  # type: ignore[no-untyped-def]
        self.writes.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def set_write_buffer_limits(self, high=None, low=None) -> None:  # type: ignore[no-untyped-def]
        pass

    def get_extra_info(self, name, default=None):  # type: ignore[no-untyped-def]
        return ("127.0.0.1", 1) if name == "peername" else default


async def _answer(requests: bytes) -> list[bytes]:
    from areion_core.server import HttpConnection, ServerState
    from tests.core._core_support import make_server

    app = make_server(_router()).app
    state = ServerState(asyncio.get_running_loop(), app.handle, app.make_request, app.config.limits,
                        app.constant_headers())
    conn = HttpConnection(state)
    transport = _Writes()
    conn.connection_made(transport)
    conn.data_received(requests)
    assert transport.writes == []  # answered at the end of the turn, not inside data_received
    for _ in range(5):
        await asyncio.sleep(0)
    conn.connection_lost(None)
    return transport.writes


@pytest.mark.skipif(not EAGER, reason="with AREION_EAGER=0 each request runs in a task of its own, outside the turn")
async def test_a_turns_responses_leave_in_one_write():
    writes = await _answer(b"".join(b"GET /n/%d HTTP/1.1\r\nHost: x\r\n\r\n" % i for i in range(3)))
    assert len(writes) == 1
    assert [part.split(b"\r\n\r\n", 1)[1][:10] for part in writes[0].split(b"HTTP/1.1 200 OK")[1:]] == [
        b"response 0", b"response 1", b"response 2"]


@pytest.mark.skipif(not EAGER, reason="with AREION_EAGER=0 each request runs in a task of its own, outside the turn")
async def test_a_request_that_waits_writes_what_came_before_it_at_the_end_of_the_turn():
    writes = await _answer(b"GET /n/1 HTTP/1.1\r\nHost: x\r\n\r\nGET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
    # /n/1 leaves with the turn; /slow is answered later by the connection's driver (not within 5 turns).
    assert len(writes) == 1 and writes[0].count(b"HTTP/1.1 200 OK") == 1 and writes[0].endswith(b"response 1")
