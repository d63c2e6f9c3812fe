"""Which sans-I/O WebSocket library areion-realtime is built on: both measured on echo.

Each library serves the same minimal echo server (an ``asyncio.Protocol`` on uvloop that
feeds bytes to the library and writes back what it says), pinned to one CPU, while
``_ws_load.py`` drives 64 connections sending 1 KB text messages from another CPU:

    .venv/bin/python bench/ws_libraries.py --duration 3

Prints messages per second and latency per library. The result is in
plugins/realtime/README.md ("Why websockets' protocol layer").

Messages per second depend on how busy the machine is; instructions do not.
``--instructions`` counts, under callgrind (valgrind must be installed), what one 1 KB text
message costs each library alone, in process, received (parsed, unmasked, its event) and
sent (serialized), and websockets' ``Frame.serialize`` alone (what areion-realtime's send
calls):

    .venv/bin/python bench/ws_libraries.py --instructions
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
LIBRARIES = ("websockets", "wsproto")


class WebsocketsEcho(asyncio.Protocol):
    """websockets.server.ServerProtocol: handshake and frames."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        from websockets.server import ServerProtocol

        self.transport = transport
        self.proto = ServerProtocol(max_size=2**20)

    def data_received(self, data: bytes) -> None:
        from websockets.frames import Opcode
        from websockets.http11 import Request

        proto = self.proto
        proto.receive_data(data)
        for event in proto.events_received():
            if isinstance(event, Request):
                proto.send_response(proto.accept(event))
            elif event.opcode is Opcode.TEXT:
                proto.send_text(event.data)
            elif event.opcode is Opcode.BINARY:
                proto.send_binary(event.data)
        for out in proto.data_to_send():
            if out:
                self.transport.write(out)  # type: ignore[attr-defined]
            else:
                self.transport.close()


class WsprotoEcho(asyncio.Protocol):
    """wsproto.WSConnection(SERVER): handshake and messages."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        from wsproto import ConnectionType, WSConnection

        self.transport = transport
        self.conn = WSConnection(ConnectionType.SERVER)

    def data_received(self, data: bytes) -> None:
        from wsproto.events import AcceptConnection, BytesMessage, CloseConnection, Ping, Request, TextMessage

        conn = self.conn
        conn.receive_data(data)
        out = b""
        for event in conn.events():
            if isinstance(event, Request):
                out += conn.send(AcceptConnection())
            elif isinstance(event, (TextMessage, BytesMessage)):
                out += conn.send(event)  # whole messages here (the client never fragments)
            elif isinstance(event, (Ping, CloseConnection)):
                out += conn.send(event.response())
        if out:
            self.transport.write(out)  # type: ignore[attr-defined]


MESSAGE = b"a" * 1024
#: Masked with a fixed key, as a client sends it.
MASKED = b"\x81\xfe\x04\x00" + b"\x01\x02\x03\x04" + bytes(
    byte ^ (1, 2, 3, 4)[i % 4] for i, byte in enumerate(MESSAGE)
)


def loop(library: str, part: str, count: int) -> None:
    """``count`` messages through ``library``'s server side, received or sent, nothing else."""
    if library == "websockets":
        from websockets.frames import Frame, Opcode
        from websockets.protocol import State
        from websockets.server import ServerProtocol

        proto = ServerProtocol(state=State.OPEN, max_size=2**20)
        for _ in range(count):
            if part == "receive":
                proto.receive_data(MASKED)
                proto.events_received()
            elif part == "serialize":  # what areion-realtime's send() calls: the frame alone
                Frame(Opcode.TEXT, MESSAGE).serialize(mask=False, extensions=proto.extensions)
            else:
                proto.send_text(MESSAGE)
                proto.data_to_send()
    else:
        from wsproto.connection import Connection, ConnectionType
        from wsproto.events import TextMessage

        conn = Connection(ConnectionType.SERVER)
        text = MESSAGE.decode()
        for _ in range(count):
            if part == "receive":
                conn.receive_data(MASKED)
                list(conn.events())
            else:
                conn.send(TextMessage(data=text))


def instructions(library: str, part: str) -> float:
    """Instructions per message: two runs under callgrind, the difference over the extra ones."""
    totals = []
    for count in (2_000, 12_000):
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "callgrind.out"
            subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", sys.executable,
                            __file__, "--loop", library, part, str(count)],
                           check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            text = out.read_text(errors="replace")
        totals.append(int(next(line.split()[1] for line in text.splitlines() if line.startswith("totals:"))))
    return (totals[1] - totals[0]) / 10_000


def serve(library: str, port: int) -> None:
    import uvloop

    protocol = WebsocketsEcho if library == "websockets" else WsprotoEcho

    async def main() -> None:
        server = await asyncio.get_running_loop().create_server(protocol, "127.0.0.1", port)
        await server.serve_forever()

    uvloop.run(main())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def measure(library: str, duration: float, connections: int) -> dict[str, float]:
    port = free_port()
    server = subprocess.Popen(["taskset", "-c", "1", sys.executable, __file__, "--serve", library, "--port", str(port)])
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
            time.sleep(0.05)
        load = subprocess.run(
            ["taskset", "-c", "0", sys.executable, str(HERE / "_ws_load.py"), "--url", f"ws://127.0.0.1:{port}/",
             "--mode", "echo", "--connections", str(connections), "--duration", str(duration)],
            capture_output=True, text=True, check=True, timeout=duration + 60)
        line = next(line for line in load.stdout.splitlines() if line.startswith("BENCH_RESULT "))
        result: dict[str, float] = json.loads(line.removeprefix("BENCH_RESULT "))
        return result
    finally:
        server.terminate()
        server.wait(10)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--duration", type=float, default=3)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3, help="A, B, A, B, ...: drift hits both alike")
    parser.add_argument("--serve", choices=LIBRARIES)
    parser.add_argument("--port", type=int)
    parser.add_argument("--instructions", action="store_true",
                        help="count instructions per message (callgrind) instead of timing the echo")
    parser.add_argument("--loop", nargs=3, metavar=("LIBRARY", "PART", "COUNT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port)
        return 0
    if args.loop:
        loop(args.loop[0], args.loop[1], int(args.loop[2]))
        return 0
    if args.instructions:
        print("instructions per 1 KB text message, the library alone (callgrind)")
        for library in LIBRARIES:
            received, sent = instructions(library, "receive"), instructions(library, "send")
            print(f"{library:11} receive {received:9,.0f}   send {sent:9,.0f}   both {received + sent:9,.0f}")
        serialized = instructions("websockets", "serialize")
        print(f"websockets  send as areion-realtime does (Frame.serialize alone) {serialized:9,.0f}")
        return 0
    print(f"echo, {args.connections} connections, 1 KB text messages, {args.duration:g} s per run, "
          f"{args.rounds} rounds, server on CPU 1, load on CPU 0 ({os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f})")
    rates: dict[str, list[float]] = {library: [] for library in LIBRARIES}
    for _ in range(args.rounds):
        for library in LIBRARIES:
            result = measure(library, args.duration, args.connections)
            rates[library].append(result["requests"] / (result["duration_us"] / 1e6))
    for library, values in rates.items():
        values.sort()
        runs = ", ".join(f"{v:,.0f}" for v in values)
        print(f"{library:11} median {values[len(values) // 2]:9,.0f} messages/s   (runs: {runs})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
