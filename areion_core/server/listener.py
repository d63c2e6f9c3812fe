"""Listening sockets, and the connections accepted from them.

The server accepts connections itself rather than through ``loop.create_server``: uvloop (as
libuv does) accepts one connection per turn of the event loop, so when hundreds of clients
connect at once the last ones wait in the kernel's queue while the first are served, each
turn taking as long as answering every ready connection — measured, a second and more for
256 connections opened together. Here every connection the kernel has queued is accepted in
one go, and their first requests are answered in the same turn as everyone else's.
"""

from __future__ import annotations

import _socket
import asyncio
import contextlib
import errno
import functools
import logging
import socket
import ssl as _ssl
from collections.abc import Callable, Coroutine
from typing import Any

logger = logging.getLogger("areion.server")

# accept() errors that mean the process (or the system) is out of a resource: accepting
# stops for a moment instead of spinning on a socket that stays readable.
_OUT_OF_RESOURCES = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
_RESOURCE_PAUSE = 0.5


class AcceptedSocket(socket.socket):
    """An accepted connection's socket, with ``family`` and ``type`` read as plain ints.

    ``socket.socket``'s ``family`` and ``type`` are Python properties that convert the value to
    an ``IntEnum`` on every read (about 9,000 instructions each on CPython 3.11), and
    ``socket.accept()`` reads both, as does the event loop's ``connect_accepted_socket``: four
    reads, about a third of what a new connection cost (``GET /json`` with ``Connection:
    close``: 202k instructions, 143k through uvloop's own accept). These are the C attributes
    underneath, equal to the enums (``IntEnum`` is an ``int``); everything else is the socket.
    """

    __slots__ = ()
    family = _socket.socket.family  # type: ignore[assignment]
    type = _socket.socket.type  # type: ignore[assignment]


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
    """Accepts connections from listening sockets and hands each to a new protocol object."""

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
        self._attaching: set[Any] = set()
        self._listening = False

    def listen(self, sockets: list[socket.socket], backlog: int) -> None:
        """Start accepting on ``sockets`` (bound; listened on here with ``backlog``)."""
        for sock in sockets:
            sock.listen(backlog)
            sock.setblocking(False)
            if sock.family in (socket.AF_INET, socket.AF_INET6):
                # Accepted sockets inherit it: responses leave without waiting for an ACK.
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.sockets.append(sock)
        self._listening = True
        for sock in sockets:
            self.loop.add_reader(sock.fileno(), self._accept, sock)

    def _accept(self, sock: socket.socket) -> None:
        """Accept every connection the kernel has queued on ``sock``."""
        family, kind, proto = _socket.socket.family.__get__(sock), _socket.socket.type.__get__(sock), sock.proto
        accept = sock._accept  # type: ignore[attr-defined]  # (fd, address): socket.accept() without its enum reads
        while True:
            try:
                fd, _ = accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                if exc.errno in _OUT_OF_RESOURCES:
                    logger.error("cannot accept connections: %s; pausing for %.1fs", exc, _RESOURCE_PAUSE)
                    self.loop.remove_reader(sock.fileno())
                    self.loop.call_later(_RESOURCE_PAUSE, self._resume_accepting, sock)
                    return
                continue  # ECONNABORTED and the like: that client is gone, the next one waits
            self.attach(AcceptedSocket(family, kind, proto, fd))

    def _resume_accepting(self, sock: socket.socket) -> None:
        if self._listening and sock.fileno() >= 0:
            self.loop.add_reader(sock.fileno(), self._accept, sock)

    def attach(self, conn: socket.socket) -> None:
        """Make a transport and a protocol for an accepted socket."""
        conn.setblocking(False)
        coro = self.loop.connect_accepted_socket(self.protocol_factory, conn, ssl=self.ssl)
        if self.ssl is not None:
            # A TLS handshake takes several turns and a timeout: let a task drive it.
            task = self.loop.create_task(coro)
            self._attaching.add(task)
            task.add_done_callback(functools.partial(self._attached, conn))
            return
        # Plain TCP: the transport exists after the first step; what is left is waiting for
        # connection_made. Stepping the coroutine by hand saves a task per connection.
        self._step(coro, conn)

    def _step(self, coro: Coroutine[Any, Any, Any], conn: socket.socket, _: object = None) -> None:
        try:
            waiting = coro.send(None)
        except StopIteration:
            self._attaching.discard(coro)
            return
        except Exception as exc:
            self._attaching.discard(coro)
            logger.debug("could not set up an accepted connection: %r", exc)
            with contextlib.suppress(OSError):
                conn.close()
            return
        self._attaching.add(coro)  # a strong reference while it waits
        if waiting is None:
            self.loop.call_soon(self._step, coro, conn)
        else:
            waiting._asyncio_future_blocking = False
            waiting.add_done_callback(functools.partial(self._step, coro, conn))

    def _attached(self, conn: socket.socket, task: asyncio.Task[Any]) -> None:
        self._attaching.discard(task)
        if task.cancelled() or task.exception() is not None:
            if not task.cancelled():
                logger.debug("TLS connection failed: %r", task.exception())
            with contextlib.suppress(OSError):
                conn.close()

    async def settle(self, timeout: float) -> None:
        """Wait (up to ``timeout``) until every accepted connection has its protocol; close the rest."""
        deadline = self.loop.time() + timeout
        while self._attaching and self.loop.time() < deadline:  # noqa: ASYNC110 - shutdown only, a few turns
            await asyncio.sleep(0.01)
        for pending in list(self._attaching):
            if isinstance(pending, asyncio.Task):
                pending.cancel()
            else:
                pending.close()
        self._attaching.clear()

    def stop(self, close: bool = True) -> list[socket.socket]:
        """Stop accepting and close the listening sockets (unless ``close`` is false); return
        the connections still queued.

        Closing a listening socket resets the connections in its queue, whose clients may
        already have sent a request: they are taken out of the queue first, for the caller
        to serve.
        """
        self._listening = False
        queued: list[socket.socket] = []
        for sock in self.sockets:
            with contextlib.suppress(ValueError, OSError):
                self.loop.remove_reader(sock.fileno())
            try:
                while True:
                    conn, _ = sock.accept()
                    queued.append(conn)
            except OSError:  # BlockingIOError: the queue is empty
                pass
            if close:
                sock.close()
        return queued
