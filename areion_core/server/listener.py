"""Listening sockets, and serving the connections accepted from them.

Connections are accepted by the event loop's own server (``loop.create_server``): uvloop
accepts, makes the transport and the protocol in C, about 25,000 instructions per connection
less than accepting in Python and handing each socket to ``connect_accepted_socket`` (``GET
/json`` with ``Connection: close``: 143k instructions against 168k).

But uvloop (libuv 1.48) accepts one connection per turn of the loop, however many wait in the
queue. When the loop is busy, a turn takes as long as answering every connection that has a
request: 256 connections opened at once, while 100 others are being answered, wait in the
queue for up to 256 turns. Measured (``GET /json``, 256 connections opened at once by 8
threads, the showcase as ``make run`` serves it): the last connections were accepted 0.4–0.7 s
after the first, and wrk's p99 was 13–68 ms with a maximum of 230–430 ms. So a turn in which
uvloop accepted a connection is followed by a *catch-up*: whatever is still queued is
accepted here, in Python, up to :data:`CATCH_UP_LIMIT` per socket and turn, and served like any
other connection (``attach``). With it: p99 8–13 ms, maximum 14–40 ms. When nothing else is
queued (one connection at a time) the catch-up costs one ``accept`` that finds nothing. On
asyncio's own loop, which accepts up to the backlog in one go, there is no catch-up.

The loop's server is given a duplicate of each listening socket's descriptor. Closing the
server (``stop``) closes only the duplicate: the socket itself, and the connections in its
queue, stay until ``stop`` takes the queue out and closes the socket, or leaves both for
whoever serves the socket next (a reload).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl as _ssl
from collections.abc import Callable
from typing import Any

logger = logging.getLogger("areion.server")

#: The most connections one catch-up accepts from one listening socket.
CATCH_UP_LIMIT = 256


def bind_sockets(host: str, port: int, backlog: int, reuse_port: bool = False,
                 listen: bool = True) -> list[socket.socket]:
    """Listening TCP sockets for every address ``host`` resolves to, all on the same port
    (bound only, not yet listening, with ``listen=False``)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    sockets: list[socket.socket] = []
    seen: set[tuple[Any, ...]] = set()
    try:
        for family, kind, proto, _, address in infos:
            if (family, address) in seen:
                continue
            seen.add((family, address))
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if reuse_port:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            if port == 0 and len(sockets) > 1:
                # Port 0 on several addresses: all of them take the port the first one got.
                address = (address[0], sockets[0].getsockname()[1], *address[2:])
            sock.bind(address)
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    if listen:
        for sock in sockets:
            sock.listen(backlog)
    return sockets


class Listener:
    """Serves connections from listening sockets, each with a new protocol object."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        protocol_factory: Callable[[], asyncio.Protocol],
        ssl: _ssl.SSLContext | None = None,
    ) -> None:
        self.loop = loop
        self.protocol_factory = protocol_factory
        self.ssl = ssl
        self.sockets: list[socket.socket] = []
        self._servers: list[asyncio.AbstractServer] = []
        self._attaching: set[asyncio.Task[Any]] = set()
        #: Whether a catch-up is due at the end of this turn (see ``catch_up_soon``).
        self.catching_up = False
        #: Whether the loop's own server accepts one connection per turn (uvloop), so that
        #: a connection made is followed by a catch-up; asyncio's accepts the whole queue.
        self.needs_catch_up = not type(loop).__module__.startswith("asyncio")

    async def listen(self, sockets: list[socket.socket], backlog: int) -> None:
        """Start accepting on ``sockets`` (bound; listened on here with ``backlog``)."""
        for sock in sockets:
            sock.listen(backlog)
            sock.setblocking(False)
            if sock.family in (socket.AF_INET, socket.AF_INET6):
                # Accepted sockets inherit it: responses leave without waiting for an ACK.
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.sockets.append(sock)
        for sock in sockets:
            server = await self.loop.create_server(
                self.protocol_factory, sock=sock.dup(), backlog=backlog, ssl=self.ssl)
            self._servers.append(server)

    def catch_up_soon(self) -> None:
        """A connection was accepted this turn: accept the rest of the queue once the turn's
        callbacks have run (the loop's server has taken its one by then)."""
        self.catching_up = True
        self.loop.call_soon(self.catch_up)

    def catch_up(self) -> None:
        """Accept and serve what waits in the listening sockets' queues (up to
        :data:`CATCH_UP_LIMIT` each)."""
        self.catching_up = False
        if not self._servers:  # stopped: the queues are ``stop``'s (or the next server's)
            return
        for sock in self.sockets:
            for _ in range(CATCH_UP_LIMIT):
                try:
                    conn, _ = sock.accept()
                except (BlockingIOError, InterruptedError):
                    break
                except OSError as exc:  # out of descriptors, a connection reset in the queue
                    logger.debug("catch-up accept failed: %r", exc)
                    break
                self.attach(conn)

    def attach(self, conn: socket.socket) -> None:
        """Serve a connection accepted elsewhere (one ``stop`` took out of a queue)."""
        conn.setblocking(False)
        task = self.loop.create_task(
            self.loop.connect_accepted_socket(self.protocol_factory, conn, ssl=self.ssl))
        self._attaching.add(task)
        task.add_done_callback(lambda done: self._attached(conn, done))

    def _attached(self, conn: socket.socket, task: asyncio.Task[Any]) -> None:
        self._attaching.discard(task)
        if task.cancelled() or task.exception() is not None:
            if not task.cancelled():
                logger.debug("could not set up an accepted connection: %r", task.exception())
            with contextlib.suppress(OSError):
                conn.close()

    async def settle(self, timeout: float) -> None:
        """Wait (up to ``timeout``) until every attached connection has its protocol; close the rest."""
        deadline = self.loop.time() + timeout
        while self._attaching and self.loop.time() < deadline:  # noqa: ASYNC110 - shutdown only, a few turns
            await asyncio.sleep(0.01)
        for pending in list(self._attaching):
            pending.cancel()
        self._attaching.clear()

    def stop(self, close: bool = True) -> list[socket.socket]:
        """Stop accepting and close the listening sockets (unless ``close`` is false); return
        the connections still queued.

        Closing a listening socket resets the connections in its queue, whose clients may
        already have sent a request: they are taken out of the queue first, for the caller
        to serve. With ``close`` false the queue stays where it is, for the next server.
        """
        for server in self._servers:
            server.close()  # the duplicate descriptors: the sockets and their queues remain
        self._servers.clear()
        if not close:
            return []
        queued: list[socket.socket] = []
        for sock in self.sockets:
            try:
                while True:
                    conn, _ = sock.accept()
                    queued.append(conn)
            except OSError:  # BlockingIOError: the queue is empty
                pass
            sock.close()
        return queued
