"""The listening server: sockets, the once-a-second tick, graceful shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import os
import socket
import ssl as _ssl
import time
from collections.abc import Awaitable, Callable
from typing import Any

from .dates import serving_date
from .limits import ServerLimits
from .protocol import HttpConnection

logger = logging.getLogger("areion.server")

RequestFactory = Callable[[str, bytes, list[tuple[bytes, bytes]], bytes, HttpConnection, str], Any]
RequestHandler = Callable[[Any], Awaitable[None]]


class ServerState:
    """What every connection of one listening server shares."""

    __slots__ = (
        "_constant",
        "_tick",
        "connections",
        "context",
        "draining",
        "handler",
        "head_prefix",
        "limits",
        "loop",
        "now",
        "rejected",
        "request_factory",
        "sendfile_ok",
        "shed",
        "tls",
    )

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        handler: RequestHandler,
        request_factory: RequestFactory,
        limits: ServerLimits,
        constant_headers: bytes,
        tls: bool = False,
    ) -> None:
        self.loop = loop
        self.limits = limits
        self.handler = handler
        self.request_factory = request_factory
        self.connections: set[HttpConnection] = set()
        self._constant = constant_headers
        self.head_prefix = b""
        self.now = time.monotonic()
        self.draining = False
        self.tls = tls
        self._tick: asyncio.TimerHandle | None = None
        self.shed = 0
        self.rejected = 0
        # uvloop has no sendfile; asyncio's selector loop has one for plain TCP.
        self.sendfile_ok = type(loop).__module__.startswith("asyncio")
        #: Each request runs in a fresh copy of this (the context the server started in).
        self.context = contextvars.copy_context()
        self._refresh()

    def _refresh(self) -> None:
        # The Date header changes once a second; computing it per response would cost ~1 µs.
        self.head_prefix = b"Date: " + serving_date() + b"\r\n" + self._constant
        self.now = time.monotonic()

    def start_ticking(self) -> None:
        self._tick = self.loop.call_later(1.0 - (time.time() % 1.0), self._on_tick)

    def _on_tick(self) -> None:
        self._refresh()
        now = self.now
        for conn in list(self.connections):
            conn.sweep(now)
        self._tick = self.loop.call_later(1.0 - (time.time() % 1.0), self._on_tick)

    def stop_ticking(self) -> None:
        if self._tick is not None:
            self._tick.cancel()
            self._tick = None


class HttpServer:
    """Serves one app on one socket, in one process.

    ``handler(request)`` is awaited for every request and writes the response through
    ``request.conn``; ``request_factory`` builds the request object the handler receives.
    """

    def __init__(
        self,
        handler: RequestHandler,
        request_factory: RequestFactory,
        limits: ServerLimits | None = None,
        constant_headers: bytes = b"",
    ) -> None:
        self.handler = handler
        self.request_factory = request_factory
        self.limits = limits or ServerLimits()
        self.constant_headers = constant_headers
        self.state: ServerState | None = None
        self._server: asyncio.base_events.Server | None = None
        self._factory: Callable[[], HttpConnection] | None = None
        self._ssl: _ssl.SSLContext | None = None
        self.sockets: list[socket.socket] = []

    async def start(
        self,
        host: str = "127.0.0.1",
        port: int = 8000,
        *,
        sock: socket.socket | None = None,
        ssl: _ssl.SSLContext | None = None,
        reuse_port: bool = False,
        backlog: int = 2048,
    ) -> None:
        loop = asyncio.get_running_loop()
        state = ServerState(loop, self.handler, self.request_factory, self.limits,
                            self.constant_headers, tls=ssl is not None)
        self.state = state

        def factory() -> HttpConnection:
            return HttpConnection(state)

        self._factory = factory
        self._ssl = ssl
        if sock is not None:
            self._server = await loop.create_server(factory, sock=sock, ssl=ssl, backlog=backlog)
        else:
            self._server = await loop.create_server(
                factory, host, port, ssl=ssl, backlog=backlog, reuse_address=True,
                reuse_port=reuse_port or None,
            )
        self.sockets = list(self._server.sockets)
        for s in self.sockets:
            if s.family in (socket.AF_INET, socket.AF_INET6):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        state.start_ticking()

    @property
    def port(self) -> int:
        return int(self.sockets[0].getsockname()[1]) if self.sockets else 0

    async def shutdown(self, grace: float | None = None) -> bool:
        """Stop accepting, let in-flight requests finish, close idle connections.

        Connections already waiting in the listen queue are accepted and served rather than
        reset. A connection with a request in progress answers it (and any it has already
        read) with ``Connection: close``. An idle keep-alive connection stays open for
        ``limits.drain_linger`` seconds so that a request already on its way is answered (with
        ``Connection: close``) instead of meeting a closed socket, then is closed. After
        ``grace`` seconds (the limits' ``shutdown_grace`` by default) what is left is cut.
        Returns True when everything finished within the grace period.
        """
        state = self.state
        if state is None:
            return True
        grace = self.limits.shutdown_grace if grace is None else grace
        started = time.monotonic()
        deadline = started + grace
        linger_until = started + min(self.limits.drain_linger, grace)
        state.draining = True
        queued = self._stop_listening()
        for conn in list(state.connections):
            conn.begin_drain()
        if queued:
            await self._serve_queued(queued, max(0.1, linger_until - time.monotonic()))
        while state.connections and time.monotonic() < deadline:
            if time.monotonic() >= linger_until:
                for conn in list(state.connections):
                    conn.close_if_idle()
                if not state.connections:
                    break
            await asyncio.sleep(0.02)
        clean = not state.connections
        for conn in list(state.connections):
            conn.cancel_running()
            conn._abort()
        state.stop_ticking()
        if self._server is not None:
            # wait_closed() can wait on clients we already aborted; never let it hang shutdown.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 1.0)
        return clean

    async def _serve_queued(self, queued: list[socket.socket], timeout: float) -> None:
        """Hand connections taken from the listen queue to the protocol (a TLS handshake first)."""
        assert self._factory is not None
        loop = asyncio.get_running_loop()
        tasks = {loop.create_task(loop.connect_accepted_socket(self._factory, sock, ssl=self._ssl)): sock
                 for sock in queued}
        _, late = await asyncio.wait(tasks, timeout=timeout)
        for task, sock in tasks.items():
            if task in late:
                task.cancel()
                sock.close()
            elif task.cancelled() or task.exception() is not None:
                sock.close()

    def _stop_listening(self) -> list[socket.socket]:
        """Close the listening sockets; return the connections the kernel had queued on them.

        Closing a listening socket resets the connections still in its queue, whose clients
        may already have sent a request. A duplicate of each socket keeps it listening while
        the event loop lets go of it, and the queue is emptied through the duplicate.
        """
        dups: list[socket.socket] = []
        for listener in self.sockets:
            with contextlib.suppress(OSError):
                dups.append(socket.socket(fileno=os.dup(listener.fileno())))
        if self._server is not None:
            self._server.close()
        queued: list[socket.socket] = []
        for dup in dups:
            dup.setblocking(False)
            try:
                while True:
                    conn, _ = dup.accept()
                    conn.setblocking(False)
                    queued.append(conn)
            except OSError:  # BlockingIOError: the queue is empty
                pass
            finally:
                dup.close()
        return queued
