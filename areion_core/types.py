"""The contracts the parts of Areion are written against, as ``Protocol`` classes.

A leaf module: it imports nothing from Areion at run time (and, for type checking, only
modules that do not import it back), so every other module can type against it without an
import cycle. Each protocol names what its users may rely on:

- :class:`Connection` — what a response is written through: Areion's own HTTP connection,
  or the ASGI adapter's stand-in;
- :class:`PluginApp` — the application as plugins, handlers and the request path see it;
- :class:`TemplateEngine` — what ``request.render_template`` needs (areion-templates'
  ``DefaultEngine`` is one);
- :class:`Orchestrator` — what ``request.submit_task`` needs (areion-scheduling's
  ``DefaultOrchestrator`` is one);
- :class:`Plugin` — what a plugin object has besides its ``@hookimpl`` methods;
- :class:`WebSocketProtocol`, :class:`WebSocketSession`, :class:`ProtocolSwitch` and
  :class:`ByteStream` — how a plugin (areion-realtime) supplies the WebSocket protocol the
  core switches a connection to (``docs/architecture.md``, "Protocol switches").
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol, runtime_checkable

if TYPE_CHECKING:
    import pluggy

    from .config import AreionConfig
    from .response import HttpResponse
    from .routing import Route, Router
    from .telemetry import Telemetry


@runtime_checkable
class Connection(Protocol):
    """What a response is written through (``request.conn``).

    The connection owns its keep-alive decision: ``keep_alive`` is read when a response head
    is written, and only the connection changes it — a writer that cannot keep the framing
    it promised asks for the connection to end with :meth:`end_after_response`.
    """

    #: The peer's ``(host, port)``, or None when not on a socket.
    client: tuple[str, int] | None
    #: Whether the connection is TLS.
    tls: bool
    #: True when bodies are framed by the writer (Content-Length or chunked); False when the
    #: server underneath frames them itself (ASGI).
    raw_framing: bool
    #: Whether the connection stays open after the response being written now.
    keep_alive: bool
    #: Bytes written so far (what the access log counts).
    bytes_written: int

    @property
    def closed(self) -> bool:
        """True once the client has gone or the connection was closed."""

    @property
    def head_prefix(self) -> bytes:
        """Pre-encoded header lines every response carries (``Date``, ``Server``, global headers)."""

    def write(self, data: bytes) -> None:
        """Queue bytes for the client."""

    async def drain(self) -> None:
        """Wait while the client is not taking what was written (back-pressure)."""

    async def sendfile(self, file: BinaryIO, offset: int, count: int) -> None:
        """Send ``count`` bytes of an open file from ``offset``."""

    def end_after_response(self) -> None:
        """Close the connection once the response being written now is complete."""


@runtime_checkable
class TemplateEngine(Protocol):
    """Renders templates into responses (``request.render_template``).

    An engine may also have ``render_async``, ``stream``, ``startup(app)`` and
    ``shutdown(app)``; the core uses them when present.
    """

    def render(self, template_name: str, context: dict[str, Any], request: Any = None) -> HttpResponse:
        """The rendered template as a response (``request``: the ``HttpRequest`` being answered, if any)."""


@runtime_checkable
class Orchestrator(Protocol):
    """Runs work in the background (``request.submit_task``).

    An orchestrator may also have ``startup(app)`` and ``shutdown(app)``; the app calls them.
    """

    def submit_task(self, task: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run ``task(*args, **kwargs)`` in the background; returns a handle to it."""


@runtime_checkable
class Plugin(Protocol):
    """A plugin object: a ``name`` (its entry-point name) and ``@hookimpl`` methods."""

    name: str


