"""areion_core/server/listener.py: binding, serving queued connections, stopping with or without closing."""

from __future__ import annotations

import asyncio
import socket
import threading
import time

import pytest
import uvloop

from areion_core import Router
from areion_core.server.listener import Listener, bind_sockets
from areion_core.testing import LiveServer
from tests.core._core_support import make_server

#: Part of the smoke suite run on every supported Python (scripts/smoke.sh).
pytestmark = pytest.mark.smoke


class Counting(asyncio.Protocol):
    made: list[asyncio.BaseTransport] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:  # type: ignore[override]
        Counting.made.append(transport)


def _clients(address: tuple[str, int], count: int) -> list[socket.socket]:
    # The kernel completes each handshake and queues the connection until it is accepted.
    return [socket.create_connection(address) for _ in range(count)]


@pytest.mark.parametrize("new_loop", [uvloop.new_event_loop, asyncio.new_event_loop], ids=["uvloop", "asyncio"])
def test_every_queued_connection_gets_a_protocol(new_loop) -> None:  # type: ignore[no-untyped-def]
    """A burst queued before the server listens: every connection is accepted and made."""
    Counting.made = []
    sock = bind_sockets("127.0.0.1", 0, 512)[0]
    clients = _clients(sock.getsockname(), 100)

    async def main() -> int:
        listener = Listener(asyncio.get_running_loop(), Counting)
        await listener.listen([sock], 512)
        for _ in range(200):
            if len(Counting.made) == 100:
                break
            await asyncio.sleep(0.005)
        made = len(Counting.made)
        assert listener.stop() == []  # nothing left in the queue
        for transport in Counting.made:
            transport.close()
        await asyncio.sleep(0.01)
        return made

    try:
        with asyncio.Runner(loop_factory=new_loop) as runner:
            assert runner.run(main()) == 100
    finally:
        for client in clients:
            client.close()


@pytest.mark.parametrize("new_loop", [uvloop.new_event_loop, asyncio.new_event_loop], ids=["uvloop", "asyncio"])
def test_stop_hands_back_the_connections_still_queued(new_loop) -> None:  # type: ignore[no-untyped-def]
    """Closing a listening socket resets what is in its queue; stop() takes those out first."""
    Counting.made = []
    sock = bind_sockets("127.0.0.1", 0, 64)[0]

    async def main() -> tuple[int, list[socket.socket]]:
        listener = Listener(asyncio.get_running_loop(), Counting)
        await listener.listen([sock], 64)
        clients = _clients(sock.getsockname(), 5)
        queued = listener.stop()  # before the loop ran the accept callback
        await asyncio.sleep(0.05)  # the loop's server, closed, accepts nothing more
        return len(Counting.made), queued + clients

    with asyncio.Runner(loop_factory=new_loop) as runner:
        made, sockets = runner.run(main())
    try:
        assert made == 0 and len(sockets) == 10  # five queued, handed back; five clients
        assert sock.fileno() == -1  # the listening socket is closed
    finally:
        for s in sockets:
            s.close()


@pytest.mark.parametrize("new_loop", [uvloop.new_event_loop, asyncio.new_event_loop], ids=["uvloop", "asyncio"])
def test_stop_without_closing_leaves_the_queue_to_the_next_listener(new_loop) -> None:  # type: ignore[no-untyped-def]
    """A reload: the first listener stops, clients keep connecting, the next one serves them all."""
    Counting.made = []
    sock = bind_sockets("127.0.0.1", 0, 64)[0]
    address = sock.getsockname()

    async def main() -> tuple[int, int, list[socket.socket]]:
        loop = asyncio.get_running_loop()
        first = Listener(loop, Counting)
        await first.listen([sock], 64)
        assert first.stop(close=False) == []
        clients = _clients(address, 5)  # queued on the socket, which still listens
        await asyncio.sleep(0.05)
        before = len(Counting.made)
        second = Listener(loop, Counting)
        await second.listen([sock], 64)
        for _ in range(100):
            if len(Counting.made) == 5:
                break
            await asyncio.sleep(0.005)
        after = len(Counting.made)
        second.stop()
        for transport in Counting.made:
            transport.close()
        await asyncio.sleep(0.01)
        return before, after, clients

    with asyncio.Runner(loop_factory=new_loop) as runner:
        before, after, clients = runner.run(main())
    for client in clients:
        client.close()
    assert (before, after) == (0, 5)


def test_port_zero_on_several_addresses_takes_one_port() -> None:
    sockets = bind_sockets("localhost", 0, 16)
    try:
        assert len({s.getsockname()[1] for s in sockets}) == 1
    finally:
        for s in sockets:
            s.close()


def test_a_burst_queued_while_the_loop_is_busy_is_accepted_in_a_few_turns_not_one_per_turn() -> None:
    """uvloop accepts one connection per turn of the loop; the server takes the rest of the
    queue at the end of that turn (the catch-up), so a burst does not wait a turn per connection."""
    router = Router()

    @router.get("/json")
    async def json_(request):  # type: ignore[no-untyped-def]
        return {"message": "Hello, World!"}

    count = 100
    with LiveServer(make_server(router)) as live:
        thread = live._thread
        assert thread is not None
        loop = thread.loop
        assert not type(loop).__module__.startswith("asyncio")  # uvloop: the case this is about
        state = live.server._http.state  # type: ignore[union-attr]
        turns: list[int] = []  # the connections served, once per turn of the loop
        counting = True

        def count_turn() -> None:
            turns.append(len(state.connections))
            if counting:
                loop.call_soon(count_turn)

        blocked = threading.Event()

        def block() -> None:  # the loop is busy while the burst arrives
            blocked.set()
            time.sleep(0.3)

        loop.call_soon_threadsafe(block)
        assert blocked.wait(5)
        clients = _clients(("127.0.0.1", live.port), count)
        for client in clients:
            client.sendall(b"GET /json HTTP/1.1\r\nHost: t\r\n\r\n")
        loop.call_soon_threadsafe(count_turn)
        try:
            for client in clients:
                client.settimeout(5)
                assert client.recv(4096).startswith(b"HTTP/1.1 200 OK")
        finally:
            counting = False
            for client in clients:
                client.close()
    first = next(i for i, n in enumerate(turns) if n > 0)
    every = next(i for i, n in enumerate(turns) if n >= count)
    # One connection per turn would take `count` turns; the catch-up takes the queue at once.
    assert every - first <= 3, turns[first:every + 1]
