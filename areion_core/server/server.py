"""The listening server: its sockets, its connections, graceful shutdown."""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl as _ssl
import time

from .connection import HttpConnection
from .driver import DriverPool
from .limits import ServerLimits
from .listener import Listener, bind_sockets
from .memory import release_free_memory, tune_allocator
from .state import BodyPlan, RequestFactory, RequestHandler, ServerState

logger = logging.getLogger("areion.server")

class HttpServer:
    """Serves one app on its listening sockets, in one process.

    ``handler(request)`` is awaited for every request and writes the response through
    ``request.conn``; ``request_factory`` builds the request object the handler receives.
    """

    def __init__(
        self,
        handler: RequestHandler,
        request_factory: RequestFactory,
        limits: ServerLimits | None = None,
        constant_headers: bytes = b"",
        body_plan: BodyPlan | None = None,
    ) -> None:
        self.handler = handler
        self.body_plan = body_plan
        self.request_factory = request_factory
        self.limits = limits or ServerLimits()
        self.constant_headers = constant_headers
        self.state: ServerState | None = None
        self._listener: Listener | None = None
        self.sockets: list[socket.socket] = []

    async def start(
        self,
        host: str = "127.0.0.1",
        port: int = 8000,
        *,
        sock: socket.socket | list[socket.socket] | None = None,
        ssl: _ssl.SSLContext | None = None,
        reuse_port: bool = False,
        backlog: int = 2048,
    ) -> None:
        """Listen on ``host:port`` (or on ``sock``, already bound: one socket or several) and start serving."""
        loop = asyncio.get_running_loop()
        tune_allocator()  # large request bodies without page-fault churn (see memory.py)
        state = ServerState(loop, self.handler, self.request_factory, self.limits,
                            self.constant_headers, tls=ssl is not None,
                            body_plan=self.body_plan)
        state.drivers = DriverPool()
        self.state = state

        def factory() -> HttpConnection:
            return HttpConnection(state)

        if sock is None:
            sockets = bind_sockets(host, port, backlog, reuse_port)
        else:
            sockets = list(sock) if isinstance(sock, list) else [sock]
        listener = self._listener = Listener(loop, factory, ssl)
        await listener.listen(sockets, backlog)
        if listener.needs_catch_up:
            state.catch_up = listener
        self.sockets = list(sockets)
        state.start_ticking()
        release_free_memory()  # what startup allocated and freed goes back to the system (memory.py)

    @property
    def port(self) -> int:
        return int(self.sockets[0].getsockname()[1]) if self.sockets else 0

    async def shutdown(self, grace: float | None = None, close_listeners: bool = True) -> bool:
        """Stop accepting, let in-flight requests finish, close idle connections.

        Connections already waiting in the listen queue are accepted and served rather than
        reset. A connection with a request in progress answers it (and any it has already
        read) with ``Connection: close``. An idle keep-alive connection stays open for
        ``limits.drain_linger`` seconds so that a request already on its way is answered (with
        ``Connection: close``) instead of meeting a closed socket, then is closed. After
        ``grace`` seconds (the limits' ``shutdown_grace`` by default) what is left is cut.
        With ``close_listeners=False`` the listening sockets stay open, not accepting (their
        queue waits for whoever serves them next). Returns True when everything finished
        within the grace period.
        """
        state = self.state
        listener = self._listener
        if state is None or listener is None:
            return True
        grace = self.limits.shutdown_grace if grace is None else grace
        started = time.monotonic()
        deadline = started + grace
        linger_until = started + min(self.limits.drain_linger, grace)
        state.draining = True
        queued = listener.stop(close=close_listeners)
        for conn in list(state.connections):
            conn.begin_drain()
        for sock in queued:
            listener.attach(sock)
        await listener.settle(max(0.1, linger_until - time.monotonic()))
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
            conn.abort()
        state.stop_ticking()
        if state.drivers is not None:
            state.drivers.close()
        return clean
