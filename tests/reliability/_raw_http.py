"""Raw HTTP/1.1 over real sockets for the hostile-input tests: the app they serve and a client.

The corpus and the fuzzer talk to one real server (``serve``) through ``RawConnection``, which
sends bytes exactly as given (optionally as separate TCP segments), parses what comes back
with the same response parser the test client uses, and tells a closed connection from a
hung one with a generous socket timeout.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import Any

from areion_core import AreionServerBuilder, HttpResponse, Router
from areion_core.runner import ServerThread
from areion_core.testing import TestResponse, parse_response

#: Generous: nothing here waits on a server timeout, so reaching this means a hang.
HANG_TIMEOUT = 5.0


def hostile_input_router(reflect: bool = True, sleep: bool = True) -> Router:
    """Routes whose answers show which request they answer (no desync can hide behind them).

    With ``reflect=False`` the routes that echo the body, headers or query answer with sizes
    only, so that nothing a fuzzer sends can come back looking like a status line.
    """
    r = Router()

    @r.get("/")
    async def root(request: Any) -> str:
        return "root"

    @r.get("/json")
    async def json_(request: Any) -> dict[str, str]:
        return {"message": "Hello, World!"}

    @r.get("/marker/:m")
    async def marker(request: Any, m: str) -> str:
        return f"marker={m}"

    @r.post("/echo")
    async def echo(request: Any) -> HttpResponse:
        body = bytes(request.body) if reflect else b"%d" % len(request.body)
        return HttpResponse(body, content_type="application/octet-stream",
                            headers={"x-length": str(len(request.body))})

    @r.get("/headers")
    async def headers(request: Any) -> dict[str, Any]:
        if not reflect:
            return {"count": len(request.headers)}
        return {name: request.headers.get_all(name) for name in request.headers}

    @r.get("/q")
    async def query(request: Any) -> dict[str, Any]:
        return dict(request.query_params) if reflect else {"count": len(request.query_params)}

    if sleep:
        @r.get("/sleep")
        async def sleeper(request: Any) -> str:
            await asyncio.sleep(0.05)  # a request that suspends, so the connection's driver task runs it
            return "slept"

    return r


class ErrorLog(logging.Handler):
    """Collects ERROR records from the server's loggers (a crash is logged even when answered)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def take(self) -> list[str]:
        taken, self.records = self.records, []
        return [r.getMessage() + (f" ({r.exc_info[1]!r})" if r.exc_info else "") for r in taken]


@contextmanager
def serve(limits: dict[str, float], reflect: bool = True) -> Iterator[tuple[ServerThread, ErrorLog]]:
    """The real server (core only, no plugins) on a free loopback port, in a thread."""
    builder = (AreionServerBuilder().with_router(hostile_input_router(reflect)).without_config_file()
               .with_config(plugins=[], limits=limits))
    builder.with_access_log(False)
    server = builder.build()
    server.host, server.port = "127.0.0.1", 0
    errors = ErrorLog()
    areion_log = logging.getLogger("areion")  # every server, app and plugin logger is below it
    areion_log.addHandler(errors)
    thread = server.start_in_thread()
    try:
        yield thread, errors
    finally:
        thread.stop()
        areion_log.removeHandler(errors)


class ServerHung(AssertionError):
    """The server neither answered nor closed within ``HANG_TIMEOUT``."""


class RawConnection:
    """One client connection that sends raw bytes and parses responses one at a time."""

    def __init__(self, port: int, timeout: float = HANG_TIMEOUT) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.timeout = timeout
        self.buffer = b""
        self.closed = False  # the server closed (EOF or reset)
        self.received = b""  # everything the server sent, for messages

    def __enter__(self) -> RawConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.sock.close()

    def send(self, writes: bytes | Sequence[bytes], pause: float = 0.002) -> None:
        """Send one buffer, or several as separate segments (with a short pause between them).

        A server that already closed may reset the connection under us: what it sent before
        is still read by ``response``/``until_closed``, so the error is swallowed here.
        """
        pieces = [writes] if isinstance(writes, bytes) else list(writes)
        try:
            for i, piece in enumerate(pieces):
                if i:
                    time.sleep(pause)
                if piece:
                    self.sock.sendall(piece)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def half_close(self) -> None:
        with suppress(OSError):
            self.sock.shutdown(socket.SHUT_WR)

    def _fill(self, deadline: float) -> None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise ServerHung(f"no answer and no close within {self.timeout} s; got {self.received[:300]!r}")
        self.sock.settimeout(remaining)
        try:
            chunk = self.sock.recv(65536)
        except TimeoutError:
            raise ServerHung(
                f"no answer and no close within {self.timeout} s; got {self.received[:300]!r}") from None
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            self.closed = True
        self.buffer += chunk
        self.received += chunk

    def response(self, head_request: bool = False) -> TestResponse | None:
        """The next response, or None when the server closed before sending a whole one."""
        deadline = time.monotonic() + self.timeout
        while True:
            parsed = parse_response(self.buffer, head_request, self.closed) if self.buffer else None
            if parsed is not None:
                response, used = parsed
                self.buffer = self.buffer[used:]
                return response
            if self.closed:
                return None
            self._fill(deadline)

    def until_closed(self) -> bytes:
        """Wait for the server to close; returns whatever else it sent first."""
        deadline = time.monotonic() + self.timeout
        while not self.closed:
            self._fill(deadline)
        rest, self.buffer = self.buffer, b""
        return rest


def status_line(response: TestResponse) -> str:
    return f"{response.status_code} {response.reason}: {response.content[:120]!r}"


def follow_up(conn: RawConnection, token: str) -> None:
    """Send a normal request on ``conn`` and check that the answer is this request's answer."""
    conn.send(b"GET /marker/%s HTTP/1.1\r\nHost: x\r\n\r\n" % token.encode())
    response = conn.response()
    assert response is not None, f"closed instead of answering the follow-up; got {conn.received[-300:]!r}"
    assert response.status_code == 200, status_line(response)
    assert response.content == b"marker=" + token.encode(), (
        f"desync: the follow-up got someone else's answer: {status_line(response)}")


def fresh_follow_up(port: int, token: str) -> None:
    """The server still answers a normal request on a new connection."""
    with RawConnection(port) as conn:
        follow_up(conn, token)
