"""The app as an ASGI 3 callable, so it runs unchanged under uvicorn, Granian or Hypercorn.

The request goes through exactly the same ``App.handle`` as on Areion's own server; the
connection object below turns what it writes into ASGI ``http.response.*`` messages.

- ``root_path`` (``uvicorn --root-path /svc``): routes match the path below it, whether the
  server's ``path`` includes it (uvicorn, as the ASGI spec now says) or not, and ``url_for``
  and redirects put it back in front.
- The scope's ``client`` and ``scheme`` are the connection's peer and scheme: behind a proxy,
  ``forwarded_allow_ips`` applies to them exactly as on Areion's own server.
- A route that streams its request body (``request.stream()``, ``request.form()``) reads it
  from ``receive()`` as the handler asks (``ASGIBodySource``); the ASGI server's own flow
  control then holds the client back. Other bodies are read whole first. Both are held to
  the route's ``max_body_bytes`` (a declared Content-Length over it: 413 before reading).
- A client that disconnects while a body streams stops it: the handler is cancelled where it
  waits, so the body's generator is closed and its ``finally`` runs — the server's ``send``
  would otherwise return quietly and the generator run on (and hold up shutdown).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from ._asgi_websocket import ASGIWebSocketConnection
from .app import App
from .request_body import ASGIBodySource
from .server.connection import problem_body

Scope = dict[str, Any]


_DISCONNECTED = bytearray(b"disconnected")  # a sentinel, compared by identity


def _declared_length(headers: list[tuple[bytes, bytes]]) -> int:
    """The request's Content-Length, or -1."""
    for name, value in headers:
        if name.lower() == b"content-length":
            return int(value) if value.isdigit() else -1
    return -1


async def _too_large(send: Any) -> None:
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/problem+json")]})
    await send({"type": "http.response.body", "body": problem_body(413, "request body too large")})


class _ASGIConnection:
    """Stands in for ``HttpConnection``: collects the response and sends it as ASGI messages."""

    raw_framing = False  # the ASGI server frames the body itself

    def __init__(self, send: Any, client: Any, head_prefix: bytes, scheme: str = "http") -> None:
        self._send = send
        # The peer, as the ASGI server reports it: request.client applies forwarded_allow_ips to
        # it as to a socket's peer (run uvicorn with --no-proxy-headers; README "Behind a proxy").
        self.client = tuple(client) if client else None
        self.head_prefix = head_prefix
        self.keep_alive = True
        self.bytes_written = 0
        self.closed = False
        self.tls = scheme == "https"
        self._buffer: list[bytes] = []
        self._started = False
        self._head = bytearray()
        self.streaming = False  # part of the body went out before the handler returned

    def write(self, data: bytes) -> None:
        self.bytes_written += len(data)
        self._buffer.append(bytes(data))

    def end_after_response(self) -> None:
        # The ASGI server owns the connection; nothing after this response depends on it here.
        self.keep_alive = False

    async def _flush(self, more_body: bool) -> None:
        data = b"".join(self._buffer)
        self._buffer.clear()
        if not self._started:
            self._head += data
            end = self._head.find(b"\r\n\r\n")
            if end < 0:
                return
            head, data = bytes(self._head[:end]), bytes(self._head[end + 4:])
            lines = head.split(b"\r\n")
            status = int(lines[0].split(b" ")[1])
            headers = []
            for line in lines[1:]:
                name, _, value = line.partition(b":")
                lname = name.strip().lower()
                if lname in (b"connection", b"transfer-encoding", b"keep-alive"):
                    continue
                headers.append((lname, value.strip()))
            await self._send({"type": "http.response.start", "status": status, "headers": headers})
            self._started = True
        if data or not more_body:
            await self._send({"type": "http.response.body", "body": data, "more_body": more_body})

    async def drain(self) -> None:
        if self.closed:
            return
        self.streaming = True
        try:
            await self._flush(True)
        except OSError:  # some servers raise once the client is gone
            self.closed = True

    async def sendfile(self, file: Any, offset: int, count: int) -> None:
        file.seek(offset)
        remaining = count
        while remaining > 0:
            chunk = file.read(min(256 * 1024, remaining))
            if not chunk:
                break
            remaining -= len(chunk)
            self.write(chunk)
            await self._flush(True)

    async def finish(self) -> None:
        if self.closed:
            return
        with contextlib.suppress(OSError):
            await self._flush(False)


