"""A private Redis for the scenarios that put Areion's cache on Redis.

Started on a free port with persistence off (``--save "" --appendonly no``), never the
machine's own 6379; flushed before each server that uses it starts, so every measurement
begins with an empty cache; stopped at the end of the run. Spoken to in plain RESP over a
socket, so the runner needs no client library.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from _server import free_port


class RedisFailed(Exception):
    """redis-server is missing, did not start or does not answer."""


def redis_version() -> str:
    """``redis-server --version``'s ``v=...``, or why there is none."""
    if shutil.which("redis-server") is None:
        return "not installed"
    completed = subprocess.run(
        ["redis-server", "--version"], capture_output=True, text=True, check=False
    )
    for part in completed.stdout.split():
        if part.startswith("v="):
            return part[2:]
    return completed.stdout.strip() or "unknown"


class PrivateRedis:
    """One redis-server process owned by this run."""

    def __init__(self, host: str, log: Path) -> None:
        self.host = host
        self.port = 0
        self._log = log
        self._process: subprocess.Popen[bytes] | None = None
        #: Why it is not running, once ``start`` failed.
        self.failure: str | None = None

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    def start(self, cpus: str | None, timeout: float = 10.0) -> None:
        if shutil.which("redis-server") is None:
            raise RedisFailed("redis-server is not installed (apt-get install redis-server)")
        self.port = free_port(self.host)
        command = [
            "redis-server",
            "--bind", self.host,
            "--port", str(self.port),
            "--save", "",
            "--appendonly", "no",
            "--protected-mode", "yes",
        ]  # fmt: skip
        if cpus is not None:
            command = ["taskset", "-c", cpus, *command]
        with self._log.open("ab") as handle:
            handle.write(f"$ {' '.join(command)}\n".encode())
            handle.flush()
            self._process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=handle,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                code = self._process.returncode
                raise RedisFailed(f"redis-server exited with {code} ({self._log})")
            try:
                if self.command("PING") == b"+PONG":
                    return
            except OSError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RedisFailed(f"redis-server not answering after {timeout:.0f} s ({self._log})")

    def command(self, *words: str) -> bytes:
        """Send one command; return the first line of the answer (enough for PING, FLUSHALL)."""
        parts = [f"*{len(words)}\r\n".encode()]
        for word in words:
            raw = word.encode()
            parts.append(b"$%d\r\n%s\r\n" % (len(raw), raw))
        with socket.create_connection((self.host, self.port), timeout=2.0) as sock:
            sock.sendall(b"".join(parts))
            answer = b""
            while not answer.endswith(b"\r\n"):
                chunk = sock.recv(4096)
                if not chunk:
                    break
                answer += chunk
        return answer.split(b"\r\n", 1)[0]

    def flush(self) -> None:
        """Empty every database: the next server starts with a cold cache."""
        answer = self.command("FLUSHALL")
        if answer != b"+OK":
            raise RedisFailed(f"FLUSHALL answered {answer!r}")

    def stop(self) -> None:
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._process = None
