"""Instructions per WebSocket message on an Areion bench row, counted by callgrind.

The WebSocket counterpart of ``instructions.py`` (same method: the row's command under
``valgrind --tool=callgrind`` with instrumentation off, warmed up, counted only while the
measured messages flow):

- ``echo``: ``--connections`` sockets (64) each send a 1 KB text message and wait for its
  echo, ``--messages`` in all; the figure is the server's instructions per echoed message.
- ``broadcast``: ``--members`` sockets join ``/ws/rooms/bench`` and one more publishes
  ``--messages`` 1 KB messages there, each sent once every member has the one before; the
  figure is the server's instructions per delivery (one message to one member).

    .venv/bin/python bench/ws_instructions.py echo areion aiohttp
    .venv/bin/python bench/ws_instructions.py broadcast areion aiohttp --members 200

A peer row (``aiohttp``) runs on ``.venv-bench`` (``bench/setup.sh``).

Frames are masked once, ahead of the run, as ``_ws_load.py`` does. The counts include the
kernel-call wrappers but not the kernel. Needs valgrind.
"""

from __future__ import annotations

import argparse
import base64
import os
import selectors
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from _frameworks import FRAMEWORKS_BY_NAME, Kind  # noqa: E402
from _scenarios import write_static_dir  # noqa: E402
from _server import free_port  # noqa: E402
from _ws_load import masked_text_frame  # noqa: E402
from instructions import _control, _total_instructions, _wait_port  # noqa: E402


