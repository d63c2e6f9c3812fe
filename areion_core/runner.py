"""``AreionServer``: runs an ``App`` on the HTTP server, in this process, in workers or in a thread."""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import os
import signal
import socket
import ssl as _ssl
import sys
import threading
from collections.abc import Callable
from typing import Any

from .app import App
from .server import HttpServer, lifeline
from .server.workers import AddressInUseError, Supervisor, WorkerHandoff, bind_exclusive, worker_command

logger = logging.getLogger("areion")

_BACKLOG = 2048
#: Listening sockets kept open across a SIGHUP re-exec of a single-process server.
_LISTEN_ENV = "AREION_LISTEN_FDS"
#: When the parent (supervisor, or `areion run --reload`) is gone: drain this long at most,
#: and end the process this long after it noticed, whatever is still running.
_ORPHAN_GRACE = 2.5
_ORPHAN_HARD_EXIT = 4.0


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop's loop when it is installed, else asyncio's."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


class AreionServer:
    """A built application bound to a host and port.

    ``run()`` blocks (with ``workers`` processes when configured); ``start()``/``stop()`` are
    the async equivalents for embedding; ``start_in_thread()`` serves from a background
    thread; ``asgi`` is the same app as an ASGI 3 callable.
    """

    def __init__(self, app: App, ssl_context: _ssl.SSLContext | None = None) -> None:
        self.app = app
        cfg = app.config
        self.host = cfg.host
        self.port = cfg.port
        self.ssl_context = ssl_context or _tls_from_config(cfg.tls)
        self._http: HttpServer | None = None
        self._stopped: asyncio.Event | None = None
        self._asgi: Any = None

    # --- 1.x compatibility: attributes ----------------------------------------------------------------------
    @property
    def router(self) -> Any:
        return self.app.router

    @property
    def logger(self) -> logging.Logger:
        return self.app.logger

    @property
    def orchestrator(self) -> Any:
        return self.app.orchestrator

    @property
    def engine(self) -> Any:
        return self.app.template_engine

    @property
    def url(self) -> str:
        scheme = "https" if self.ssl_context else "http"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.port}"

    @property
    def asgi(self) -> Any:
        """This app as an ASGI 3 application (for uvicorn, Granian, Hypercorn)."""
        if self._asgi is None:
            from .asgi import ASGIAdapter

            self._asgi = ASGIAdapter(self.app)
        return self._asgi

    # --- async lifecycle --------------------------------------------------------------------------
    async def start(self, sock: Any = None) -> None:
        """Start serving on the running loop (startup hooks first); returns once listening."""
        app = self.app
        app.build()
        app.draining = False
        await app.startup()
        # Everything alive now (modules, routes, plugins) lives as long as the process: move it
        # out of the collector's generations so that collections only ever walk request garbage
        # (and forked workers do not touch, and so copy, those pages).
        gc.collect()
        gc.freeze()
        http = HttpServer(app.handle, app.make_request, app.config.limits, app.constant_headers(),
                          body_plan=app.body_plan)
        await http.start(self.host, self.port, sock=sock, ssl=self.ssl_context)
        self._http = http
        self.port = http.port
        self._stopped = asyncio.Event()

    async def stop(self, grace: float | None = None, *, keep_listening: bool = False) -> None:
        """Stop accepting, drain in-flight requests (up to the grace period), run shutdown hooks.

        ``keep_listening`` leaves the listening sockets open (not accepting): connections
        arriving meanwhile wait in the kernel's queue for whoever serves those sockets next."""
        self.app.draining = True  # a readiness check answers "not ready" from here on
        if self._http is not None:
            http, self._http = self._http, None
            await http.shutdown(grace, close_listeners=not keep_listening)
        await self.app.shutdown()
        if self._stopped is not None:
            self._stopped.set()

    async def serve_until_stopped(self, sock: Any = None, on_ready: Callable[[int], None] | None = None,
                                  on_stop: Callable[[], None] | None = None, *, parent: int | None = None,
                                  reload_on_hup: bool = False) -> bool:
        """Serve until SIGINT or SIGTERM (or until the process behind the ``parent`` lifeline is
        gone), then drain and stop; ``on_stop`` is called as the drain begins. With
        ``reload_on_hup``, SIGHUP drains and stops too but keeps the listening sockets open and
        returns True: the caller loads the application anew on them."""
        await self.start(sock)
        if on_ready is not None:
            on_ready(self.port)
        loop = asyncio.get_running_loop()
        stop_requested = asyncio.Event()
        why: list[str] = []

        def request_stop(reason: str) -> None:
            why.append(reason)
            stop_requested.set()

        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, request_stop, "signal")
        if reload_on_hup:
            loop.add_signal_handler(signal.SIGHUP, request_stop, "reload")
        elif on_stop is not None:  # a worker: SIGHUP is its supervisor's business
            loop.add_signal_handler(signal.SIGHUP, lambda: None)
        if parent is not None:
            def orphaned() -> None:
                loop.call_soon_threadsafe(request_stop, "orphaned")

            lifeline.watch(parent, orphaned, _ORPHAN_HARD_EXIT)
        await stop_requested.wait()
        reason = why[0]
        grace = None
        if reason == "orphaned":
            logger.warning("the parent process is gone: draining for at most %.1f s, then exiting", _ORPHAN_GRACE)
            grace = min(self.app.config.limits.shutdown_grace, _ORPHAN_GRACE)
        elif reason == "reload":
            logger.info("SIGHUP: draining, then loading the application anew on the same socket")
        else:
            logger.info("shutting down: draining in-flight requests")
        if on_stop is not None:
            on_stop()
        await self.stop(grace, keep_listening=reason == "reload")
        return reason == "reload"

    # --- blocking entry points ----------------------------------------------------------------
    def run(self, on_ready: Callable[[int], None] | None = None) -> int:
        """Serve until SIGINT/SIGTERM; with ``workers > 1`` under a supervisor owning the port.

        A port that anything else listens on stops the process with one line naming it. In a
        worker process (started by the supervisor) this serves the inherited sockets and exits.
        """
        handoff = WorkerHandoff.inherited()
        if handoff is not None:
            raise SystemExit(self._run_worker(handoff))
        app = self.app
        app.build()
        app.setup_logging()  # the app may have configured logging after building the server
        workers = app.config.workers
        inherited = _inherited_listeners()
        try:
            slots = [inherited] if inherited else bind_exclusive(self.host, self.port, _BACKLOG, workers)
        except AddressInUseError as exc:
            raise SystemExit(f"areion: {exc.strerror}") from None
        announce = on_ready or self._announce
        if workers > 1:
            supervisor = Supervisor(workers, slots, worker_command(), app.config.limits.shutdown_grace)
            announce(supervisor.port)
            return supervisor.run()
        parent = lifeline.inherit()
        with asyncio.Runner(loop_factory=new_event_loop) as runner:
            reload = runner.run(self.serve_until_stopped(slots[0], None if inherited else announce,
                                                         parent=parent, reload_on_hup=True))
        if reload:
            _exec_again(slots[0], parent)
        return 0

    def _run_worker(self, handoff: WorkerHandoff) -> int:
        app = self.app
        app.build()
        app.worker_id = handoff.worker_id
        parent = lifeline.inherit()
        with asyncio.Runner(loop_factory=new_event_loop) as runner:
            runner.run(self.serve_until_stopped(handoff.sockets, lambda port: handoff.ready(),
                                                handoff.draining, parent=parent))
        return 0

    def _announce(self, port: int) -> None:
        self.port = port
        workers = self.app.config.workers
        extra = f" with {workers} workers" if workers > 1 else ""
        logger.info("Areion serving on %s%s (Ctrl+C to stop)", self.url, extra)

    def start_in_thread(self, timeout: float = 10.0) -> ServerThread:
        """Serve from a background thread; returns a handle with ``url``, ``port`` and ``stop()``."""
        handle = ServerThread(self)
        handle.start(timeout)
        return handle


