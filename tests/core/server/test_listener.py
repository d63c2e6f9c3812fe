"""areion_core/server/listener.py: binding, accepting every queued connection at once, stopping."""

from __future__ import annotations

import asyncio
import socket

import pytest
import uvloop

from areion_core.server.listener import Listener, bind_sockets

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
def test_every_queued_connection_is_accepted_in_one_turn(new_loop) -> None:  # type: ignore[no-untyped-def]
    """uvloop accepts one connection per turn of the loop; under a burst the last clients would
    wait a turn each. The listener accepts all of them when the socket first turns readable."""
    Counting.made = []
    sock = bind_sockets("127.0.0.1", 0, 512)[0]
    clients = _clients(sock.getsockname(), 100)

    async def main() -> int:
        listener = Listener(asyncio.get_running_loop(), Counting)
        listener.listen([sock], 512)
        for _ in range(3):  # readable -> accept all; transports made; connection_made called
            await asyncio.sleep(0)
        made = len(Counting.made)
        for queued in listener.stop():
            queued.close()
        await listener.settle(1.0)
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


def test_stop_hands_back_the_connections_still_queued() -> None:
    """Closing a listening socket resets what is in its queue; stop() takes those out first."""
    Counting.made = []
    sock = bind_sockets("127.0.0.1", 0, 64)[0]

    async def main() -> tuple[int, list[socket.socket]]:
        listener = Listener(asyncio.get_running_loop(), Counting)
        listener.listen([sock], 64)
        clients = _clients(sock.getsockname(), 5)
        queued = listener.stop()  # before the loop ran the accept callback
        return len(Counting.made), queued + clients

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        made, sockets = runner.run(main())
    try:
        assert made == 0 and len(sockets) == 10  # five queued, handed back; five clients
        assert sock.fileno() == -1  # the listening socket is closed
    finally:
        for s in sockets:
            s.close()


def test_port_zero_on_several_addresses_takes_one_port() -> None:
    sockets = bind_sockets("localhost", 0, 16)
    try:
        assert len({s.getsockname()[1] for s in sockets}) == 1
    finally:
        for s in sockets:
            s.close()
