"""WebSocket routes: the handler's ``WebSocket``, and the endpoint that switches a connection to it.

The core owns the switch, a plugin owns the protocol. A route declared with
``@router.websocket(path)`` is a GET route whose endpoint (made here) answers a plain GET
with 426, asks the protocol plugin (the ``websocket_protocol`` hook: areion-realtime) to
``check`` the handshake, and otherwise runs the handler with a :class:`WebSocket` on the
plugin's session — or, under an ASGI server, on the ASGI adapter's session, which maps the
ASGI ``websocket`` messages instead. Middleware wraps this endpoint like any route's, so an
authentication middleware that raises ``UnauthorizedError`` refuses the handshake with 401.

The handler authenticates before it accepts: ``ws.headers``, ``ws.cookies`` and
``ws.query_params`` are the request's. A handler that returns or calls ``close()`` before
``accept()`` refuses the connection (403); one that raises before accepting answers 500.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

import orjson

from .exceptions import HttpError
from .problem import problem_response
from .response import HttpResponse, SwitchedResponse
from .server.upgrade import switch_protocol

if TYPE_CHECKING:
    from .headers import Headers
    from .request import HttpRequest, QueryParams
    from .types import ByteStream, WebSocketProtocol, WebSocketSession

logger = logging.getLogger("areion.websocket")

#: Close codes (RFC 6455 §7.4.1) the handler API uses itself.
NORMAL_CLOSURE = 1000
UNSUPPORTED_DATA = 1003
INVALID_DATA = 1007


class WebSocketDisconnect(Exception):
    """The connection closed (the client's close frame, or the socket gone): ``code`` and ``reason``."""

    def __init__(self, code: int = 1000, reason: str = "") -> None:
        super().__init__(f"WebSocket closed with {code}" + (f": {reason}" if reason else ""))
        self.code = code
        self.reason = reason


class WebSocket:
    """What a WebSocket handler receives: the handshake request, then messages both ways.

    ``await ws.accept()``, then ``async for message in ws`` (``str`` for text, ``bytes`` for
    binary) until the client closes, ``receive_text/bytes/json``, ``send``,
    ``send_text/bytes/json`` and ``close(code, reason)``.
    """

    __slots__ = ("_closed", "_next", "_session", "_try_send", "request")

    def __init__(self, request: HttpRequest, session: WebSocketSession) -> None:
        self.request = request
        self._session = session
        self._closed = False
        #: What ``async for`` awaits per message: the session's own ``next_message()`` when it
        #: has one (``receive()`` that ends with ``StopAsyncIteration``: one coroutine per
        #: message, not two), else ``receive()`` wrapped here.
        self._next: Callable[[], Awaitable[str | bytes]] = getattr(session, "next_message", self._receive_or_stop)
        self._try_send: Callable[[str | bytes], bool] | None = getattr(session, "try_send", None)

    # --- the handshake request -------------------------------------------------------------
    @property
    def headers(self) -> Headers:
        return self.request.headers

    @property
    def cookies(self) -> dict[str, str]:
        return self.request.cookies

    @property
    def query_params(self) -> QueryParams:
        return self.request.query_params

    @property
    def path(self) -> str:
        return self.request.path

    @property
    def path_params(self) -> dict[str, Any]:
        return self.request.path_params

    @property
    def client(self) -> tuple[str, int] | None:
        return self.request.client

    @property
    def app(self) -> Any:
        return self.request.app

    @property
    def subprotocols(self) -> list[str]:
        """The subprotocols the client offered (``Sec-WebSocket-Protocol``), in its order."""
        offered: list[str] | None = getattr(self._session, "offered_subprotocols", None)  # ASGI's scope
        if offered is not None:
            return offered
        return header_tokens(self.request.headers.get_all("sec-websocket-protocol"), lower=False)

    @property
    def accepted(self) -> bool:
        return self._session.accepted

    # --- messages ---------------------------------------------------------------------------
    async def accept(self, subprotocol: str | None = None, headers: Sequence[tuple[str, str]] = ()) -> None:
        """Complete the handshake; ``subprotocol`` must be one the client offered."""
        if subprotocol is not None and subprotocol not in self.subprotocols:
            raise ValueError(f"subprotocol {subprotocol!r} was not offered by the client")
        await self._session.accept(subprotocol, headers)

    # receive/send hand back the session's own awaitable (no coroutine of ours per message).
    def receive(self) -> Awaitable[str | bytes]:
        """The next message; ``WebSocketDisconnect`` once the connection is closed."""
        return self._session.receive()

    async def receive_text(self) -> str:
        message = await self._session.receive()
        if isinstance(message, str):
            return message
        await self.close(UNSUPPORTED_DATA, "expected a text message")
        raise WebSocketDisconnect(UNSUPPORTED_DATA, "expected a text message")

    async def receive_bytes(self) -> bytes:
        message = await self._session.receive()
        if isinstance(message, bytes):
            return message
        await self.close(UNSUPPORTED_DATA, "expected a binary message")
        raise WebSocketDisconnect(UNSUPPORTED_DATA, "expected a binary message")

    async def receive_json(self) -> Any:
        """The next message (text or binary) parsed as JSON; invalid JSON closes with 1007."""
        message = await self._session.receive()
        try:
            return orjson.loads(message)
        except orjson.JSONDecodeError:
            await self.close(INVALID_DATA, "invalid JSON")
            raise WebSocketDisconnect(INVALID_DATA, "invalid JSON") from None

    def send(self, message: str | bytes) -> Awaitable[None]:
        """Send ``message``: a text message for ``str``, a binary one for ``bytes``."""
        return self._session.send(message)

    def try_send(self, message: str | bytes) -> bool:
        """Send ``message`` now if the connection takes it without waiting, and say so.

        False, with nothing sent, when it cannot: the connection is not open, the client is
        not reading what was sent (``await send()`` then waits for it, under the slow-consumer
        policy), or the session sends only asynchronously (under ASGI). A fan-out calls it
        from a callback, with no task switch per member, and awaits ``send()`` only then.
        """
        try_send = self._try_send
        return try_send is not None and try_send(message)

    def send_text(self, text: str) -> Awaitable[None]:
        return self._session.send(text)

    async def send_bytes(self, data: bytes) -> None:
        await self._session.send(bytes(data))

    async def send_json(self, data: Any) -> None:
        """Send ``data`` as JSON in a text message."""
        await self._session.send(orjson.dumps(data).decode())

    async def close(self, code: int = NORMAL_CLOSURE, reason: str = "") -> None:
        """Close the connection with ``code``; before ``accept()``, refuse it (403)."""
        if not self._closed:
            self._closed = True
            await self._session.close(code, reason)

    def __aiter__(self) -> AsyncIterator[str | bytes]:
        return self

    def __anext__(self) -> Awaitable[str | bytes]:
        # Not an async generator: iterating costs the session's awaitable per message, no asend().
        return self._next()

    async def _receive_or_stop(self) -> str | bytes:
        try:
            return await self._session.receive()
        except WebSocketDisconnect:
            raise StopAsyncIteration from None


def header_tokens(values: Sequence[str], lower: bool = True) -> list[str]:
    """The comma-separated tokens of a header's fields (RFC 9110 §5.6.1), empty ones dropped."""
    out = []
    for value in values:
        for part in value.split(","):
            token = part.strip(" \t")
            if token:
                out.append(token.lower() if lower else token)
    return out


def is_websocket_upgrade(request: HttpRequest) -> bool:
    """A GET asking to switch to WebSocket: ``Connection: upgrade`` and ``Upgrade: websocket``."""
    headers = request.headers
    return (request.method == "GET"
            and "upgrade" in header_tokens(headers.get_all("connection"))
            and "websocket" in header_tokens(headers.get_all("upgrade")))


class ConnectionSwitch:
    """Areion's own server's :class:`~areion_core.types.ProtocolSwitch`: the 101 on ``request.conn``."""

    __slots__ = ("_conn",)

    def __init__(self, conn: Any) -> None:
        self._conn = conn

    def switch(self, headers: Sequence[tuple[str, str]]) -> ByteStream:
        head = [b"HTTP/1.1 101 Switching Protocols\r\n", self._conn.head_prefix]
        for name, value in headers:
            if "\r" in name or "\n" in name or "\r" in value or "\n" in value:
                raise ValueError(f"invalid header {name!r}")
            head.append(f"{name}: {value}\r\n".encode("latin-1"))
        head.append(b"\r\n")
        return switch_protocol(self._conn, b"".join(head))


def upgrade_required() -> HttpError:
    """The answer to a plain request on a WebSocket route (RFC 9110 §15.5.22)."""
    return HttpError("This resource speaks WebSocket only: send an Upgrade: websocket request.", 426,
                     headers={"Upgrade": "websocket"})


def websocket_endpoint(
    handler: Callable[..., Awaitable[Any]], protocol: WebSocketProtocol, where: str,
) -> Callable[..., Awaitable[HttpResponse]]:
    """The request-level handler of a WebSocket route (what its middleware wraps).

    ``handler(ws, **path_params)`` is the user's. Returns a ``SwitchedResponse`` (nothing more
    to write) when the connection was accepted, else the refusal.
    """

    async def websocket_route(request: HttpRequest, **params: Any) -> HttpResponse:
        conn = request.conn
        asgi_session = getattr(conn, "websocket_session", None)
        if asgi_session is None and not is_websocket_upgrade(request):
            raise upgrade_required()
        if asgi_session is None and getattr(getattr(conn, "reader", None), "upgrade_rest", None) is None:
            raise upgrade_required()  # not an Upgrade request as the server read it
        refusal = protocol.check(request)
        if refusal is not None:
            return refusal
        session: WebSocketSession = (asgi_session(request) if asgi_session is not None
                                     else protocol.session(request, ConnectionSwitch(conn)))
        error: BaseException | None = None
        # The handler runs as a task of its own: every message wakes it through its own few
        # frames, not through the request's whole chain (the connection's driver, dispatch,
        # middleware, this endpoint). Cancelling the request cancels it.
        task = asyncio.ensure_future(handler(WebSocket(request, session), **params))
        try:
            await task
        except asyncio.CancelledError:
            task.cancel()
            raise
        except WebSocketDisconnect:
            pass
        except Exception as exc:
            error = exc
            if session.accepted:
                logger.error("WebSocket handler %s failed", where, exc_info=exc)
        await session.finish(error)
        if session.accepted:
            return SwitchedResponse()
        if error is not None:
            raise error  # before the handshake: an ordinary failed request (500, or its HttpError)
        return problem_response(403, "The WebSocket handler refused the connection.")

    return websocket_route
