"""Instructions per request of one Areion bench row, counted by callgrind.

Wall-clock figures on a shared 2-core VM swing by 10–20% between runs; instruction counts do
not depend on what else the machine is doing, so they are what a hot-path change is judged by
before the side-by-side run in ``run.py`` confirms it. This starts a row of
``_frameworks.py`` (its command and environment) under ``valgrind --tool=callgrind`` with
instrumentation off, warms it up, switches counting on, sends ``--requests`` requests over
``--connections`` keep-alive connections (the same request each time), switches counting
off and prints the server's instructions per request::

    .venv/bin/python bench/instructions.py areion-bare
    .venv/bin/python bench/instructions.py areion-default areion-request-id --path /json
    .venv/bin/python bench/instructions.py areion-security-redis --redis
    .venv/bin/python bench/instructions.py areion --upload --requests 3 --warmup 1 --connections 1

It needs valgrind (Debian's package). ``--redis`` starts a private ``redis-server`` for the
rows that need one. The counts include the kernel-call wrappers but not the kernel.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from _frameworks import FRAMEWORKS_BY_NAME, Kind  # noqa: E402
from _scenarios import UPLOAD_BLOCK, UPLOAD_REPEAT, write_static_dir  # noqa: E402
from _server import free_port  # noqa: E402


def _read_response(sock: socket.socket, buffer: bytearray) -> None:
    """Read one HTTP/1.1 response with a Content-Length or chunked body off ``sock``."""
    while b"\r\n\r\n" not in buffer:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        buffer += chunk
    head_end = buffer.index(b"\r\n\r\n") + 4
    head = bytes(buffer[:head_end]).lower()
    if b"transfer-encoding: chunked" in head:
        while b"\r\n0\r\n\r\n" not in buffer[head_end - 2 :]:
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("the server closed the connection")
            buffer += chunk
        end = buffer.index(b"\r\n0\r\n\r\n", head_end - 2) + 7
    else:
        length = 0
        for line in head.split(b"\r\n"):
            if line.startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        end = head_end + length
        while len(buffer) < end:
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("the server closed the connection")
            buffer += chunk
    del buffer[:end]


def _drive(host: str, port: int, request: bytes, count: int, connections: int, close: bool = False) -> None:
    """Send ``count`` requests spread over ``connections`` keep-alive connections, each
    connection one request at a time (no pipelining), all connections at once; with ``close``
    each request on a connection of its own, read until the server closes it."""
    per = [count // connections + (1 if i < count % connections else 0) for i in range(connections)]
    errors: list[BaseException] = []

    def one(n: int) -> None:
        try:
            if close:
                for _ in range(n):
                    with socket.create_connection((host, port)) as sock:
                        sock.sendall(request)
                        while sock.recv(65536):
                            pass
                return
            with socket.create_connection((host, port)) as sock:
                buffer = bytearray()
                for _ in range(n):
                    sock.sendall(request)
                    _read_response(sock, buffer)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=one, args=(n,)) for n in per]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise RuntimeError(f"{len(errors)} connection(s) failed: {errors[0]!r}")


def _wait_port(host: str, port: int, process: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with code {process.returncode}")
        try:
            socket.create_connection((host, port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"the server did not listen within {timeout:.0f} s")


def _control(pid: int, *args: str) -> None:
    subprocess.run(["callgrind_control", *args, str(pid)], check=True, capture_output=True)


def _total_instructions(out_dir: Path) -> int:
    total = 0
    for path in out_dir.glob("callgrind.out*"):
        for line in path.read_text(errors="replace").splitlines():
            if line.startswith("totals:"):
                total += int(line.split()[1])
    return total


def measure(
    name: str,
    *,
    python: str,
    path: str,
    method: str,
    body: bytes,
    headers: list[str],
    requests: int,
    warmup: int,
    connections: int,
    redis_url: str,
    log_dir: Path,
    close: bool = False,
    keep: bool = False,
) -> float:
    framework = FRAMEWORKS_BY_NAME[name]
    if framework.kind is not Kind.AREION:
        raise SystemExit(f"{name}: only Areion rows (this counts the server's instructions)")
    host = "127.0.0.1"
    port = free_port(host)
    static_dir = write_static_dir(log_dir / "static")
    command = [part.format(python=python, host=host, port=port, apps=HERE / "apps") for part in framework.command]
    env = dict(os.environ)
    env["AREION_BENCH_STATIC"] = str(static_dir)
    for key, value in framework.env.items():
        env[key] = value.format(static=static_dir, redis_url=redis_url)
    out_dir = Path(tempfile.mkdtemp(prefix=f"cg-{name}-", dir=log_dir))
    valgrind = [
        "valgrind", "--tool=callgrind", "--instr-atstart=no", "--trace-children=yes",
        f"--callgrind-out-file={out_dir}/callgrind.out.%p",
    ]  # fmt: skip
    log = (log_dir / f"{name}.log").open("wb")
    # A row with a working directory of its own (areion-cache-hit: its areion.toml) runs there.
    process = subprocess.Popen(
        [*valgrind, *command], cwd=framework.cwd or ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        _wait_port(host, port, process, timeout=120)
        lines = [f"{method} {path} HTTP/1.1", f"Host: {host}:{port}", *headers]
        if close:
            lines.append("Connection: close")
        if body:
            lines.append(f"Content-Length: {len(body)}")
        request = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
        _drive(host, port, request, warmup, connections, close)
        _control(process.pid, "-i", "on")
        _drive(host, port, request, requests, connections, close)
        _control(process.pid, "-i", "off")
    finally:
        process.terminate()
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
    total = _total_instructions(out_dir)
    if total and not os.environ.get("AREION_KEEP_CALLGRIND"):
        if keep:
            print(f"{name}: callgrind output kept in {out_dir} (callgrind_annotate reads it)")
        else:
            shutil.rmtree(out_dir, ignore_errors=True)
    return total / requests


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("rows", nargs="+", help="Areion rows of bench/_frameworks.py")
    parser.add_argument("--python", default=str(ROOT / ".venv" / "bin" / "python"))
    parser.add_argument("--path", default="/json")
    parser.add_argument("--method", default="GET")
    parser.add_argument("--body", default="", help="request body (text)")
    parser.add_argument("--header", action="append", default=[], help="'Name: value', repeatable")
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--warmup", type=int, default=1000)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--close", action="store_true",
                        help="a new connection per request (Connection: close), as the json-close scenario")
    parser.add_argument("--upload", action="store_true",
                        help="the upload scenario: PUT /upload with its 100 MiB body (use --requests 3 --warmup 1 "
                             "--connections 1: callgrind takes about a minute per upload)")
    parser.add_argument("--redis", action="store_true", help="start a private redis-server")
    parser.add_argument("--keep", action="store_true",
                        help="keep callgrind's output files, to compare two rows function by function")
    parser.add_argument("--redis-url", default="")
    args = parser.parse_args()
    log_dir = Path(tempfile.mkdtemp(prefix="areion-instructions-"))  # server logs, kept
    redis: subprocess.Popen[bytes] | None = None
    redis_url = args.redis_url
    if args.redis:
        redis_port = free_port("127.0.0.1")
        redis = subprocess.Popen(
            ["redis-server", "--port", str(redis_port), "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
        )
        time.sleep(0.3)
        redis_url = f"redis://127.0.0.1:{redis_port}/0"
    body = args.body.encode()
    if args.upload:
        args.method, args.path, body = "PUT", "/upload", UPLOAD_BLOCK * UPLOAD_REPEAT
        args.header.append("Content-Type: application/octet-stream")
    try:
        for name in args.rows:
            per_request = measure(
                name,
                python=args.python,
                path=args.path,
                method=args.method,
                body=body,
                headers=args.header,
                requests=args.requests,
                warmup=args.warmup,
                connections=args.connections,
                redis_url=redis_url,
                log_dir=log_dir,
                close=args.close,
                keep=args.keep,
            )
            if args.upload:
                print(f"{name:28} {args.method} {args.path}: {per_request / 1e6:8.1f}M instructions/upload")
            else:
                print(f"{name:28} {args.method} {args.path}: {per_request / 1000:8.1f}k instructions/request")
    finally:
        if redis is not None:
            redis.terminate()
            redis.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
