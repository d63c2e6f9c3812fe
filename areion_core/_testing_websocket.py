"""``TestClient.websocket_connect()``: a real WebSocket client on the real server code, no port.

A socket pair joins the two: one end is served by the same ``HttpConnection`` the server
uses (so the upgrade, the 101 and the protocol plugin all run as in production), the other
is driven by the ``websockets`` library's client (a test dependency, imported on first use).
The sync ``TestClient`` runs its event loop in a background thread while a WebSocket is
open, so the test's own thread can block on ``receive_*``.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Mapping, Sequence
from typing import Any

import orjson


def _websockets() -> Any:
    try:
        import websockets
        import websockets.asyncio.client
        import websockets.sync.client
    except ImportError as exc:  # pragma: no cover - a test dependency
        raise RuntimeError("websocket_connect() needs the websockets library: pip install websockets") from exc
    return websockets


def _options(headers: Mapping[str, str] | None, subprotocols: Sequence[str] | None,
             timeout: float) -> dict[str, Any]:
    return {"additional_headers": dict(headers or {}), "open_timeout": timeout, "close_timeout": timeout,
            "subprotocols": list(subprotocols) if subprotocols else None, "ping_interval": None,
            "max_size": None}


class WebSocketTestSession:
    """The client side of a test WebSocket (sync): ``send_*``, ``receive_*``, ``close``.

    ``connection`` is the ``websockets.sync.client.ClientConnection``; ``subprotocol`` and
    ``response`` (the handshake's) come from it. A refused handshake raises
    ``websockets.exceptions.InvalidStatus`` from ``websocket_connect`` (``exc.response``).
    """

    __test__ = False

    def __init__(self, connection: Any) -> None:
        self.connection = connection

    @property
    def subprotocol(self) -> str | None:
        value: str | None = self.connection.subprotocol
        return value

    @property
    def response(self) -> Any:
        return self.connection.response

    def send(self, message: str | bytes) -> None:
        self.connection.send(message)

    send_text = send_bytes = send

    def send_json(self, data: Any) -> None:
        self.connection.send(orjson.dumps(data).decode())

    def receive(self, timeout: float | None = 10.0) -> str | bytes:
        message: str | bytes = self.connection.recv(timeout)
        return message

    def receive_text(self, timeout: float | None = 10.0) -> str:
        message = self.receive(timeout)
        if not isinstance(message, str):
            raise TypeError(f"expected a text message, got {message!r}")
        return message

    def receive_bytes(self, timeout: float | None = 10.0) -> bytes:
        message = self.receive(timeout)
        if not isinstance(message, bytes):
            raise TypeError(f"expected a binary message, got {message!r}")
        return message

    def receive_json(self, timeout: float | None = 10.0) -> Any:
        return orjson.loads(self.receive(timeout))

    def close(self, code: int = 1000, reason: str = "") -> None:
        self.connection.close(code, reason)

    @property
    def close_code(self) -> int | None:
        """The code the server closed with (once closed)."""
        value: int | None = self.connection.close_code
        return value


class SyncWebSocketContext:
    """``with client.websocket_connect(path) as ws:`` for the sync ``TestClient``."""

    def __init__(self, owner: Any, path: str, headers: Mapping[str, str] | None,
                 subprotocols: Sequence[str] | None, timeout: float) -> None:
        self._owner = owner
        self._path = path
        self._options = _options(headers, subprotocols, timeout)
        self._session: WebSocketTestSession | None = None

    def __enter__(self) -> WebSocketTestSession:
        ws = _websockets()
        owner = self._owner
        server_end, client_end = socket.socketpair()
        owner._loop_thread_enter()
        try:
            owner._run(owner._client._serve_socket(server_end))
            connection = ws.sync.client.connect("ws://testserver" + self._path, sock=client_end, legacy=True,
                                                **self._options)
        except BaseException:
            client_end.close()
            owner._loop_thread_exit()
            raise
        self._session = WebSocketTestSession(connection)
        return self._session

    def __exit__(self, *exc: object) -> None:
        try:
            if self._session is not None:
                self._session.connection.close()
        finally:
            self._owner._loop_thread_exit()


class AsyncWebSocketTestSession:
    """The client side of a test WebSocket (async): ``await ws.send_text(...)``, ``await ws.receive_text()``."""

    __test__ = False

    def __init__(self, connection: Any) -> None:
        self.connection = connection

    @property
    def subprotocol(self) -> str | None:
        value: str | None = self.connection.subprotocol
        return value

    async def send(self, message: str | bytes) -> None:
        await self.connection.send(message)

    send_text = send_bytes = send

    async def send_json(self, data: Any) -> None:
        await self.connection.send(orjson.dumps(data).decode())

    async def receive(self, timeout: float = 10.0) -> str | bytes:
        message: str | bytes = await asyncio.wait_for(self.connection.recv(), timeout)
        return message

    async def receive_text(self, timeout: float = 10.0) -> str:
        message = await self.receive(timeout)
        if not isinstance(message, str):
            raise TypeError(f"expected a text message, got {message!r}")
        return message

    async def receive_bytes(self, timeout: float = 10.0) -> bytes:
        message = await self.receive(timeout)
        if not isinstance(message, bytes):
            raise TypeError(f"expected a binary message, got {message!r}")
        return message

    async def receive_json(self, timeout: float = 10.0) -> Any:
        return orjson.loads(await self.receive(timeout))

    async def close(self, code: int = 1000, reason: str = "") -> None:
        await self.connection.close(code, reason)

    @property
    def close_code(self) -> int | None:
        value: int | None = self.connection.close_code
        return value


class AsyncWebSocketContext:
    """``async with client.websocket_connect(path) as ws:`` for ``AsyncTestClient``."""

    def __init__(self, client: Any, path: str, headers: Mapping[str, str] | None,
                 subprotocols: Sequence[str] | None, timeout: float) -> None:
        self._client = client
        self._path = path
        self._options = _options(headers, subprotocols, timeout)
        self._session: AsyncWebSocketTestSession | None = None

    async def __aenter__(self) -> AsyncWebSocketTestSession:
        ws = _websockets()
        server_end, client_end = socket.socketpair()
        await self._client._serve_socket(server_end)
        connection = await ws.asyncio.client.connect("ws://testserver" + self._path, sock=client_end,
                                                     **self._options)
        self._session = AsyncWebSocketTestSession(connection)
        return self._session

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.connection.close()


class LoopThread:
    """Runs an event loop in a background thread while WebSockets are open (sync TestClient)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.users = 0
        self.thread: threading.Thread | None = None

    def enter(self) -> None:
        self.users += 1
        if self.thread is None:
            self.thread = threading.Thread(target=self.loop.run_forever, name="areion-testclient", daemon=True)
            self.thread.start()

    def exit(self) -> None:
        self.users -= 1
        if self.users == 0 and self.thread is not None:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join()
            self.thread = None

    def run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()