class ASGIAdapter:
    """``server.asgi``: an ASGI 3 application wrapping an Areion ``App``."""

    def __init__(self, app: App) -> None:
        self.app = app.build()

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await self._lifespan(receive, send)
            return
        if kind == "websocket":
            await self._websocket(scope, receive, send)
            return
        if kind != "http":
            raise RuntimeError(f"Areion's ASGI adapter does not handle {kind!r} connections")
        app = self.app
        raw_path = scope.get("raw_path") or scope["path"].encode("utf-8")
        root = scope.get("root_path") or ""
        if root:
            raw_path = self._below_root(root, raw_path)
        qs = scope.get("query_string", b"")
        url = raw_path + (b"?" + qs if qs else b"")
        headers = [(bytes(k), bytes(v)) for k, v in scope.get("headers", [])]
        body = await self._body(scope["method"], url, headers, receive, send)
        if body is None:
            return
        prefix = b"".join(
            line + b"\r\n" for line in app.constant_headers().split(b"\r\n")
            if line and not line.lower().startswith(b"server:")
        )
        conn = _ASGIConnection(send, scope.get("client"), prefix, scope.get("scheme", "http"))
        try:
            version = scope.get("http_version", "1.1")
            request = app.make_request(scope["method"], url, headers, body, conn, version)
        except ValueError as exc:
            await send({"type": "http.response.start", "status": 400, "headers": []})
            await send({"type": "http.response.body", "body": str(exc).encode()})
            return
        task = asyncio.current_task()
        assert task is not None
        source = body if isinstance(body, ASGIBodySource) else None
        watcher = asyncio.ensure_future(self._watch_disconnect(receive, conn, task, source))
        try:
            await app.handle(request)
        except asyncio.CancelledError:
            if not (conn.closed and watcher.done()):
                raise  # cancelled by the server, not by the disconnect
            task.uncancel()
            return
        finally:
            watcher.cancel()
        if conn.closed and task.cancelling():
            task.uncancel()  # the cancel came after the handler's last wait: nothing to undo
        await conn.finish()

    async def _body(self, method: str, url: bytes, headers: list[tuple[bytes, bytes]], receive: Any,
                    send: Any) -> bytes | ASGIBodySource | None:
        """The request's body: a source its handler streams from (a route that streams), or the
        bytes read whole; None when the request was answered (413) or the client left."""
        app = self.app
        dispatcher = app.dispatcher
        plan = dispatcher.body_plan(method, url) if dispatcher is not None and dispatcher.body_plans else None
        limit, streamed = plan if plan is not None else (app.config.limits.max_body_bytes, False)
        if _declared_length(headers) > limit:  # before any body byte is read
            await _too_large(send)
            return None
        if streamed:
            return ASGIBodySource(receive, limit)
        buffered = await self._read_body(receive, limit)
        if buffered is None:
            await _too_large(send)
            return None
        if buffered is _DISCONNECTED:
            return None
        return bytes(buffered)

    async def _websocket(self, scope: Scope, receive: Any, send: Any) -> None:
        """A ``websocket`` scope: the same request, route and handler (``_asgi_websocket.py``)."""
        if (await receive())["type"] != "websocket.connect":
            return
        app = self.app
        prefix = b"".join(line + b"\r\n" for line in app.constant_headers().split(b"\r\n")
                          if line and not line.lower().startswith(b"server:"))
        conn = ASGIWebSocketConnection(receive, send, scope, prefix)
        raw_path = scope.get("raw_path") or scope["path"].encode("utf-8")
        root = scope.get("root_path") or ""
        if root:
            raw_path = self._below_root(root, raw_path)
        qs = scope.get("query_string", b"")
        headers = [(bytes(k), bytes(v)) for k, v in scope.get("headers", [])]
        try:
            request = app.make_request("GET", raw_path + (b"?" + qs if qs else b""), headers, b"", conn,
                                       scope.get("http_version", "1.1"))
        except ValueError:
            await send({"type": "websocket.close", "code": 1008, "reason": ""})
            return
        await app.handle(request)
        await conn.finish()

    @staticmethod
    async def _read_body(receive: Any, limit: int) -> bytearray | None:
        """The whole body (None past ``limit``; ``_DISCONNECTED`` when the client went away)."""
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return _DISCONNECTED
            body += message.get("body", b"")
            if len(body) > limit:
                return None
            if not message.get("more_body", False):
                return body

    @staticmethod
    async def _watch_disconnect(receive: Any, conn: _ASGIConnection, task: asyncio.Task[Any],
                                source: ASGIBodySource | None) -> None:
        """Wait for the client to go; then stop a body that is streaming (not a handler still
        working on its answer: that one finishes, and its response goes nowhere). A streamed
        request body is read through ``receive`` too: watch only once it was read."""
        if source is not None:
            await source.done.wait()
        while (await receive())["type"] != "http.disconnect":
            pass
        conn.closed = True
        if conn.streaming:
            task.cancel()

    def _below_root(self, root: str, raw_path: bytes) -> bytes:
        """The path the routes see, and ``root`` made the app's root path for ``url_for``."""
        app = self.app
        if app.root_path != root.rstrip("/"):
            app.root_path = root.rstrip("/")  # one per deployment: the server passes it on every request
            if app.dispatcher is not None:
                app.dispatcher.root_path = app.root_path
        encoded = root.rstrip("/").encode("utf-8")
        if raw_path.startswith(encoded) and raw_path[len(encoded):len(encoded) + 1] in (b"/", b""):
            raw_path = raw_path[len(encoded):] or b"/"
        return raw_path

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.app.startup()
                except Exception as exc:
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.app.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return
