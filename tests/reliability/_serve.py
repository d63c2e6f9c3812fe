"""The real server in a process of its own (``areion run``), and ways to look at it from outside.

``ServerProcess`` starts ``_serve_app.py`` on a free port with the limits a test asks for
(through ``AREION_LIMITS_*``), waits until it answers, and always kills it on the way out.
What the tests measure comes from the operating system, not from the server's own account:
resident memory from ``/proc/<pid>/status``, open sockets from ``/proc/<pid>/fd``.
``HttpConnection`` is a minimal blocking keep-alive client over a raw socket.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO, Any

from areion_core.testing import TestResponse, parse_response

APP = str(Path(__file__).parent / "_serve_app.py") + ":server"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def proc_status(pid: int, field: str) -> int:
    """A ``kB`` field of ``/proc/<pid>/status`` (``VmRSS``, ``VmHWM``), in KiB."""
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def _tcp_inodes() -> set[str]:
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table) as fh:
            next(fh)
            inodes.update(line.split()[9] for line in fh)
    return inodes


def socket_count(pid: int) -> int:
    """How many TCP sockets the process has open (listening ones included).

    Sockets, not descriptors: the event loop's server holds a duplicate descriptor of each
    listening socket (server/listener.py), the same socket."""
    tcp = _tcp_inodes()
    inodes: set[str] = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        with contextlib.suppress(OSError):
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
            if link.startswith("socket:[") and link[8:-1] in tcp:
                inodes.add(link[8:-1])
    return len(inodes)


def children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as fh:
            return [int(p) for p in fh.read().split()]
    except OSError:
        return []


def wait_for(predicate: Any, timeout: float, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


class HttpConnection:
    """One keep-alive connection: ``request()`` sends raw bytes and returns the parsed response."""

    def __init__(self, port: int, timeout: float = 10.0) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = b""

    def get(self, path: str) -> TestResponse:
        return self.request(f"GET {path} HTTP/1.1\r\nHost: t\r\n\r\n".encode())

    def request(self, data: bytes) -> TestResponse:
        self.sock.sendall(data)
        return self.read_response()

    def read_response(self) -> TestResponse:
        while True:
            parsed = parse_response(self.buffer)
            if parsed is not None:
                response, used = parsed
                self.buffer = self.buffer[used:]
                return response
            chunk = self.sock.recv(262144)
            if not chunk:
                raise ConnectionError("closed before a complete response")
            self.buffer += chunk

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> HttpConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def get(port: int, path: str, timeout: float = 5.0) -> TestResponse:
    """One request on a new connection."""
    with HttpConnection(port, timeout) as conn:
        return conn.get(path)


class ServerProcess:
    """``areion run`` of the reliability app, in a subprocess that never outlives the test."""

    def __init__(self, *, workers: int | None = None, limits: dict[str, float] | None = None,
                 env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.workers = workers
        self.limits = limits or {}
        self.env = env or {}
        self.proc: subprocess.Popen[bytes] | None = None
        self.log: IO[str] | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, timeout: float = 20.0) -> ServerProcess:
        env = dict(os.environ, AREION_PLUGINS="")
        env.update({f"AREION_LIMITS_{k.upper()}": str(v) for k, v in self.limits.items()})
        env.update(self.env)
        cmd = [sys.executable, "-m", "areion_core", "run", APP, "--port", str(self.port), "--no-access-log"]
        if self.workers:
            cmd += ["--workers", str(self.workers)]
        self.log = tempfile.TemporaryFile("w+")  # noqa: SIM115 - closed in kill(), after the process
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=self.log, env=env)
        deadline = time.monotonic() + timeout
        pids: set[int] = set()
        # Ready when every process answers: new connections are spread over the workers.
        while len(pids) < (self.workers or 1):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise AssertionError(f"the server did not start: {self.output()}")
            try:
                pids.add(get(self.port, "/pid", timeout=2).json()["pid"])
            except OSError:
                time.sleep(0.05)
        return self

    def worker_pids(self) -> list[int]:
        return children(self.pid)

    def serving_pids(self) -> list[int]:
        """The processes that hold client connections: the workers, else the server itself."""
        return self.worker_pids() if self.workers else [self.pid]

    def sockets(self) -> int:
        return sum(socket_count(p) for p in self.serving_pids())

    def wait_idle(self, timeout: float = 5.0) -> int:
        """Wait until the server holds no client connection (one listening socket per process)."""
        listening = self.workers or 1
        assert wait_for(lambda: self.sockets() <= listening, timeout), f"{self.sockets()} sockets open"
        return listening

    def signal(self, signum: int = signal.SIGTERM) -> None:
        assert self.proc is not None
        self.proc.send_signal(signum)

    def wait(self, timeout: float) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout)

    def output(self) -> str:
        if self.log is None:
            return ""
        self.log.seek(0)
        return self.log.read()

    def kill(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            for child in self.worker_pids():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(child, signal.SIGKILL)
            self.proc.kill()
        self.proc.wait(10)
        if self.log is not None:
            self.log.close()
            self.log = None

    def __enter__(self) -> ServerProcess:
        try:
            return self.start()
        except BaseException:
            self.kill()
            raise

    def __exit__(self, *exc: object) -> None:
        self.kill()
