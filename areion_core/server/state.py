"""What every connection of one listening server shares, and the per-turn queue of ready ones."""

from __future__ import annotations

import asyncio
import contextvars
import time
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, Protocol

from .dates import serving_date
from .limits import ServerLimits

if TYPE_CHECKING:
    from .driver import DriverPool

#: ``(method, target, header pairs, body, connection, HTTP version, conditional) -> request``;
#: ``conditional`` is whether the request has If-None-Match or If-Modified-Since.
RequestFactory = Callable[[str, bytes, list[tuple[bytes, bytes]], bytes, Any, str, bool], Any]
RequestHandler = Callable[[Any], Coroutine[Any, Any, None]]
#: ``(method, target) -> (body limit, streamed)`` for a request with a body, or None for the
#: server's limit, buffered: the route's ``max_body_bytes`` and whether its handler reads the
#: body as it arrives (then the request is handed over at the end of its header section with a
#: ``BodyStream`` for a body, see body.py).
BodyPlan = Callable[[str, bytes], "tuple[int, bool] | None"]


class ServerState:
    """What every connection of one listening server shares."""

    __slots__ = (
        "_constant",
        "_tick",
        "body_plan",
        "catch_up",
        "connections",
        "context",
        "draining",
        "drivers",
        "handler",
        "head_prefix",
        "limits",
        "loop",
        "now",
        "ready",
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
        body_plan: BodyPlan | None = None,
    ) -> None:
        self.loop = loop
        self.body_plan = body_plan
        self.limits = limits
        self.handler = handler
        self.request_factory = request_factory
        self.connections: set[ServedConnection] = set()
        #: The listener to catch up after a connection is made (uvloop accepts one per turn;
        #: see listener.py), or None.
        self.catch_up: CatchUp | None = None
        #: Connections with a request to answer this turn of the loop.
        self.ready = ReadyQueue(loop)
        self._constant = constant_headers
        self.head_prefix = b""
        self.now = time.monotonic()
        self.draining = False
        #: Parked driver tasks for the next connections (set by the server that owns this state
        #: and closed at its shutdown; None: each connection makes and ends its own).
        self.drivers: DriverPool | None = None
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



class CatchUp(Protocol):
    """What a connection tells when it is made: accept what else waits (``Listener``)."""

    catching_up: bool

    def catch_up_soon(self) -> None:
        """Accept the rest of the listen queue at the end of this turn."""


class ServedConnection(Protocol):
    """What the server's shared parts (the tick, the ready queue, shutdown) need of a connection."""

    def answer_corked(self) -> None:
        """Answer the queued requests now, holding their writes back until ``uncork``."""

    def uncork(self) -> None:
        """Write what was held back, in one piece."""

    def sweep(self, now: float) -> None:
        """Apply the timeouts (called once a second)."""

    def begin_drain(self) -> None:
        """Shutdown began: make the response in flight the last one."""

    def close_if_idle(self) -> bool:
        """Close when nothing is in flight; True if closed."""

    def cancel_running(self) -> None:
        """Cancel the request in flight (the grace period is over)."""

    def abort(self) -> None:
        """Cut the connection now."""


class ReadyQueue:
    """The connections with a request ready to answer this turn of the event loop.

    The first connection to join schedules one run at the end of the turn; the run answers
    every ready connection's requests with its writes corked, then writes each connection's
    responses in one piece.
    """

    __slots__ = ("_ready", "loop")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._ready: list[ServedConnection] = []

    def add(self, conn: ServedConnection) -> None:
        if not self._ready:
            self.loop.call_soon(self._run)
        self._ready.append(conn)

    def _run(self) -> None:
        ready = self._ready
        self._ready = []
        try:
            for conn in ready:
                conn.answer_corked()
        finally:
            for conn in ready:
                conn.uncork()
