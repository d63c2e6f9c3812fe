"""Test helpers: ``TestClient`` (in-process, through the real protocol code) and ``LiveServer``.

``TestClient`` writes real HTTP/1.1 bytes into the same ``HttpConnection`` the server uses,
over an in-memory transport, and parses the bytes that come back — so framing, limits and
hooks are all exercised without a socket. ``LiveServer`` runs the real server on a free
port in a background thread for tests that need real clients (httpx, curl, a browser).
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlencode

import orjson

from ._testing_websocket import (
    AsyncWebSocketContext,
    AsyncWebSocketTestSession,
    LoopThread,
    SyncWebSocketContext,
    WebSocketTestSession,
)
from .app import App
from .headers import Headers
from .runner import AreionServer, ServerThread
from .server.connection import HttpConnection
from .server.state import ServerState

__all__ = ["AsyncTestClient", "AsyncWebSocketTestSession", "LiveServer", "TestClient", "TestResponse",
           "WebSocketTestSession", "parse_response"]


class TestResponse:
    """A parsed response: ``status_code``, ``headers``, ``content``, ``text``, ``json()``."""

    __test__ = False  # not a pytest test class

    def __init__(self, status_code: int, reason: str, headers: list[tuple[bytes, bytes]], content: bytes,
                 chunks: list[bytes] | None = None) -> None:
        self.status_code = status_code
        self.reason = reason
        self.headers = Headers(headers)
        self.content = content
        self.chunks = chunks or []

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    def json(self) -> Any:
        return orjson.loads(self.content)

    def __repr__(self) -> str:
        return f"<TestResponse {self.status_code} {len(self.content)}B>"


def parse_response(data: bytes, head_request: bool = False, closed: bool = False) -> tuple[TestResponse, int] | None:
    """Parse one response from the front of ``data``; None if it is not complete yet.

    Returns the response and how many bytes it used. Interim 1xx responses are skipped.
    """
    offset = 0
    while True:
        end = data.find(b"\r\n\r\n", offset)
        if end < 0:
            return None
        head = data[offset:end].decode("latin-1").split("\r\n")
        _, code, *reason = head[0].split(" ", 2)
        status = int(code)
        headers = []
        for line in head[1:]:
            name, _, value = line.partition(":")
            headers.append((name.strip().encode("latin-1"), value.strip().encode("latin-1")))
        body_start = end + 4
        if 100 <= status < 200:
            offset = body_start
            continue
        break
    lookup = {n.lower(): v for n, v in headers}
    if head_request or status in (204, 304):
        return TestResponse(status, " ".join(reason), headers, b""), body_start
    if lookup.get(b"transfer-encoding", b"").lower() == b"chunked":
        pos = body_start
        chunks: list[bytes] = []
        while True:
            line_end = data.find(b"\r\n", pos)
            if line_end < 0:
                return None
            size = int(data[pos:line_end].split(b";")[0], 16)
            if size == 0:
                trailer_end = data.find(b"\r\n", line_end + 2)
                if trailer_end < 0:
                    return None
                return (TestResponse(status, " ".join(reason), headers, b"".join(chunks), chunks),
                        trailer_end + 2)
            if len(data) < line_end + 2 + size + 2:
                return None
            chunks.append(data[line_end + 2:line_end + 2 + size])
            pos = line_end + 2 + size + 2
    if b"content-length" in lookup:
        length = int(lookup[b"content-length"])
        if len(data) < body_start + length:
            return None
        body = data[body_start:body_start + length]
        return TestResponse(status, " ".join(reason), headers, body), body_start + length
    if not closed:
        return None
    return TestResponse(status, " ".join(reason), headers, data[body_start:]), len(data)


class _MemoryTransport(asyncio.Transport):
    """Collects what the connection writes; feeds nothing back on its own."""

    _areion_memory = True

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self.buffer = bytearray()
        self.closed = False
        self.changed = asyncio.Event()
        self._loop = loop

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.buffer += data
        self.changed.set()

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True
        self.changed.set()

    def abort(self) -> None:
        self.close()

    def can_write_eof(self) -> bool:
        return False

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        pass

    def get_write_buffer_size(self) -> int:
        return 0

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("testclient", 50000) if name == "peername" else default


def _encode_request(
    method: str, path: str, headers: Mapping[str, str] | None, params: Mapping[str, Any] | None,
    json: Any, data: Mapping[str, Any] | None, content: bytes | str | None,
) -> bytes:
    if params:
        path += ("&" if "?" in path else "?") + urlencode(params, doseq=True)
    hdrs = {k.lower(): (k, v) for k, v in (headers or {}).items()}
    body = b""
    if json is not None:
        body = orjson.dumps(json)
        hdrs.setdefault("content-type", ("Content-Type", "application/json"))
    elif data is not None:
        body = urlencode(data, doseq=True).encode()
        hdrs.setdefault("content-type", ("Content-Type", "application/x-www-form-urlencoded"))
    elif content is not None:
        body = content.encode() if isinstance(content, str) else bytes(content)
    hdrs.setdefault("host", ("Host", "testserver"))
    if body or method in ("POST", "PUT", "PATCH"):
        hdrs.setdefault("content-length", ("Content-Length", str(len(body))))
    lines = [f"{method} {path} HTTP/1.1"] + [f"{k}: {v}" for k, v in hdrs.values()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class AsyncTestClient:
    """In-process client for async tests (uses the running loop): ``await client.get(...)``."""

    __test__ = False

    def __init__(self, app: App | AreionServer) -> None:
        self.app = app.app if isinstance(app, AreionServer) else app
        self.app.build()
        self._state: ServerState | None = None

    def _get_state(self) -> ServerState:
        if self._state is None:
            loop = asyncio.get_running_loop()
            app = self.app
            self._state = ServerState(loop, app.handle, app.make_request, app.config.limits, app.constant_headers(),
                                      body_plan=app.body_plan)
        return self._state

    async def __aenter__(self) -> AsyncTestClient:
        await self.app.startup()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.app.shutdown()

    async def raw(self, data: bytes, *, head_request: bool = False, timeout: float = 30.0,
                  expect: int = 1) -> tuple[list[TestResponse], bool]:
        """Send raw bytes on a fresh connection; the responses (``expect`` of them) and whether it closed."""
        state = self._get_state()
        state._refresh()  # no once-a-second tick here: the Date header is brought up to date per request
        conn = HttpConnection(state)
        transport = _MemoryTransport(state.loop)
        conn.connection_made(transport)
        # Deliver the bytes from a loop callback, as a real transport does: the request must
        # not run inside this test's task.
        state.loop.call_soon(conn.data_received, data)
        responses: list[TestResponse] = []
        used = 0

        async def collect() -> None:
            nonlocal used
            while len(responses) < expect:
                parsed = parse_response(bytes(transport.buffer[used:]), head_request, transport.closed)
                if parsed is not None:
                    responses.append(parsed[0])
                    used += parsed[1]
                    continue
                if transport.closed:
                    return
                transport.changed.clear()
                await transport.changed.wait()

        await asyncio.wait_for(collect(), timeout)
        closed = transport.closed
        if not transport.closed:
            conn.connection_lost(None)
        return responses, closed

    async def request(self, method: str, path: str, *, headers: Mapping[str, str] | None = None,
                      params: Mapping[str, Any] | None = None, json: Any = None,
                      data: Mapping[str, Any] | None = None, content: bytes | str | None = None,
                      timeout: float = 30.0) -> TestResponse:
        method = method.upper()
        raw = _encode_request(method, path, headers, params, json, data, content)
        responses, _ = await self.raw(raw, head_request=method == "HEAD", timeout=timeout)
        if not responses:
            raise ConnectionError("the server closed the connection without a response")
        return responses[0]

    async def get(self, path: str, **kw: Any) -> TestResponse:
        return await self.request("GET", path, **kw)

    async def post(self, path: str, **kw: Any) -> TestResponse:
        return await self.request("POST", path, **kw)

    async def put(self, path: str, **kw: Any) -> TestResponse:
        return await self.request("PUT", path, **kw)

    async def patch(self, path: str, **kw: Any) -> TestResponse:
        return await self.request("PATCH", path, **kw)

    async def delete(self, path: str, **kw: Any) -> TestResponse:
        return await self.request("DELETE", path, **kw)

    async def head(self, path: str, **kw: Any) -> TestResponse:
        return await self.request("HEAD", path, **kw)

    async def options(self, path: str, **kw: Any) -> TestResponse:
        return await self.request("OPTIONS", path, **kw)

    def websocket_connect(self, path: str, *, headers: Mapping[str, str] | None = None,
                          subprotocols: Sequence[str] | None = None, timeout: float = 10.0) -> AsyncWebSocketContext:
        """``async with client.websocket_connect("/ws") as ws:`` — the real server connection code
        and protocol plugin over a socket pair, the ``websockets`` library as the client."""
        return AsyncWebSocketContext(self, path, headers, subprotocols, timeout)

    async def _serve_socket(self, sock: socket.socket) -> None:
        """Serve one end of a socket pair with the server's own ``HttpConnection``."""
        state = self._get_state()
        state._refresh()
        await state.loop.connect_accepted_socket(lambda: HttpConnection(state), sock)