def _open(host: str, port: int, path: str) -> socket.socket:
    sock = socket.create_connection((host, port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall((f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
                  f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(1)  # byte by byte: nothing after the head may be swallowed
        if not chunk:
            raise ConnectionError("the server closed the connection during the handshake")
        head += chunk
    if not head.startswith(b"HTTP/1.1 101"):
        raise ConnectionError(f"handshake refused: {head[:80]!r}")
    return sock


def _read_exactly(sock: socket.socket, size: int) -> bytes:
    data = bytearray()
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError("the server closed the connection")
        data += chunk
    return bytes(data)


def _unmasked(payload: bytes) -> bytes:
    size = len(payload)
    head = bytes((0x81, size)) if size < 126 else bytes((0x81, 126)) + size.to_bytes(2, "big")
    return head + payload


def _echo(socks: list[socket.socket], frame: bytes, expected: bytes, count: int) -> None:
    per = [count // len(socks) + (1 if i < count % len(socks) else 0) for i in range(len(socks))]
    errors: list[BaseException] = []

    def one(sock: socket.socket, n: int) -> None:
        try:
            for _ in range(n):
                sock.sendall(frame)
                if _read_exactly(sock, len(expected)) != expected:
                    raise ValueError("wrong echo")
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=one, args=(sock, n)) for sock, n in zip(socks, per, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise RuntimeError(f"{len(errors)} connection(s) failed: {errors[0]!r}")


def _broadcast(publisher: socket.socket, members: list[socket.socket], frame: bytes, size: int, count: int) -> None:
    """Publish ``count`` times, each once every member has read the one before."""
    selector = selectors.DefaultSelector()
    for member in members:
        member.setblocking(False)
        selector.register(member, selectors.EVENT_READ)
    try:
        for _ in range(count):
            publisher.sendall(frame)
            owed = {member: size for member in members}
            while owed:
                for key, _events in selector.select(timeout=60):
                    member = key.fileobj
                    assert isinstance(member, socket.socket)
                    data = member.recv(65536)
                    if not data:
                        raise ConnectionError("a member's connection closed")
                    left = owed[member] - len(data)
                    if left < 0:
                        raise ValueError("a member got more than one message")
                    if left:
                        owed[member] = left
                    else:
                        del owed[member]
    finally:
        selector.close()
        for member in members:
            member.setblocking(True)


def measure(name: str, mode: str, *, python: str, connections: int, members: int, messages: int,
            warmup: int, size: int, log_dir: Path, keep: bool = False) -> float:
    framework = FRAMEWORKS_BY_NAME[name]
    if framework.kind is not Kind.AREION:
        python = str(ROOT / ".venv-bench" / "bin" / "python")  # a peer's server (bench/setup.sh)
    host = "127.0.0.1"
    port = free_port(host)
    static_dir = write_static_dir(log_dir / "static")
    command = [part.format(python=python, host=host, port=port, apps=HERE / "apps") for part in framework.command]
    env = dict(os.environ)
    env["AREION_BENCH_STATIC"] = str(static_dir)
    for key, value in framework.env.items():
        env[key] = value.format(static=static_dir, redis_url="")
    out_dir = Path(tempfile.mkdtemp(prefix=f"cg-{name}-", dir=log_dir))
    valgrind = [
        "valgrind", "--tool=callgrind", "--instr-atstart=no", "--trace-children=yes",
        f"--callgrind-out-file={out_dir}/callgrind.out.%p",
    ]  # fmt: skip
    payload = b"a" * size
    frame = masked_text_frame(payload)
    log = (log_dir / f"{name}.log").open("wb")
    process = subprocess.Popen([*valgrind, *command], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    socks: list[socket.socket] = []
    try:
        _wait_port(host, port, process, timeout=120)
        if mode == "echo":
            socks = [_open(host, port, "/ws/echo") for _ in range(connections)]
            _echo(socks, frame, _unmasked(payload), warmup)
            _control(process.pid, "-i", "on")
            _echo(socks, frame, _unmasked(payload), messages)
            _control(process.pid, "-i", "off")
            count = messages
        else:
            socks = [_open(host, port, "/ws/rooms/bench") for _ in range(members + 1)]
            publisher, room = socks[0], socks[1:]
            delivered = len(_unmasked(payload))
            # The publisher is a member too: it reads its own messages like the others.
            _broadcast(publisher, socks, frame, delivered, warmup)
            _control(process.pid, "-i", "on")
            _broadcast(publisher, socks, frame, delivered, messages)
            _control(process.pid, "-i", "off")
            count = messages * (len(room) + 1)
    finally:
        for sock in socks:
            sock.close()
        process.terminate()
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
    total = _total_instructions(out_dir)
    if keep:
        print(f"callgrind output kept in {out_dir} (callgrind_annotate it)")
    elif total:
        shutil.rmtree(out_dir, ignore_errors=True)
    return total / count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mode", choices=("echo", "broadcast"))
    parser.add_argument("rows", nargs="*", default=["areion"],
                        help="rows of bench/_frameworks.py (a peer's runs on .venv-bench: bench/setup.sh)")
    parser.add_argument("--python", default=str(ROOT / ".venv" / "bin" / "python"))
    parser.add_argument("--connections", type=int, default=64, help="echo: connections")
    parser.add_argument("--members", type=int, default=200, help="broadcast: members besides the publisher")
    parser.add_argument("--messages", type=int, default=None, help="echoes (3000), or messages published (20)")
    parser.add_argument("--warmup", type=int, default=None, help="echoes (500), or messages published (3)")
    parser.add_argument("--size", type=int, default=1024, help="message size in bytes (text)")
    parser.add_argument("--keep", action="store_true", help="keep callgrind's output for callgrind_annotate")
    args = parser.parse_args()
    echo = args.mode == "echo"
    if args.messages is None:
        args.messages = 3000 if echo else 20
    if args.warmup is None:
        args.warmup = 500 if echo else 3
    log_dir = Path(tempfile.mkdtemp(prefix="areion-ws-instructions-"))
    for name in args.rows:
        per = measure(name, args.mode, python=args.python, connections=args.connections, members=args.members,
                      messages=args.messages, warmup=args.warmup, size=args.size, log_dir=log_dir, keep=args.keep)
        unit = "echoed message" if args.mode == "echo" else "delivery"
        print(f"{name:20} ws {args.mode}: {per / 1000:8.1f}k instructions/{unit}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
