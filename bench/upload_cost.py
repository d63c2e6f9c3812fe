"""CPU seconds a server spends per 100 MiB upload (the ``upload`` scenario), from /proc.

Wall-clock MiB/s on a shared 2-core VM moves with whatever else runs; the CPU time the server
process itself spends on an upload hardly does. This starts rows of ``_frameworks.py`` (the
scenario's ``areion``, ``aiohttp``, ``starlette`` by default) pinned to ``--server-cpu`` with
``taskset``, sends ``--uploads`` bodies of 100 MiB (the scenario's 1 KiB block repeated) over
one keep-alive connection from this process, pinned to ``--client-cpu``, checks each answer
(size and SHA-256), and prints the server's user and system CPU (``utime``/``stime`` of
``/proc/<pid>/stat``, over its process tree) per upload, and the wall time for reference::

    .venv-bench/bin/python bench/upload_cost.py
    .venv-bench/bin/python bench/upload_cost.py areion --uploads 40 --rounds 3

``--strace`` attaches ``strace -c -f`` to each server over the measured uploads and prints
its system-call summary (calls and errors per syscall): how many reads an upload takes.
Under strace the CPU figures are not comparable; they are left out.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from _frameworks import FRAMEWORKS_BY_NAME  # noqa: E402
from _scenarios import UPLOAD_BLOCK, UPLOAD_REPEAT, upload_digest, write_static_dir  # noqa: E402
from _server import ServerProcess, free_port  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")
#: The body is sent from one preallocated block of this many copies of UPLOAD_BLOCK (1 MiB).
_SEND_BLOCKS = 1024


def _cpu_seconds(pids: list[int]) -> tuple[float, float]:
    """User and system seconds of the processes ``pids`` (their threads included)."""
    user = system = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        user += int(fields[11])  # utime (field 14; fields[0] is field 3, the state)
        system += int(fields[12])  # stime
    return user / TICK, system / TICK


def _read_response(sock: socket.socket) -> tuple[int, bytes]:
    buffer = b""
    while b"\r\n\r\n" not in buffer:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        buffer += chunk
    head, _, rest = buffer.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    length = next(int(line.split(b":", 1)[1]) for line in lines if line.lower().startswith(b"content-length:"))
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        rest += chunk
    return status, rest[:length]


class Uploader:
    """One keep-alive connection sending the scenario's body and checking each answer."""

    def __init__(self, host: str, port: int) -> None:
        size = len(UPLOAD_BLOCK) * UPLOAD_REPEAT
        self.head = (
            f"PUT /upload HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/octet-stream\r\n"
            f"Content-Length: {size}\r\n\r\n"
        ).encode()
        self.block = memoryview(UPLOAD_BLOCK * _SEND_BLOCKS)
        self.sends = UPLOAD_REPEAT // _SEND_BLOCKS
        self.expected = upload_digest()
        self.sock = socket.create_connection((host, port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def upload(self) -> None:
        sock = self.sock
        sock.sendall(self.head)
        for _ in range(self.sends):
            sock.sendall(self.block)
        status, body = _read_response(sock)
        if status != 200 or json.loads(body) != self.expected:
            raise RuntimeError(f"unexpected answer {status}: {body[:200]!r}")

    def close(self) -> None:
        self.sock.close()


def _start_strace(pids: list[int], out: Path) -> subprocess.Popen[bytes]:
    """``strace -c -f`` attached to the server's processes (and their threads), summary to ``out``."""
    attach = [arg for pid in pids for arg in ("-p", str(pid))]
    tracer = subprocess.Popen(["strace", "-c", "-f", "-o", str(out), *attach], stderr=subprocess.PIPE)
    assert tracer.stderr is not None
    for _ in pids:  # "strace: Process N attached" once per process and thread
        tracer.stderr.readline()
    return tracer


def _wait_listening(host: str, port: int, server: ServerProcess, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        server.check_alive()
        try:
            socket.create_connection((host, port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"the server did not listen within {timeout:.0f} s")


def measure(name: str, args: argparse.Namespace, log_dir: Path) -> tuple[float, float, float]:
    """(user, system, wall) seconds per upload of row ``name``."""
    framework = FRAMEWORKS_BY_NAME[name]
    host = "127.0.0.1"
    port = free_port(host)
    static_dir = write_static_dir(log_dir / "static")
    command = [part.format(python=args.python, host=host, port=port, apps=HERE / "apps") for part in framework.command]
    strace_out = log_dir / f"{name}.strace"
    env = dict(os.environ)
    env["AREION_BENCH_STATIC"] = str(static_dir)
    for key, value in framework.env.items():
        env[key] = value.format(static=static_dir, redis_url="")
    server = ServerProcess(command, env=env, cwd=ROOT, cpus={args.server_cpu}, log=log_dir / f"{name}.log")
    server.start()
    try:
        _wait_listening(host, port, server)
        client = Uploader(host, port)
        try:
            for _ in range(args.warmup):
                client.upload()
            pids = server._tree()  # the process tree, as ServerProcess sums memory over it
            tracer = _start_strace(pids, strace_out) if args.strace else None
            user0, system0 = _cpu_seconds(pids)
            start = time.perf_counter()
            for _ in range(args.uploads):
                client.upload()
            wall = time.perf_counter() - start
            user1, system1 = _cpu_seconds(pids)
            if tracer is not None:
                tracer.send_signal(signal.SIGINT)
                tracer.wait(timeout=30)
        finally:
            client.close()
    finally:
        server.stop(grace=framework.stop_grace)
    if args.strace:
        print(f"--- {name}: strace -c -f over {args.uploads} uploads")
        print(strace_out.read_text())
    n = args.uploads
    return (user1 - user0) / n, (system1 - system0) / n, wall / n


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("rows", nargs="*", default=["areion", "aiohttp", "starlette"])
    parser.add_argument("--python", default=str(ROOT / ".venv-bench" / "bin" / "python"))
    parser.add_argument("--uploads", type=int, default=20, help="measured uploads per row and round (20)")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=1, help="rounds, the rows interleaved (1)")
    parser.add_argument("--server-cpu", type=int, default=1)
    parser.add_argument("--client-cpu", type=int, default=0)
    parser.add_argument("--strace", action="store_true", help="strace -c -f each server instead")
    args = parser.parse_args()
    os.sched_setaffinity(0, {args.client_cpu})
    log_dir = Path(tempfile.mkdtemp(prefix="areion-upload-cost-"))
    results: dict[str, list[tuple[float, float, float]]] = {name: [] for name in args.rows}
    for _ in range(args.rounds):
        for name in args.rows:
            results[name].append(measure(name, args, log_dir))
    if args.strace:
        return 0
    print(f"{'row':12} {'CPU ms/upload':>14} {'user':>8} {'system':>8} {'wall ms':>8}   (per 100 MiB, {args.uploads} "
          f"uploads x {args.rounds} rounds, server on CPU {args.server_cpu})")
    for name, rows in results.items():
        user = sum(r[0] for r in rows) / len(rows) * 1000
        system = sum(r[1] for r in rows) / len(rows) * 1000
        wall = sum(r[2] for r in rows) / len(rows) * 1000
        print(f"{name:12} {user + system:14.1f} {user:8.1f} {system:8.1f} {wall:8.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
