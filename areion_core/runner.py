"""``AreionServer``: runs an ``App`` on the HTTP server, in this process, in workers or in a thread."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import ssl as _ssl
import sys
import threading
from collections.abc import Callable
from typing import Any

from .app import App
from .server import HttpServer
from .server.workers import Supervisor

logger = logging.getLogger("areion")


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
        await app.startup()
        # Everything alive now (modules, routes, plugins) lives as long as the process: move it
        # out of the collector's generations so that collections only ever walk request garbage
        # (and forked workers do not touch, and so copy, those pages).
        gc.collect()
        gc.freeze()
        http = HttpServer(app.handle, app.make_request, app.config.limits, app.constant_headers())
        await http.start(self.host, self.port, sock=sock, ssl=self.ssl_context)
        self._http = http
        self.port = http.port
        self._stopped = asyncio.Event()

    async def stop(self, grace: float | None = None) -> None:
        """Stop accepting, drain in-flight requests (up to the grace period), run shutdown hooks."""
        if self._http is not None:
            http, self._http = self._http, None
            await http.shutdown(grace)
        await self.app.shutdown()
        if self._stopped is not None:
            self._stopped.set()

    async def serve_until_stopped(self, sock: Any = None, on_ready: Callable[[int], None] | None = None,
                                  on_stop: Callable[[], None] | None = None) -> None:
        """Serve until SIGINT or SIGTERM, then drain and stop (``on_stop`` is called as the drain begins)."""
        await self.start(sock)
        if on_ready is not None:
            on_ready(self.port)
        loop = asyncio.get_running_loop()
        stop_requested = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop_requested.set)
        await stop_requested.wait()
        logger.info("shutting down: draining in-flight requests")
        if on_stop is not None:
            on_stop()
        await self.stop()

    # --- blocking entry points ----------------------------------------------------------------
    def run(self, on_ready: Callable[[int], None] | None = None) -> int:
        """Serve until SIGINT/SIGTERM; with ``workers > 1`` pre-fork that many processes."""
        app = self.app
        app.build()
        workers = app.config.workers
        if workers > 1:
            def run_worker(worker_id: int, sock: Any) -> int:
                app.worker_id = worker_id
                self.port = supervisor.port
                with asyncio.Runner(loop_factory=new_event_loop) as runner:
                    runner.run(self.serve_until_stopped(sock, on_stop=supervisor.announce_draining))
                return 0

            supervisor = Supervisor(workers, self.host, self.port, run_worker,
                                    app.config.limits.shutdown_grace, on_ready or self._announce)
            return supervisor.run()

        with asyncio.Runner(loop_factory=new_event_loop) as runner:
            runner.run(self.serve_until_stopped(None, on_ready or self._announce))
        return 0

    def _announce(self, port: int) -> None:
        self.port = port
        workers = self.app.config.workers
        extra = f" with {workers} workers" if workers > 1 else ""
        print(f"Areion serving on {self.url}{extra} (Ctrl+C to stop)", file=sys.stderr, flush=True)

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


def _tls_from_config(tls: dict[str, str] | None) -> _ssl.SSLContext | None:
    if not tls:
        return None
    ctx = _ssl.create_default_context(_ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(tls["certfile"], tls.get("keyfile"), tls.get("password"))
    return ctx