class PluginApp(Protocol):
    """The application as plugins (in every cold hook), handlers and the request path see it."""

    config: AreionConfig
    router: Router
    routes: list[Route]
    logger: logging.Logger
    development: bool
    root_path: str
    #: Free-form state shared by the app's plugins (namespaced keys).
    state: dict[str, Any]
    template_engine: TemplateEngine | None
    orchestrator: Orchestrator | None
    #: Request header name → a function of the ``HttpRequest`` reducing that header's value
    #: to what changes a response.
    vary_normalizers: dict[str, Callable[[Any], str]]
    worker_id: int
    worker_count: int
    #: True once the server drains before stopping (a readiness check reports "not ready").
    draining: bool
    #: Where plugins report metrics and trace spans (``areion_core.Telemetry``).
    telemetry: Telemetry
    #: The pluggy plugin manager, for a plugin that adds hook specs of its own.
    pm: pluggy.PluginManager

    def get_plugin(self, name: str) -> Any:
        """The loaded plugin called ``name``, or None."""

    def url_for(self, name: str, **params: Any) -> str:
        """The path of the route called ``name`` with ``params`` filled in."""

    def find_route(self, method: str, path: str) -> Route | None:
        """The route that would answer ``method`` on the raw request ``path``, or None."""

@runtime_checkable
class ByteStream(Protocol):
    """A connection's bytes after ``101 Switching Protocols`` (what :class:`ProtocolSwitch` gives)."""

    #: Called once when the server begins to shut down (set it to close politely).
    on_shutdown: Callable[[], None] | None

    @property
    def closed(self) -> bool:
        """True once the connection is gone."""

    @property
    def write_blocked(self) -> bool:
        """True while the client is not taking what was written (``drain`` would wait)."""

    def start_reading(self, on_data: Callable[[bytes], None], on_eof: Callable[[], None]) -> None:
        """Call ``on_data(bytes)`` as bytes arrive (what came with the 101 first), ``on_eof()`` at the end."""

    def pause_reading(self) -> None:
        """Stop reading from the socket until ``resume_reading``."""

    def resume_reading(self) -> None:
        """Read from the socket again."""

    def write(self, data: bytes) -> None:
        """Queue bytes for the client."""

    async def drain(self) -> None:
        """Wait while the client is not taking what was written."""

    def close(self) -> None:
        """Send what is buffered, then close the connection."""

    def abort(self) -> None:
        """Cut the connection now."""


class ProtocolSwitch(Protocol):
    """The core's side of an Upgrade: writes the 101 and hands over the connection."""

    def switch(self, headers: Sequence[tuple[str, str]]) -> ByteStream:
        """Write ``101 Switching Protocols`` with ``headers``; the connection's bytes from now on."""


class WebSocketSession(Protocol):
    """One WebSocket at the message level: what the handler's ``WebSocket`` runs on.

    areion-realtime's runs the protocol over a :class:`ByteStream`; the ASGI adapter's maps
    the ASGI ``websocket`` messages. ``receive`` raises ``WebSocketDisconnect`` once closed.
    """

    #: True once ``accept`` has switched the connection.
    accepted: bool

    async def accept(self, subprotocol: str | None, headers: Sequence[tuple[str, str]]) -> None:
        """Complete the handshake (the 101), choosing ``subprotocol`` (one the client offered)."""

    async def receive(self) -> str | bytes:
        """The next whole message: ``str`` for text, ``bytes`` for binary."""

    async def send(self, message: str | bytes) -> None:
        """Send one message (text for ``str``, binary for ``bytes``)."""

    async def close(self, code: int, reason: str) -> None:
        """Close with ``code``; before ``accept``, refuse the connection instead (403)."""

    async def finish(self, error: BaseException | None) -> None:
        """The handler has returned (or raised ``error``): close (1000, or 1011) and wait for the end."""


@runtime_checkable
class WebSocketProtocol(Protocol):
    """What the ``websocket_protocol`` hook returns: the plugin that speaks WebSocket.

    ``request`` is the handshake's ``HttpRequest`` (typed ``Any`` here: this module is a leaf).
    """

    def check(self, request: Any) -> HttpResponse | None:
        """The refusal of a handshake before the handler runs (400, 403, 426, 503), or None."""

    def session(self, request: Any, switch: ProtocolSwitch) -> WebSocketSession:
        """The session of a handshake ``check`` let through, on Areion's own server."""
