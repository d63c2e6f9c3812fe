"""The request driver's task pool: a closed connection's parked driver task serves the next one.

Over real sockets: ``asyncio.current_task()`` in a handler is the driver task, so the tests
read which task ran a request, and its cancellation count, from the handler itself.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket

import pytest

from areion_core import Router
from areion_core.server import HttpServer
from areion_core.server.driver import EAGER, DriverPool
from tests.core._core_support import exchange

#: Part of the smoke suite run on every supported Python (scripts/smoke.sh).
pytestmark = [pytest.mark.smoke,
              pytest.mark.skipif(not EAGER, reason="the fallback runs each request in a task of its own")]

SEEN: list[asyncio.Task[object]] = []


def _router() -> Router:
    r = Router()

    @r.get("/task")
    async def task(request):
        current = asyncio.current_task()
        assert current is not None
        SEEN.append(current)
        return {"task": id(current), "cancelling": current.cancelling()}

    @r.get("/self-cancel")
    async def self_cancel(request):
        # A handler that cancels its own task and swallows the cancellation leaves the count at 1.
        current = asyncio.current_task()
        assert current is not None
        SEEN.append(current)
        current.cancel()
        try:
            await asyncio.sleep(0.01)
        except asyncio.CancelledError:
            return {"task": id(current), "cancelling": current.cancelling()}
        return {"task": id(current), "cancelling": -1}

    @r.get("/timeout")
    async def timeout(request):
        current = asyncio.current_task()
        assert current is not None
        SEEN.append(current)
        try:
            async with asyncio.timeout(0.02):
                await asyncio.sleep(1)
        except TimeoutError:
            return {"task": id(current), "timed_out": True, "cancelling": current.cancelling()}
        return {"task": id(current), "timed_out": False, "cancelling": current.cancelling()}

    return r


def _get(port: int, path: str) -> dict[str, object]:
    """One request on a connection of its own (``Connection: close``): the handler's JSON."""
    out = exchange(port, f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    head, _, body = out.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 "), out
    return json.loads(body)


def _get_on(port: int, path: str, task: object) -> dict[str, object]:
    """``_get`` until the request runs in ``task`` (the connection before may not have reached
    the server's close yet, and then the pool is empty): the last answer."""
    for _ in range(50):
        got = _get(port, path)
        if got["task"] == task:
            break
    return got


@pytest.fixture
def server(live):
    SEEN.clear()
    yield live(_router())
    SEEN.clear()


def test_a_closed_connections_task_runs_the_next_connections_requests(server):
    first = _get(server.port, "/task")
    second = _get_on(server.port, "/task", first["task"])
    assert second == {"task": first["task"], "cancelling": 0}
    assert _get(server.port, "/task") == second


def test_connections_open_at_once_have_tasks_of_their_own(server):
    request = b"GET /task HTTP/1.1\r\nHost: x\r\n\r\n"
    with socket.create_connection(("127.0.0.1", server.port)) as a, \
            socket.create_connection(("127.0.0.1", server.port)) as b:
        tasks = []
        for sock in (a, b, a, b):
            sock.sendall(request)
            data = b""
            while not data.endswith(b"}"):
                data += sock.recv(65536)
            tasks.append(json.loads(data.partition(b"\r\n\r\n")[2])["task"])
    assert tasks[0] == tasks[2] and tasks[1] == tasks[3]  # one task per connection, kept
    assert tasks[0] != tasks[1]


def test_a_task_left_with_a_cancellation_counted_is_not_handed_on(server):
    cancelled = _get(server.port, "/self-cancel")
    assert cancelled["cancelling"] == 1
    for _ in range(5):
        after = _get(server.port, "/task")
        assert after["task"] != cancelled["task"]
        assert after["cancelling"] == 0
    assert SEEN[0].done()  # it ended, with its connection


def test_asyncio_timeout_works_on_a_handed_on_task_and_it_is_handed_on_again(server):
    first = _get(server.port, "/task")
    timed = _get_on(server.port, "/timeout", first["task"])
    assert timed == {"task": first["task"], "timed_out": True, "cancelling": 0}
    again = _get_on(server.port, "/task", first["task"])
    assert again == {"task": first["task"], "cancelling": 0}


def test_shutdown_ends_the_pooled_tasks(live, caplog):
    SEEN.clear()
    srv = live(_router())
    for _ in range(3):
        _get(srv.port, "/task")
    with socket.create_connection(("127.0.0.1", srv.port)) as a:  # one more, open at shutdown
        a.sendall(b"GET /task HTTP/1.1\r\nHost: x\r\n\r\n")
        assert a.recv(65536).startswith(b"HTTP/1.1 200")
    with caplog.at_level(logging.ERROR):
        srv.__exit__(None, None, None)
    assert SEEN and all(task.done() for task in SEEN)
    assert not [r for r in caplog.records if "destroyed" in r.getMessage()]
    SEEN.clear()


def test_a_full_pool_ends_the_tasks_it_cannot_keep():
    async def main() -> tuple[int, list[bool]]:
        r = _router()
        from tests.core._core_support import make_server

        app = make_server(r).app
        server = HttpServer(app.handle, app.make_request, app.config.limits, app.constant_headers())
        await server.start("127.0.0.1", 0)
        assert server.state is not None and server.state.drivers is not None
        server.state.drivers.limit = 1
        SEEN.clear()
        pairs = [await asyncio.open_connection("127.0.0.1", server.port) for _ in range(3)]
        for reader, writer in pairs:  # three connections open at once: three tasks
            writer.write(b"GET /task HTTP/1.1\r\nHost: x\r\n\r\n")
            await reader.readuntil(b"}")
        for _, writer in pairs:
            writer.close()
            await writer.wait_closed()
        for _ in range(100):
            if sum(task.done() for task in SEEN) == 2:
                break
            await asyncio.sleep(0.01)
        kept = len(server.state.drivers)
        ended = [task.done() for task in SEEN]
        await server.shutdown(grace=1)
        await asyncio.sleep(0.05)
        assert all(task.done() for task in SEEN)
        return kept, ended

    kept, ended = asyncio.run(main())
    assert kept == 1
    assert sorted(ended) == [False, True, True]
    SEEN.clear()


def test_a_pooled_task_cancelled_by_a_stray_reference_is_not_handed_out():
    async def main() -> tuple[bool, bool, int, int]:
        from tests.core._core_support import make_server

        app = make_server(_router()).app
        server = HttpServer(app.handle, app.make_request, app.config.limits, app.constant_headers())
        await server.start("127.0.0.1", 0)
        assert server.state is not None and server.state.drivers is not None
        pool = server.state.drivers
        SEEN.clear()

        async def one() -> dict[str, object]:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(b"GET /task HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            data = await reader.read()
            writer.close()
            return json.loads(data.partition(b"\r\n\r\n")[2])

        first = await one()
        for _ in range(100):
            if len(pool):
                break
            await asyncio.sleep(0.01)
        pooled = len(pool)
        SEEN[0].cancel()  # whoever kept current_task() from a request cancels it later
        second = await one()
        await asyncio.sleep(0.05)
        ended = SEEN[0].done()
        await server.shutdown(grace=1)
        return ended, second["task"] != first["task"], pooled, int(second["cancelling"])  # type: ignore[call-overload]

    ended, fresh, pooled, cancelling = asyncio.run(main())
    assert pooled == 1
    assert ended and fresh and cancelling == 0
    SEEN.clear()