class TestClient:
    """In-process client for plain (sync) tests: ``with TestClient(server) as client: client.get("/")``.

    Runs the app's startup hooks on entering and shutdown hooks on leaving, on a private loop.
    """

    __test__ = False

    def __init__(self, app: App | AreionServer) -> None:
        from .runner import new_event_loop

        self.loop = new_event_loop()
        self._client = AsyncTestClient(app)
        self.app = self._client.app
        self._entered = False
        self._thread = LoopThread(self.loop)

    def _run(self, coro: Any) -> Any:
        if self._thread.thread is not None:  # a WebSocket is open: the loop runs in its thread
            return self._thread.run(coro)
        return self.loop.run_until_complete(coro)

    def _loop_thread_enter(self) -> None:
        self._thread.enter()

    def _loop_thread_exit(self) -> None:
        self._thread.exit()

    def websocket_connect(self, path: str, *, headers: Mapping[str, str] | None = None,
                          subprotocols: Sequence[str] | None = None, timeout: float = 10.0) -> SyncWebSocketContext:
        """``with client.websocket_connect("/ws") as ws: ws.send_text("hi"); ws.receive_text()``.

        The real server connection code and protocol plugin over a socket pair; the client is
        the ``websockets`` library's (a refused handshake raises its ``InvalidStatus``).
        """
        return SyncWebSocketContext(self, path, headers, subprotocols, timeout)

    def __enter__(self) -> TestClient:
        self._run(self._client.__aenter__())
        self._entered = True
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self._run(self._client.__aexit__())
        finally:
            self.close()

    def close(self) -> None:
        if not self.loop.is_closed():
            self._run(self.loop.shutdown_asyncgens())
            self.loop.close()

    def raw(self, data: bytes, **kw: Any) -> tuple[list[TestResponse], bool]:
        return self._run(self._client.raw(data, **kw))  # type: ignore[no-any-return]

    def request(self, method: str, path: str, **kw: Any) -> TestResponse:
        return self._run(self._client.request(method, path, **kw))  # type: ignore[no-any-return]

    def get(self, path: str, **kw: Any) -> TestResponse:
        return self.request("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> TestResponse:
        return self.request("POST", path, **kw)

    def put(self, path: str, **kw: Any) -> TestResponse:
        return self.request("PUT", path, **kw)

    def patch(self, path: str, **kw: Any) -> TestResponse:
        return self.request("PATCH", path, **kw)

    def delete(self, path: str, **kw: Any) -> TestResponse:
        return self.request("DELETE", path, **kw)

    def head(self, path: str, **kw: Any) -> TestResponse:
        return self.request("HEAD", path, **kw)

    def options(self, path: str, **kw: Any) -> TestResponse:
        return self.request("OPTIONS", path, **kw)


class LiveServer:
    """The real server on 127.0.0.1 and a free port, in a background thread.

    ``with LiveServer(server) as live: httpx.get(live.url + "/json")``.
    """

    def __init__(self, server: AreionServer) -> None:
        self.server = server
        server.host = "127.0.0.1"
        server.port = 0
        self._thread: ServerThread | None = None

    def __enter__(self) -> LiveServer:
        self._thread = self.server.start_in_thread()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._thread is not None:
            self._thread.stop()

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def port(self) -> int:
        return self.server.port
