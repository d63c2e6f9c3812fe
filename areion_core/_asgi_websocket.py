"""The ASGI ``websocket`` scope: the same WebSocket routes and handlers under uvicorn & co.

The ASGI server speaks the WebSocket protocol itself; the scope becomes a GET request that
goes through the same dispatcher, middleware and WebSocket endpoint as on Areion's own
server. The connection stand-in below offers ``websocket_session``, which maps the handler's
calls to ASGI messages both ways: ``websocket.connect`` (read before dispatch),
``websocket.accept``, ``websocket.receive`` / ``websocket.send``, ``websocket.close`` and
``websocket.disconnect``. A request answered without accepting (a refusal, a 404, a 426 from
a middleware) is sent as that HTTP response when the server offers the
``websocket.http.response`` extension, else as ``websocket.close`` (the server answers 403).
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

from .websocket import WebSocketDisconnect

_GONE = (OSError, RuntimeError)  # what ASGI servers raise on a send after the client left


class ASGIWebSocketSession:
    """``WebSocketSession`` over ASGI ``websocket.*`` messages."""

    def __init__(self, receive: Any, send: Any, offered: list[str]) -> None:
        #: The subprotocols the client offered, as the server parsed them (the scope's).
        self.offered_subprotocols = offered
        self._receive = receive
        self._send = send
        self.accepted = False
        self.refused = False
        self._closed: tuple[int, str] | None = None
        self._close_sent = False

    async def accept(self, subprotocol: str | None, headers: Sequence[tuple[str, str]]) -> None:
        if self.accepted or self.refused:
            raise RuntimeError("accept() after the connection was accepted or refused")
        await self._send({"type": "websocket.accept", "subprotocol": subprotocol,
                          "headers": [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers]})
        self.accepted = True

    async def receive(self) -> str | bytes:
        if self._closed is not None:
            raise WebSocketDisconnect(*self._closed)
        if not self.accepted:
            raise RuntimeError("receive() before accept()")
        message = await self._receive()
        kind = message["type"]
        if kind == "websocket.receive":
            text = message.get("text")
            return text if text is not None else bytes(message.get("bytes") or b"")
        self._closed = (int(message.get("code", 1005)), str(message.get("reason") or ""))
        raise WebSocketDisconnect(*self._closed)

    async def send(self, message: str | bytes) -> None:
        if self._closed is not None:
            raise WebSocketDisconnect(*self._closed)
        key = "text" if isinstance(message, str) else "bytes"
        try:
            await self._send({"type": "websocket.send", key: message})
        except _GONE:
            self._closed = (1006, "connection lost")
            raise WebSocketDisconnect(*self._closed) from None

    async def close(self, code: int, reason: str) -> None:
        if not self.accepted:
            self.refused = True
            return
        if not self._close_sent:
            self._close_sent = True
            with contextlib.suppress(*_GONE):
                await self._send({"type": "websocket.close", "code": code, "reason": reason})
        if self._closed is None:
            self._closed = (code, reason)

    async def finish(self, error: BaseException | None) -> None:
        if self.accepted and not self._close_sent:
            await self.close(1011 if error is not None else 1000, "internal error" if error is not None else "")


class ASGIWebSocketConnection:
    """Stands in for ``HttpConnection`` for a ``websocket`` scope (``request.conn``)."""

    raw_framing = False

    def __init__(self, receive: Any, send: Any, scope: dict[str, Any], head_prefix: bytes) -> None:
        client = scope.get("client")
        self.client = (client[0], client[1]) if client else None
        self.tls = scope.get("scheme") in ("wss", "https")
        self.head_prefix = head_prefix
        self.keep_alive = False
        self.bytes_written = 0
        self.closed = False
        self._send = send
        self._http = "websocket.http.response" in (scope.get("extensions") or {})
        self._written: list[bytes] = []
        self.session = ASGIWebSocketSession(receive, send, [str(p) for p in scope.get("subprotocols") or ()])

    def websocket_session(self, request: Any) -> ASGIWebSocketSession:
        """The session the WebSocket endpoint runs the handler on."""
        return self.session

    def write(self, data: bytes) -> None:
        self.bytes_written += len(data)
        self._written.append(bytes(data))

    async def drain(self) -> None:
        return None

    async def sendfile(self, file: Any, offset: int, count: int) -> None:
        file.seek(offset)
        self.write(file.read(count))

    def end_after_response(self) -> None:
        self.keep_alive = False

    async def finish(self) -> None:
        """After dispatch: a request that was not accepted is refused with what was written."""
        if self.session.accepted:
            return
        data = b"".join(self._written)
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        try:
            status = int(lines[0].split(b" ")[1])
        except (IndexError, ValueError):
            status = 403
        with contextlib.suppress(*_GONE):
            if not self._http:
                await self._send({"type": "websocket.close", "code": 1008 if status < 500 else 1011, "reason": ""})
                return
            headers = []
            for line in lines[1:]:
                name, _, value = line.partition(b":")
                lname = name.strip().lower()
                if lname not in (b"connection", b"transfer-encoding", b"keep-alive"):
                    headers.append((lname, value.strip()))
            await self._send({"type": "websocket.http.response.start", "status": status, "headers": headers})
            await self._send({"type": "websocket.http.response.body", "body": body})
