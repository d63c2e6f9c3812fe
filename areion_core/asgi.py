"""The app as an ASGI 3 callable, so it runs unchanged under uvicorn, Granian or Hypercorn.

The request goes through exactly the same ``App.handle`` as on Areion's own server; the
connection object below turns what it writes into ASGI ``http.response.*`` messages.
"""

from __future__ import annotations

from typing import Any

from .app import App

Scope = dict[str, Any]


class _ASGIConnection:
    """Stands in for ``HttpConnection``: collects the response and sends it as ASGI messages."""

    raw_framing = False  # the ASGI server frames the body itself

    def __init__(self, send: Any, client: Any, head_prefix: bytes) -> None:
        self._send = send
        self.client = tuple(client) if client else None
        self.head_prefix = head_prefix
        self.keep_alive = True
        self.bytes_written = 0
        self.closed = False
        self.tls = False
        self._buffer: list[bytes] = []
        self._started = False
        self._head = bytearray()

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
        await self._flush(True)

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
        if kind != "http":
            raise RuntimeError(f"Areion's ASGI adapter does not handle {kind!r} connections")
        app = self.app
        limit = app.config.limits.max_body_bytes
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if len(body) > limit:
                await send({"type": "http.response.start", "status": 413,
                            "headers": [(b"content-type", b"text/plain; charset=utf-8")]})
                await send({"type": "http.response.body", "body": b"Content Too Large"})
                return
            if not message.get("more_body", False):
                break
        prefix = b"".join(
            line + b"\r\n" for line in app.constant_headers().split(b"\r\n")
            if line and not line.lower().startswith(b"server:")
        )
        conn = _ASGIConnection(send, scope.get("client"), prefix)
        raw_path = scope.get("raw_path") or scope["path"].encode("utf-8")
        qs = scope.get("query_string", b"")
        url = raw_path + (b"?" + qs if qs else b"")
        headers = [(bytes(k), bytes(v)) for k, v in scope.get("headers", [])]
        try:
            version = scope.get("http_version", "1.1")
            request = app.make_request(scope["method"], url, headers, bytes(body), conn, version)
        except ValueError as exc:
            await send({"type": "http.response.start", "status": 400, "headers": []})
            await send({"type": "http.response.body", "body": str(exc).encode()})
            return
        await app.handle(request)
        await conn.finish()

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