class ServerThread:
    """A server running on its own event loop in a daemon thread."""

    def __init__(self, server: AreionServer) -> None:
        self.server = server
        self.loop = new_event_loop()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="areion-server", daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self.server.start())
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        self.loop.run_forever()
        self.loop.run_until_complete(self.loop.shutdown_asyncgens())
        self.loop.close()

    def start(self, timeout: float) -> None:
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError("the server did not start in time")
        if self._error is not None:
            raise self._error

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def url(self) -> str:
        return self.server.url

    def stop(self, grace: float | None = 5.0) -> None:
        """Drain and stop the server, then end the thread."""
        if not self._thread.is_alive():
            return
        future = asyncio.run_coroutine_threadsafe(self.server.stop(grace), self.loop)
        try:
            future.result((grace or 0) + 10)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(10)

    def __enter__(self) -> ServerThread:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _inherited_listeners() -> list[socket.socket]:
    """The listening sockets a SIGHUP re-exec of this process handed on to itself."""
    value = os.environ.pop(_LISTEN_ENV, None)
    if not value:
        return []
    sockets = [socket.socket(fileno=fd) for fd in json.loads(value)]
    for sock in sockets:
        sock.set_inheritable(False)
    return sockets


def _exec_again(sockets: list[socket.socket], parent: int | None) -> None:
    """Replace this process by a new run of its own command (same pid), on the same sockets.

    The sockets stay open through ``exec``, so the port is never free and connections that
    arrive meanwhile wait in the listen queue; the new image imports the application anew.
    """
    env = dict(os.environ)
    fds = [sock.fileno() for sock in sockets]
    for fd in fds:
        os.set_inheritable(fd, True)
    env[_LISTEN_ENV] = json.dumps(fds)
    if parent is not None:
        os.set_inheritable(parent, True)
        env.update(lifeline.child_env(parent))
    command = worker_command()
    logger.info("SIGHUP: starting the application again (pid %d)", os.getpid())
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(command[0], command, env)


def _tls_from_config(tls: dict[str, str] | None) -> _ssl.SSLContext | None:
    if not tls:
        return None
    ctx = _ssl.create_default_context(_ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(tls["certfile"], tls.get("keyfile"), tls.get("password"))
    return ctx
