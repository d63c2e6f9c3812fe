"""A keep-alive load client that accounts for every request it sends.

``LoadClient`` runs ``connections`` client connections on an event loop in a thread of its
own. Each connection sends one request at a time (``GET /work?id=N&s=...``, some slow, some
``POST``) and waits for its answer, reusing the connection until the server says
``Connection: close`` or closes it; then it connects again. Every request ends in exactly one
of these:

- *answered*: a complete response came back, and it names the request's id (so a response
  can never be credited to the wrong request);
- *lost*: the request was written to a connection the client had not seen closed, and the
  connection closed (FIN or RST) or timed out before a complete response arrived. Each loss
  records whether it was the first request on its connection (``reused=False``) or one sent
  on a kept-alive connection (``reused=True``: the case RFC 9112 §9.3.1 lets a client retry);
- never sent: a connection attempt that failed (``refused``) sends nothing and is not a request.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import shutil
import subprocess
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

from areion_core.testing import parse_response


@dataclass
class Lost:
    request_id: int
    connection: int
    reused: bool  # sent on a connection that had already carried a response
    last_pid: int | None  # the process that answered this connection's previous request
    at: float  # monotonic time the request was sent
    error: str


@dataclass
class LoadStats:
    sent: int = 0
    answered: int = 0
    refused: int = 0
    closed_by_server: int = 0  # answers with Connection: close the client did not ask for
    lost: list[Lost] = field(default_factory=list)
    wrong: list[str] = field(default_factory=list)  # answers that do not match their request
    pids: Counter[int] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)

    def summary(self) -> str:
        reused = sum(1 for x in self.lost if x.reused)
        return (f"sent={self.sent} answered={self.answered} lost={len(self.lost)} (reused={reused}) "
                f"refused={self.refused} closed_by_server={self.closed_by_server} statuses={dict(self.statuses)} "
                f"pids={dict(self.pids)}")


class _Client(asyncio.Protocol):
    def __init__(self) -> None:
        self.buffer = bytearray()
        self.closed = False
        self.error = "closed"
        self.transport: asyncio.Transport | None = None
        self._waiter: asyncio.Future[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        self._wake()

    def eof_received(self) -> bool:
        self.closed = True
        self.error = "EOF"
        self._wake()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed:
            self.error = repr(exc) if exc else "closed"
        self.closed = True
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def response(self) -> tuple[int, dict[bytes, bytes], bytes]:
        # Never throws away bytes that arrived: a response followed by a reset still counts.
        while True:
            parsed = parse_response(bytes(self.buffer))
            if parsed is not None:
                got, used = parsed
                del self.buffer[:used]
                return got.status_code, {k.lower(): v for k, v in got.headers.raw()}, got.content
            if self.closed:
                raise ConnectionError(self.error)
            self._waiter = asyncio.get_running_loop().create_future()
            await self._waiter


class LoadClient:
    """``connections`` clients: every ``slow_every``-th asks for a ``slow`` s sleep each time, every
    ``post_every``-th (offset 1) sends a POST, every ``fresh_every``-th (offset 2) asks for
    ``Connection: close`` and so opens a new connection for each request."""

    def __init__(self, port: int, connections: int, *, slow_every: int = 4, slow: float = 0.3,
                 post_every: int = 4, fresh_every: int = 4, timeout: float = 15.0) -> None:
        self.port = port
        self.connections = connections
        self.slow_every = slow_every
        self.slow = slow
        self.post_every = post_every
        self.fresh_every = fresh_every
        self.timeout = timeout
        self.stats = LoadStats()
        self._ids = itertools.count(1)
        self._stopping = False
        self._in_flight: dict[int, float] = {}  # connection -> when its current request was sent
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=self._run, name="load-client", daemon=True)
        self._started = threading.Event()

    def _is_slow(self, conn_no: int) -> bool:
        return bool(self.slow_every) and conn_no % self.slow_every == 0

    def slow_in_flight(self) -> int:
        """Slow requests sent and not yet answered, now."""
        return sum(1 for conn_no in list(self._in_flight) if self._is_slow(conn_no))

    def _request(self, conn_no: int) -> tuple[int, bytes]:
        rid = next(self._ids)
        seconds = self.slow if self._is_slow(conn_no) else 0
        if self.post_every and conn_no % self.post_every == 1:
            return rid, (b"POST /work?id=%d HTTP/1.1\r\nHost: t\r\nContent-Type: text/plain\r\n"
                         b"Content-Length: 5\r\n\r\nhello" % rid)
        close = b"Connection: close\r\n" if self.fresh_every and conn_no % self.fresh_every == 2 else b""
        return rid, b"GET /work?id=%d&s=%s HTTP/1.1\r\nHost: t\r\n%s\r\n" % (rid, str(seconds).encode(), close)

    async def _connection(self, conn_no: int) -> None:
        loop = asyncio.get_running_loop()
        stats = self.stats
        if self._is_slow(conn_no):
            await asyncio.sleep(random.uniform(0, self.slow))  # slow requests end at any moment
        while not self._stopping:
            try:
                transport, client = await loop.create_connection(_Client, "127.0.0.1", self.port)
            except OSError:
                stats.refused += 1
                await asyncio.sleep(0.02)
                continue
            reused = False
            last_pid: int | None = None
            try:
                while not self._stopping and not client.closed:
                    rid, data = self._request(conn_no)
                    sent_at = time.monotonic()
                    transport.write(data)
                    stats.sent += 1
                    self._in_flight[conn_no] = sent_at
                    try:
                        status, headers, body = await asyncio.wait_for(client.response(), self.timeout)
                    except (ConnectionError, TimeoutError) as exc:
                        stats.lost.append(Lost(rid, conn_no, reused, last_pid, sent_at, str(exc) or repr(exc)))
                        break
                    finally:
                        del self._in_flight[conn_no]
                    stats.answered += 1
                    stats.statuses[status] += 1
                    words = body.split()
                    if status != 200 or not words or words[0] != b"%d" % rid:
                        stats.wrong.append(f"request {rid}: {status} {body[:80]!r}")
                    else:
                        last_pid = int(words[1])
                        stats.pids[last_pid] += 1
                    reused = True
                    if headers.get(b"connection", b"").lower() == b"close":
                        if b"Connection: close" not in data:
                            stats.closed_by_server += 1
                        break
            finally:
                transport.close()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._started.set()
        await asyncio.gather(*(self._connection(i) for i in range(self.connections)))

    def _run(self) -> None:
        asyncio.run(self._main())

    def start(self) -> LoadClient:
        self._thread.start()
        self._started.wait(5)
        return self

    def stop(self, timeout: float = 30.0) -> LoadStats:
        """Let every connection finish the request it is waiting on, then end."""
        self._stopping = True
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "the load client did not stop"
        return self.stats


class Wrk:
    """wrk in the background for extra load (its numbers are reported, not accounted)."""

    def __init__(self, port: int, seconds: float, connections: int = 16, path: str = "/ping") -> None:
        self.cmd = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "5s",
                    f"http://127.0.0.1:{port}{path}"]
        self.proc: subprocess.Popen[str] | None = None

    @staticmethod
    def available() -> bool:
        return shutil.which("wrk") is not None

    def start(self) -> Wrk:
        if self.available():
            self.proc = subprocess.Popen(self.cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        return self

    def result(self, timeout: float = 30.0) -> str:
        if self.proc is None:
            return "wrk not installed"
        try:
            out, _ = self.proc.communicate(timeout=timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.communicate()
        lines = [ln.strip() for ln in out.splitlines()
                 if "requests in" in ln or "Socket errors" in ln or "Non-2xx" in ln or "Requests/sec" in ln]
        return "; ".join(lines)
