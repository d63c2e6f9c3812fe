"""Starting a server under test, waiting until it answers, reading its memory, stopping it.

The server runs in its own session (so the whole process group can be signalled), pinned
to one CPU (or a set of CPUs, for several workers) with ``taskset``, its output going to a
log file. Memory comes from
``/proc/<pid>/status``: ``VmRSS`` once the server is ready (idle) and ``VmHWM``, the peak
resident set, before it is stopped — summed over the process and any children it forked.
"""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import time
import zlib
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from _scenarios import Scenario


class ServerFailed(Exception):
    """The server did not start, answered wrongly, or died under load."""


#: A server log longer than this after its run (an access log) keeps its head and tail only.
LOG_KEEP_BYTES = 64 * 1024


def compact_log(log: Path, keep: int = LOG_KEEP_BYTES) -> None:
    """Cut the middle out of a long server log, once the server has stopped: the server
    wrote every line to the file (the cost being measured), the disk keeps ``keep`` bytes at
    each end."""
    try:
        size = log.stat().st_size
        if size <= 2 * keep:
            return
        with log.open("rb") as handle:
            head = handle.read(keep)
            handle.seek(size - keep)
            tail = handle.read()
    except OSError:
        return
    dropped = size - len(head) - len(tail)
    marker = f"\n[… bench: {dropped:,} bytes of server output cut here …]\n".encode()
    log.write_bytes(head + marker + tail)


def free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Reply:
    """One answer: status, headers (names in lower case) and the body as sent."""

    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")

    def decoded_body(self) -> bytes:
        """The body with its ``Content-Encoding`` undone (br, gzip, zstd or none)."""
        encoding = self.headers.get("content-encoding", "identity").strip().lower()
        if encoding in ("", "identity"):
            return self.body
        if encoding == "gzip":
            return zlib.decompress(self.body, 31)
        if encoding == "br":
            import brotli  # type: ignore[import-untyped, unused-ignore]

            return bytes(brotli.decompress(self.body))
        if encoding == "zstd":
            import zstandard  # type: ignore[import-untyped, unused-ignore]

            return bytes(zstandard.ZstdDecompressor().decompress(self.body))
        raise ValueError(f"unknown Content-Encoding {encoding!r}")


def request_once(host: str, port: int, scenario: Scenario, timeout: float = 5.0) -> Reply:
    """Send the scenario's request once (http.client sends ``Accept-Encoding: identity``
    unless the scenario sets one) and read the whole answer."""
    connection = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        headers = dict(scenario.headers)
        connection.request(
            scenario.method, scenario.path, body=scenario.full_body or None, headers=headers
        )
        response = connection.getresponse()
        body = response.read()
        # Repeated headers are joined as RFC 9110 allows; names are case-insensitive.
        merged: dict[str, str] = {}
        for name, value in response.getheaders():
            key = name.lower()
            merged[key] = f"{merged[key]}, {value}" if key in merged else value
        return Reply(response.status, merged, body)
    finally:
        connection.close()


def cpu_list(cpus: Collection[int]) -> str:
    """``taskset -c`` syntax for a set of CPUs: ``1`` or ``0,1``."""
    return ",".join(str(cpu) for cpu in sorted(cpus))


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name in parentheses may hold spaces: the ppid follows the last ")".
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return found


def _status_kib(pid: int, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


class ServerProcess:
    """One server under test, from start to stop."""

    def __init__(
        self,
        command: Sequence[str],
        *,
        env: Mapping[str, str],
        cwd: Path,
        cpus: Collection[int] | None,
        log: Path,
    ) -> None:
        self._command = list(command)
        if cpus is not None:
            self._command = ["taskset", "-c", cpu_list(cpus), *self._command]
        self._env = dict(env)
        self._cwd = cwd
        self._log = log
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    def start(self) -> None:
        with self._log.open("ab") as handle:
            handle.write(f"$ {' '.join(self._command)}\n".encode())
            handle.flush()
            self._process = subprocess.Popen(
                self._command,
                cwd=self._cwd,
                env=self._env,
                stdin=subprocess.DEVNULL,
                stdout=handle,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def check_alive(self) -> None:
        assert self._process is not None
        code = self._process.poll()
        if code is not None:
            raise ServerFailed(f"the server exited with code {code}")

    def wait_ready(self, host: str, port: int, scenario: Scenario, timeout: float) -> None:
        """Poll with the scenario's request until the server answers at all."""
        deadline = time.monotonic() + timeout
        last_error = ""
        while time.monotonic() < deadline:
            self.check_alive()
            try:
                request_once(host, port, scenario, timeout=2.0)
                return
            except (OSError, http.client.HTTPException) as error:
                last_error = f"{type(error).__name__}: {error}"
            time.sleep(0.1)
        raise ServerFailed(f"not answering after {timeout:.0f} s ({last_error})")

    def affinity(self) -> set[int]:
        return os.sched_getaffinity(self.pid)

    def rss_kib(self) -> int:
        """Resident memory now, over the process tree."""
        return sum(_status_kib(pid, "VmRSS") for pid in self._tree())

    def peak_rss_kib(self) -> int:
        """Peak resident memory (VmHWM), summed over the process tree."""
        return sum(_status_kib(pid, "VmHWM") for pid in self._tree())

    def _tree(self) -> list[int]:
        pids = [self.pid]
        index = 0
        while index < len(pids):
            pids.extend(_children(pids[index]))
            index += 1
        return pids

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM the process group, SIGKILL it after ``grace`` seconds."""
        process = self._process
        if process is None:
            return
        children = self._tree()[1:]
        for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
            if process.poll() is not None:
                break
            try:
                os.killpg(process.pid, sig)
            except ProcessLookupError:
                break
            try:
                process.wait(timeout=wait)
            except subprocess.TimeoutExpired:
                continue
        # A forked child that outlived its parent: only those seen above, still in our group.
        for pid in children:
            try:
                if os.getpgid(pid) == process.pid:
                    os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        self._process = None
