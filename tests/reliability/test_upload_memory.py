"""A large upload costs the server a bounded amount of memory: its RSS, sampled from /proc while
the body streams, grows by less than 64 MiB — for a raw PUT read with request.stream() and for a
multipart form with two files spooled to disk. 256 MiB (2 × 48 MiB) in the normal suite,
1 GiB (2 × 200 MiB) under ``make reliability``."""

from __future__ import annotations

import hashlib
import socket
import threading
import time

import orjson
import pytest

from ._budget import count
from ._serve import ServerProcess, proc_status

MiB = 1024 * 1024
GROWTH_LIMIT_KB = 64 * 1024
BLOCK = bytes(range(256)) * 4096  # 1 MiB, sent over and over


class RssSampler:
    """The peak VmRSS of a process, sampled every 20 ms from a thread."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = self.start = proc_status(pid, "VmRSS")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, proc_status(self.pid, "VmRSS"))
            time.sleep(0.02)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)


def _send(port: int, head: bytes, parts: list[tuple[bytes, int]], tail: bytes = b"") -> dict[str, object]:
    """Send ``head``, then each ``(prefix, MiB of BLOCK)``, then ``tail``; the JSON answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        sock.sendall(head)
        for prefix, mib in parts:
            sock.sendall(prefix)
            for _ in range(mib):
                sock.sendall(BLOCK)
        sock.sendall(tail)
        data = b""
        while b"\r\n\r\n" not in data or not data.rstrip().endswith(b"}"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    head_end = data.index(b"\r\n\r\n")
    assert data.startswith(b"HTTP/1.1 200"), data[:300]
    return orjson.loads(data[head_end + 4:])  # type: ignore[no-any-return]


@pytest.fixture
def server():
    proc = ServerProcess(limits={"body_timeout": 30}).start()
    yield proc
    proc.kill()


def _warm(port: int) -> None:
    # The first request pays for imports and arenas: measure from after it.
    _send(port, b"PUT /upload HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % (4 * MiB), [(b"", 4)])


@pytest.mark.timeout(300)
def test_a_large_put_streams_in_bounded_memory(server):
    size_mib = count(256, 1024)
    _warm(server.port)
    digest = hashlib.sha256()
    for _ in range(size_mib):
        digest.update(BLOCK)
    head = b"PUT /upload HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % (size_mib * MiB)
    with RssSampler(server.pid) as rss:
        got = _send(server.port, head, [(b"", size_mib)])
    assert got == {"bytes": size_mib * MiB, "sha256": digest.hexdigest()}
    assert rss.peak - rss.start < GROWTH_LIMIT_KB, f"RSS grew by {(rss.peak - rss.start) // 1024} MiB"


@pytest.mark.timeout(300)
def test_a_large_multipart_upload_streams_in_bounded_memory(server):
    file_mib = count(48, 200)
    _warm(server.port)
    digest = hashlib.sha256()
    for _ in range(file_mib):
        digest.update(BLOCK)
    boundary = b"areion-upload-boundary"
    parts = []
    for name in (b"one", b"two"):
        prefix = (b"--" + boundary + b'\r\nContent-Disposition: form-data; name="' + name + b'"; filename="'
                  + name + b'.bin"\r\nContent-Type: application/octet-stream\r\n\r\n')
        parts.append(((b"\r\n" if parts else b"") + prefix, file_mib))
    tail = b"\r\n--" + boundary + b"--\r\n"
    length = sum(len(p) + mib * MiB for p, mib in parts) + len(tail)
    head = (b"POST /upload/form HTTP/1.1\r\nHost: t\r\nContent-Type: multipart/form-data; boundary=" + boundary
            + b"\r\nContent-Length: %d\r\n\r\n" % length)
    with RssSampler(server.pid) as rss:
        got = _send(server.port, head, parts, tail)
    expected = [file_mib * MiB, digest.hexdigest()]
    assert got == {"one": expected, "two": expected}
    assert rss.peak - rss.start < GROWTH_LIMIT_KB, f"RSS grew by {(rss.peak - rss.start) // 1024} MiB"
