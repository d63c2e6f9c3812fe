"""A WebSocket load generator (wrk has no WebSocket): echo and broadcast, one JSON line out.

Run as a script (bench/run.py starts it pinned to the client CPU, as it does wrk):

    python bench/_ws_load.py --url ws://127.0.0.1:8000/ws/echo --mode echo --connections 64 --duration 10
    python bench/_ws_load.py --url ws://127.0.0.1:8000/ws/rooms/bench --mode broadcast --connections 1000

- echo: every connection sends a 1 KB text message and waits for it to come back, in a
  loop; each answer is checked byte for byte. Throughput is echoed messages per second;
  latency is the round trip.
- broadcast: ``--connections`` subscribers and one publisher on the same room; the publisher
  sends a message stamped with its send time every ``--interval`` seconds; every member gets
  it. Throughput is deliveries per second; latency is send-to-delivery, p99 over every
  delivery.

The client is cheap so that it is not what is measured: frames are masked once, with one key,
ahead of the run (RFC 6455 §5.3 asks clients for fresh keys; servers cannot tell), and no
extension is offered (no compression on either side).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import resource
import struct
import sys
import time
from urllib.parse import urlsplit

RESULT_MARKER = "BENCH_RESULT "


def masked_text_frame(payload: bytes) -> bytes:
    key = os.urandom(4)
    size = len(payload)
    if size < 126:
        head = struct.pack("!BB", 0x81, 0x80 | size)
    elif size <= 0xFFFF:
        head = struct.pack("!BBH", 0x81, 0x80 | 126, size)
    else:
        head = struct.pack("!BBQ", 0x81, 0x80 | 127, size)
    mask = (key * (size // 4 + 1))[:size]
    return head + key + (int.from_bytes(payload, "big") ^ int.from_bytes(mask, "big")).to_bytes(size, "big")


async def open_socket(url: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port or 80, limit=1 << 20)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write((f"GET {parts.path or '/'} HTTP/1.1\r\nHost: {parts.netloc}\r\nUpgrade: websocket\r\n"
                  f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
    head = await reader.readuntil(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 101"):
        raise ConnectionError(f"handshake refused: {head[:80]!r}")
    return reader, writer


async def read_frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    first, second = await reader.readexactly(2)
    size = second & 0x7F
    if size == 126:
        size = struct.unpack("!H", await reader.readexactly(2))[0]
    elif size == 127:
        size = struct.unpack("!Q", await reader.readexactly(8))[0]
    return first & 0x0F, await reader.readexactly(size)


class EchoClient(asyncio.Protocol):
    """One echo connection, as cheap as a client gets: a pre-masked frame out, the answer
    matched against the expected bytes in place (no per-message parsing beyond that)."""

    def __init__(self, path: str, host: str, frame: bytes, expected: bytes, until: float,
                 latencies: list[float], done: asyncio.Future[None]) -> None:
        self.request = (f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                        f"Sec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}\r\n"
                        "Sec-WebSocket-Version: 13\r\n\r\n").encode()
        self.frame, self.expected, self.until = frame, expected, until
        self.latencies, self.done = latencies, done
        self.buffer = b""
        self.open = False
        self.sent_at = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]
        self.transport.write(self.request)

    def _send(self) -> None:
        """The next message, stamped with the clock read once for both ends of a round trip."""
        self.sent_at = now = time.perf_counter()
        if now >= self.until:
            self.transport.close()
            return
        self.transport.write(self.frame)

    def data_received(self, data: bytes) -> None:
        if data == self.expected and not self.buffer and self.open:
            # The common case, one whole echo in one read: one comparison, one clock read.
            now = time.perf_counter()
            self.latencies.append(now - self.sent_at)
            if now >= self.until:
                self.transport.close()
                return
            self.sent_at = now
            self.transport.write(self.frame)
            return
        buffer = self.buffer + data
        if not self.open:
            head, sep, buffer = buffer.partition(b"\r\n\r\n")
            if not sep:
                self.buffer = head
                return
            if not head.startswith(b"HTTP/1.1 101"):
                self._fail(ConnectionError(f"handshake refused: {head[:80]!r}"))
                return
            self.open = True
            self._send()
        expected = self.expected
        size = len(expected)
        while len(buffer) >= size:
            if buffer[:size] != expected:
                self._fail(ValueError(f"wrong echo: {buffer[:40]!r}"))
                return
            buffer = buffer[size:]
            self.latencies.append(time.perf_counter() - self.sent_at)
            self._send()
        self.buffer = buffer

    def _fail(self, error: Exception) -> None:
        if not self.done.done():
            self.done.set_exception(error)
        self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_result(None)


async def echo_client(url: str, frame: bytes, payload: bytes, until: float, latencies: list[float]) -> None:
    parts = urlsplit(url)
    size = len(payload)
    header = struct.pack("!BB", 0x81, size) if size < 126 else struct.pack("!BBH", 0x81, 126, size)
    done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    await asyncio.get_running_loop().create_connection(
        lambda: EchoClient(parts.path or "/", parts.netloc, frame, header + payload, until, latencies, done),
        parts.hostname, parts.port or 80)
    await done


async def subscriber(url: str, latencies: list[float], ready: asyncio.Event, count: list[int]) -> None:
    """A member: records the send-to-delivery time of every stamped message, until cancelled."""
    reader, writer = await open_socket(url)
    count[0] += 1
    if count[0] >= count[1]:
        ready.set()
    clock = time.perf_counter
    try:
        while True:
            opcode, data = await read_frame(reader)
            if opcode == 1 and data.startswith(b"t="):
                latencies.append(clock() - float(data[2:data.index(b";")]))
    finally:
        writer.close()


async def publisher(url: str, until: float, interval: float, size: int, sent: list[int]) -> None:
    reader, writer = await open_socket(url)
    drain = asyncio.ensure_future(_discard(reader))
    clock = time.perf_counter
    while clock() < until:
        stamp = f"t={clock():.6f};".encode()
        writer.write(masked_text_frame(stamp + b"x" * max(0, size - len(stamp))))
        sent[0] += 1
        await asyncio.sleep(interval)
    await asyncio.sleep(0.5)  # the last deliveries land before the members stop listening
    drain.cancel()
    writer.close()


async def _discard(reader: asyncio.StreamReader) -> None:
    while await reader.read(65536):
        pass


async def run(args: argparse.Namespace) -> dict[str, float]:
    latencies: list[float] = []
    cpu_started = _cpu_seconds()
    started = time.perf_counter()
    if args.mode == "echo":
        payload = b"a" * args.size
        frame = masked_text_frame(payload)
        until = started + args.duration
        await asyncio.gather(*(echo_client(args.url, frame, payload, until, latencies)
                               for _ in range(args.connections)))
        elapsed = time.perf_counter() - started
        sent = len(latencies)
    else:
        published = [0]
        elapsed = await broadcast(args, latencies, published)
        sent = published[0]
    client_busy = (_cpu_seconds() - cpu_started) / elapsed if elapsed else 0.0
    if client_busy > 0.9:
        print(f"warning: the load generator was on the CPU {client_busy:.0%} of the run: it, not the "
              "server, may be what limits the rate", file=sys.stderr)
    latencies.sort()

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(len(latencies) * p / 100))] * 1e6 if latencies else 0.0

    return {"requests": len(latencies), "duration_us": elapsed * 1e6, "bytes": 0, "connect": 0, "read": 0,
            "write": 0, "timeout": 0, "status": 0, "p50_us": pct(50), "p90_us": pct(90), "p99_us": pct(99),
            "mean_us": sum(latencies) / len(latencies) * 1e6 if latencies else 0.0,
            "max_us": latencies[-1] * 1e6 if latencies else 0.0, "sent": sent,
            "client_busy": round(client_busy, 3)}


def _cpu_seconds() -> float:
    """This process's CPU time (user + system): how busy the load generator itself was."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def broadcast(args: argparse.Namespace, latencies: list[float], published: list[int]) -> float:
    """The measured broadcast: ``connections`` members listening, one publishing; its seconds."""
    ready = asyncio.Event()
    count = [0, args.connections]
    listeners = [asyncio.ensure_future(subscriber(args.url, latencies, ready, count))
                 for _ in range(args.connections)]
    await asyncio.wait_for(ready.wait(), 60)
    await asyncio.sleep(0.5)  # every subscription is in place on the server
    begin = time.perf_counter()
    await publisher(args.url, begin + args.duration, args.interval, args.size, published)
    elapsed = time.perf_counter() - begin
    for task in listeners:
        task.cancel()
    await asyncio.gather(*listeners, return_exceptions=True)
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--url", required=True)
    parser.add_argument("--mode", choices=("echo", "broadcast"), default="echo")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--duration", type=float, default=10)
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--interval", type=float, default=0.05, help="broadcast: seconds between messages")
    args = parser.parse_args()
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:
        runner = asyncio.run
    result = runner(run(args))
    print(RESULT_MARKER + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
