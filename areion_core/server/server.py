"""The listening server: sockets, the once-a-second tick, graceful shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
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
        """Stop accepting, close idle connections, let in-flight requests finish.

        Waits up to ``grace`` seconds (the limits' ``shutdown_grace`` by default), then cuts
        what is left. Returns True when everything finished within the grace period.
        """
        state = self.state
        if state is None:
            return True
        grace = self.limits.shutdown_grace if grace is None else grace
        state.draining = True
        if self._server is not None:
            self._server.close()
        for conn in list(state.connections):
            conn.close_if_idle()
        deadline = time.monotonic() + grace
        while state.connections and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
            for conn in list(state.connections):
                conn.close_if_idle()
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
