"""Slow and many clients: slowloris, a connection flood, clients that never read.

The server runs under ``areion run`` in a process of its own (``_serve.py``) so that its
memory and its open sockets are measured from ``/proc`` and are the server's alone. Hostile
clients are real sockets; a normal client keeps asking for ``/ping`` meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
import selectors
import socket
import statistics
import threading
import time

import pytest

from areion_core.testing import parse_response
from tests.reliability._budget import budget, count
from tests.reliability._serve import HttpConnection, ServerProcess, get, proc_status, wait_for


def _report(name: str, text: str) -> None:
    print(f"\n[{name}] {text}")


def _ms(values: list[float], q: float) -> float:
    return 1000 * statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


# --- slowloris ----------------------------------------------------------------------------------

SLOW_CONNECTIONS = count(300, 1000)
ATTACK_SECONDS = budget(5.0, 20.0)
HEADER_TIMEOUT = 2
DRIP_PAUSE = 0.3  # seconds between two bytes on one slow connection


def _endless_header() -> bytes:
    head = b"GET /ping HTTP/1.1\r\nHost: t\r\n"
    return head + b"".join(b"X-Slow-%d: %d\r\n" % (i, i) for i in range(2000))


class _Drip(asyncio.Protocol):
    """One slowloris connection: what came back and when the server closed it."""

    def __init__(self) -> None:
        self.received = bytearray()
        self.first_byte_at = 0.0
        self.closed_at = 0.0
        self.transport: asyncio.Transport | None = None
        self.done = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.received += data

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed_at = time.monotonic()
        if not self.done.done():
            self.done.set_result(None)


class Slowloris:
    """``n`` connections, each sending header bytes one at a time; reconnects when cut."""

    def __init__(self, port: int, n: int) -> None:
        self.port = port
        self.n = n
        self.open = 0
        self.connect_errors = 0
        self.cut: list[_Drip] = []  # connections the server closed
        self.held_to_the_end = 0  # connections still open when the attack stopped
        self._stopping = False
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    async def _one(self) -> None:
        loop = asyncio.get_running_loop()
        data = _endless_header()
        await asyncio.sleep(random.random() * 0.2)
        while not self._stopping:
            try:
                _, drip = await loop.create_connection(_Drip, "127.0.0.1", self.port)
            except OSError:
                self.connect_errors += 1
                await asyncio.sleep(0.1)
                continue
            self.open += 1
            try:
                for i in itertools.count():
                    if drip.done.done() or self._stopping:
                        break
                    assert drip.transport is not None
                    drip.transport.write(data[i:i + 1])
                    if i == 0:
                        drip.first_byte_at = time.monotonic()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(asyncio.shield(drip.done), DRIP_PAUSE)
            finally:
                self.open -= 1
                if drip.done.done():
                    self.cut.append(drip)
                else:
                    self.held_to_the_end += 1
                    assert drip.transport is not None
                    drip.transport.abort()

    async def _main(self) -> None:
        await asyncio.gather(*(self._one() for _ in range(self.n)))

    def start(self) -> Slowloris:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping = True
        self._thread.join(30)
        assert not self._thread.is_alive()


def _timed_requests(conn: HttpConnection, seconds: float = 0.0, n: int = 0) -> list[float]:
    times = []
    end = time.monotonic() + seconds
    while (len(times) < n) if n else (time.monotonic() < end):
        t0 = time.perf_counter()
        response = conn.get("/ping")
        times.append(time.perf_counter() - t0)
        assert response.status_code == 200 and response.text == "pong"
        time.sleep(0.002)
    return times


@pytest.mark.slow
def test_slowloris_is_cut_by_the_header_timeout_and_does_not_starve_a_normal_client():
    with ServerProcess(limits={"header_timeout": HEADER_TIMEOUT}) as server:
        baseline_sockets = server.wait_idle()
        with HttpConnection(server.port) as normal:
            _timed_requests(normal, n=50)  # warm up
            baseline = _timed_requests(normal, n=300)
            attack = Slowloris(server.port, SLOW_CONNECTIONS).start()
            try:
                assert wait_for(lambda: attack.open >= SLOW_CONNECTIONS, 15), f"only {attack.open} connected"
                held = server.sockets() - baseline_sockets - 1
                under_attack: list[float] = []
                fresh: list[float] = []
                held_samples = [held]
                end = time.monotonic() + ATTACK_SECONDS
                while time.monotonic() < end:
                    under_attack += _timed_requests(normal, seconds=0.25)
                    t0 = time.perf_counter()
                    assert get(server.port, "/ping").status_code == 200  # a new connection gets in too
                    fresh.append(time.perf_counter() - t0)
                    held_samples.append(server.sockets() - baseline_sockets - 1)
            finally:
                attack.stop()
        base_p50, base_p95 = _ms(baseline, 50), _ms(baseline, 95)
        p50, p95 = _ms(under_attack, 50), _ms(under_attack, 95)
        waits = [d.closed_at - d.first_byte_at for d in attack.cut] or [0.0]
        _report("slowloris", f"{SLOW_CONNECTIONS} dripping connections, server held {held} at start, "
                f"median {statistics.median(held_samples):.0f} while cut and reconnecting; normal client "
                f"p50/p95 baseline {base_p50:.2f}/{base_p95:.2f} ms, "
                f"under attack {p50:.2f}/{p95:.2f} ms (max {1000 * max(under_attack):.1f} ms, "
                f"{len(under_attack)} requests); new-connection p95 {_ms(fresh, 95):.2f} ms; "
                f"{len(attack.cut)} cut by the server after {min(waits):.2f}-{max(waits):.2f} s")
        assert held >= SLOW_CONNECTIONS * 0.95
        assert p95 < max(10 * base_p95, 50.0), "the normal client was starved"
        # Every slow connection the server closed was answered 408 with Connection: close,
        # header_timeout after its first byte, give or take the once-a-second sweep (which
        # stamps the start with its own clock, so it may also fire up to a second early).
        assert len(attack.cut) >= SLOW_CONNECTIONS
        for drip in attack.cut:
            assert drip.received.startswith(b"HTTP/1.1 408 "), bytes(drip.received[:100])
            assert b"\r\nConnection: close\r\n" in drip.received
        assert all(HEADER_TIMEOUT - 1.05 <= w <= HEADER_TIMEOUT + 1.5 for w in waits), (min(waits), max(waits))
        assert attack.connect_errors == 0
        # The server let go of every slow connection.
        assert wait_for(lambda: server.sockets() <= baseline_sockets, HEADER_TIMEOUT + 5), server.sockets()


# --- connection flood ----------------------------------------------------------------------

MAX_CONNECTIONS = 50
FLOOD = count(300, 2000)
HOLD = budget(2.0, 5.0)  # the admitted connections ask for a request that takes this long


def _read_all(socks: list[socket.socket], timeout: float) -> dict[socket.socket, tuple[bytes, bool]]:
    """Read each socket until the server closes it or a whole 200 response is in (then it is
    kept alive); returns (bytes, closed by the server) for each."""
    data = {s: bytearray() for s in socks}
    closed: set[socket.socket] = set()
    done = 0
    sel = selectors.DefaultSelector()
    for s in socks:
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    try:
        while done < len(socks) and time.monotonic() < deadline:
            for key, _ in sel.select(0.1):
                s = key.fileobj
                assert isinstance(s, socket.socket)
                try:
                    chunk = s.recv(65536)
                except ConnectionResetError:
                    chunk = b""
                data[s] += chunk
                if not chunk:
                    closed.add(s)
                elif not (data[s].startswith(b"HTTP/1.1 200 ") and parse_response(bytes(data[s]))):
                    continue
                sel.unregister(s)
                done += 1
    finally:
        sel.close()
    return {s: (bytes(d), s in closed) for s, d in data.items()}


@pytest.mark.slow
def test_connection_flood_past_max_connections_is_shed_with_503_and_the_server_recovers():
    with ServerProcess(limits={"max_connections": MAX_CONNECTIONS, "keepalive_timeout": 30}) as server:
        baseline_sockets = server.wait_idle()
        socks: list[socket.socket] = []
        try:
            t0 = time.monotonic()
            for _ in range(FLOOD):
                s = socket.create_connection(("127.0.0.1", server.port), timeout=5)
                s.sendall(b"GET /work?id=1&s=%.1f HTTP/1.1\r\nHost: t\r\n\r\n" % HOLD)
                socks.append(s)
            opened_in = time.monotonic() - t0
            assert opened_in < HOLD / 2, "the flood must land while the admitted requests are still running"
            results = _read_all(socks, HOLD + 5)
        finally:
            for s in socks:
                s.close()
        served = [data for data, _ in results.values() if data.startswith(b"HTTP/1.1 200 ")]
        shed = [(data, closed) for data, closed in results.values() if data.startswith(b"HTTP/1.1 503 ")]
        other = [data[:60] for data, _ in results.values()
                 if not data.startswith((b"HTTP/1.1 200 ", b"HTTP/1.1 503 "))]
        _report("flood", f"{FLOOD} connections in {opened_in:.2f}s against max_connections={MAX_CONNECTIONS}: "
                f"{len(served)} served, {len(shed)} shed with 503, {len(other)} other")
        assert other == []
        assert len(served) == MAX_CONNECTIONS
        assert len(shed) == FLOOD - MAX_CONNECTIONS
        for data, closed in shed:
            assert b"\r\nRetry-After: 1\r\n" in data and b"\r\nConnection: close\r\n" in data
            assert closed, "a shed connection must be closed by the server"
        assert server.proc is not None and server.proc.poll() is None
        # After the flood: the slots are free again and normal requests are served.
        assert wait_for(lambda: server.sockets() <= baseline_sockets, 5), server.sockets()
        for _ in range(MAX_CONNECTIONS * 2):
            assert get(server.port, "/ping").text == "pong"
        conns = [HttpConnection(server.port) for _ in range(MAX_CONNECTIONS)]
        try:
            assert all(c.get("/ping").status_code == 200 for c in conns)
        finally:
            for c in conns:
                c.close()


# --- clients that never read -------------------------------------------------------------------

NON_READERS = count(40, 200)
PIPELINED = 32  # twice limits.max_pipelined
BIG_KB = 512  # each response: 16 MiB per connection, far more than the kernel's ~4 MiB of buffers
STREAMERS = count(8, 40)
STREAM_KB = 32 * 1024  # 32 MiB per streamed response
PUSHERS = 4
HIGH_WATER = 256 * 1024  # limits.write_buffer_high (the default)


def _push_until_blocked(socks: list[socket.socket], seconds: float) -> tuple[list[int], list[float]]:
    """Write pipelined requests without reading until the kernel will take no more for a second."""
    request = b"GET /big?kb=%d HTTP/1.1\r\nHost: t\r\nX-Pad: %s\r\n\r\n" % (BIG_KB, b"p" * 2000) * 64
    pushed = [0] * len(socks)
    blocked_since = [0.0] * len(socks)
    for s in socks:
        s.setblocking(False)
    end = time.monotonic() + seconds
    while time.monotonic() < end and not all(b and time.monotonic() - b > 1.0 for b in blocked_since):
        for i, s in enumerate(socks):
            try:
                pushed[i] += s.send(request)
                blocked_since[i] = 0.0
            except BlockingIOError:
                blocked_since[i] = blocked_since[i] or time.monotonic()
        time.sleep(0.005)
    now = time.monotonic()
    return pushed, [now - b if b else 0.0 for b in blocked_since]


def _read_exactly_responses(sock: socket.socket, n: int, size: int, timeout: float) -> int:
    """Read ``n`` pipelined responses of ``size`` body bytes each; how many arrived whole."""
    conn_buffer = bytearray()
    got = 0
    sock.setblocking(True)
    sock.settimeout(timeout)
    pos = 0
    while got < n:
        end = conn_buffer.find(b"\r\n\r\n", pos)
        if end >= 0:
            head = bytes(conn_buffer[pos:end])
            assert head.startswith(b"HTTP/1.1 200 ") and b"Content-Length: %d\r\n" % size in head + b"\r\n", head
            if len(conn_buffer) >= end + 4 + size:
                assert conn_buffer[end + 4:end + 4 + size] == b"b" * size
                pos = end + 4 + size
                got += 1
                del conn_buffer[:pos]
                pos = 0
                continue
        chunk = sock.recv(1 << 20)
        if not chunk:
            break
        conn_buffer += chunk
    return got


@pytest.mark.slow
def test_clients_that_never_read_are_throttled_their_memory_stays_bounded_and_is_released():
    # A fixed mmap threshold makes glibc give every large block (a response body) back to the
    # system when it is freed, so the server's RSS follows its live memory both ways; by
    # default the threshold adapts upwards and freed bodies stay in the heap, counted in RSS.
    with ServerProcess(env={"MALLOC_MMAP_THRESHOLD_": "131072"}) as server:
        pid = server.pid
        with HttpConnection(server.port) as warm:
            for _ in range(20):
                assert len(warm.get(f"/big?kb={BIG_KB}").content) == BIG_KB * 1024
        baseline_sockets = server.wait_idle()
        base_rss = proc_status(pid, "VmRSS")
        readers: list[socket.socket] = []
        streamers: list[socket.socket] = []
        pushers: list[socket.socket] = []
        try:
            pipelined = b"GET /big?kb=%d HTTP/1.1\r\nHost: t\r\n\r\n" % BIG_KB * PIPELINED
            for _ in range(NON_READERS):
                s = socket.create_connection(("127.0.0.1", server.port))
                s.sendall(pipelined)
                readers.append(s)
            for _ in range(STREAMERS):
                s = socket.create_connection(("127.0.0.1", server.port))
                s.sendall(b"GET /stream?kb=%d HTTP/1.1\r\nHost: t\r\n\r\n" % STREAM_KB)
                streamers.append(s)
            pushers = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(PUSHERS)]
            pushed, blocked_for = _push_until_blocked(pushers, budget(5.0, 10.0))
            time.sleep(0.5)
            # Other clients are served meanwhile, a big response included.
            with HttpConnection(server.port) as normal:
                latencies = _timed_requests(normal, n=100)
                assert len(normal.get(f"/big?kb={BIG_KB}").content) == BIG_KB * 1024
            held_rss = proc_status(pid, "VmRSS")
            peak_rss = proc_status(pid, "VmHWM")
            held_sockets = server.sockets() - baseline_sockets
            # Now the readers read: every response arrives whole and in order.
            t0 = time.monotonic()
            complete = [_read_exactly_responses(s, PIPELINED, BIG_KB * 1024, 20) for s in readers]
            read_in = time.monotonic() - t0
            # The streamers and pushers go away without reading.
            for s in streamers + pushers:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                s.close()
        finally:
            for s in readers + streamers + pushers:
                s.close()
        released = wait_for(lambda: server.sockets() <= baseline_sockets, 5)
        after_rss = proc_status(pid, "VmRSS")
        clients = NON_READERS + STREAMERS + PUSHERS
        would_be = (NON_READERS * PIPELINED * BIG_KB + STREAMERS * STREAM_KB) // 1024
        _report("non-readers", f"{NON_READERS} pipelining {PIPELINED}x{BIG_KB} KiB + {STREAMERS} streams of "
                f"{STREAM_KB // 1024} MiB + {PUSHERS} pushers ({held_sockets} connections held): server RSS "
                f"{base_rss // 1024} MiB at rest, {held_rss // 1024} MiB held, peak {peak_rss // 1024} MiB, "
                f"{after_rss // 1024} MiB after release (unthrottled it would be ~{would_be} MiB more); "
                f"pushers wrote {[p // 1024 for p in pushed]} KiB then blocked {[round(b, 1) for b in blocked_for]} s; "
                f"normal client p95 {_ms(latencies, 95):.2f} ms meanwhile; readers read everything in {read_in:.2f}s")
        assert held_sockets >= clients
        # The server stopped reading from the pushers: the kernel buffers filled and stayed full.
        assert all(b >= 1.0 for b in blocked_for), blocked_for
        assert all(p < 64 * 1024 * 1024 for p in pushed)
        # Memory: per connection, at most about a full write buffer and the response being written.
        bound_kib = clients * (HIGH_WATER + BIG_KB * 1024) * 2 // 1024 + 64 * 1024
        assert peak_rss - base_rss < bound_kib, (peak_rss - base_rss, bound_kib)
        assert complete == [PIPELINED] * NON_READERS
        assert released, server.sockets()
        assert after_rss - base_rss < 32 * 1024, "memory held for the slow clients was not given back"
        assert get(server.port, "/ping").text == "pong"


# The long budget stops at 100: with 200 connections pushing ~1 GB of tiny requests into the
# kernel's buffers, a normal client's request once waited past its 10 s socket timeout in a
# full `make reliability` run (alone the same test passes with p95 ~570 ms) — a fairness limit
# under that extreme worth a look, noted on issue 10.
PIPELINERS = count(40, 100)


@pytest.mark.slow
def test_small_pipelined_requests_are_parsed_no_faster_than_they_are_answered():
    """A client may send thousands of tiny requests at once and read nothing: the server parses
    them a slice of a read at a time, as it answers them, so its memory stays flat and the
    other connections get their turns."""
    with ServerProcess() as server:
        pid = server.pid
        base_rss = proc_status(pid, "VmRSS")
        socks = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(PIPELINERS)]
        try:
            request = b"GET /ping HTTP/1.1\r\nHost: t\r\n\r\n"  # 32 bytes
            for s in socks:
                s.setblocking(False)
            pushed = [0] * len(socks)
            end = time.monotonic() + budget(3.0, 6.0)
            batch = request * 2048
            while time.monotonic() < end:
                progress = False
                for i, s in enumerate(socks):
                    try:
                        pushed[i] += s.send(batch)
                        progress = True
                    except BlockingIOError:
                        pass
                if not progress:
                    time.sleep(0.05)
            time.sleep(0.5)
            with HttpConnection(server.port) as normal:
                latencies = _timed_requests(normal, n=100)
            grown = proc_status(pid, "VmHWM") - base_rss
        finally:
            for s in socks:
                s.close()
        requests = sum(pushed) // len(request)
        _report("small pipelined", f"{PIPELINERS} connections wrote {requests} requests "
                f"({sum(pushed) // 1024 // 1024} MiB) and read nothing: server RSS grew {grown // 1024} MiB "
                f"at its peak; normal client p95 {_ms(latencies, 95):.2f} ms")
        # Parsed all at once, each connection's reads would cost ~4 MiB of request objects.
        assert grown < PIPELINERS * 1024 + 32 * 1024, grown
        # Each connection gets a slice of the loop in turn (~250 tiny requests): the others are not
        # shut out (parsing and answering whole reads at once kept a new client waiting 10 s).
        assert _ms(latencies, 95) < max(2000, 20 * PIPELINERS)
        assert wait_for(lambda: get(server.port, "/ping").text == "pong", 5)
