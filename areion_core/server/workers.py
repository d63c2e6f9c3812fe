"""Pre-forked workers sharing one port through SO_REUSEPORT, under a restarting supervisor.

The supervisor opens one listening SO_REUSEPORT socket per worker slot (the kernel spreads
new connections between them) and keeps them open for as long as it runs. Each worker is
forked with its slot's socket and closes the others. A worker that dies is restarted on the
same socket, so the connections the kernel queued on it meanwhile wait for the replacement
instead of being reset. A worker that is told to stop (SIGTERM) tells the supervisor first,
through a pipe, and its replacement starts at once while it drains. On SIGTERM/SIGINT the
supervisor closes its sockets, forwards SIGTERM, waits for the workers to drain, and exits 0.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import signal
import socket
import struct
import time
from collections.abc import Callable

logger = logging.getLogger("areion.server")

_PID = struct.Struct("=i")


def listening_socket(host: str, port: int, backlog: int = 2048) -> socket.socket:
    """A listening socket on ``host:port`` that shares the port with the other workers."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(backlog)
    sock.setblocking(False)
    return sock


class Supervisor:
    """Runs ``run_worker(worker_id, sock)`` in ``count`` forked processes and keeps them alive.

    ``sock`` is the worker's listening socket. In a worker, ``announce_draining()`` tells the
    supervisor that this worker has started to drain, so that its replacement starts now.
    """

    def __init__(
        self,
        count: int,
        host: str,
        port: int,
        run_worker: Callable[[int, socket.socket], int],
        grace: float,
        on_ready: Callable[[int], None] | None = None,
    ) -> None:
        self.count = count
        self.host = host
        self.run_worker = run_worker
        self.grace = grace
        self.on_ready = on_ready
        first = listening_socket(host, port)
        self.port = int(first.getsockname()[1])
        self.sockets = [first] + [listening_socket(host, self.port) for _ in range(count - 1)]
        self.children: dict[int, int] = {}  # pid -> worker id
        self.retiring: dict[int, int] = {}  # draining workers already replaced: pid -> worker id
        self._notices, self._notify = os.pipe()
        os.set_blocking(self._notices, False)
        self._stopping = False
        self._recent: list[float] = []
        self.restarts = 0

    def _spawn(self, worker_id: int) -> None:
        pid = os.fork()
        if pid == 0:  # child
            code = 1
            try:
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                signal.signal(signal.SIGINT, signal.SIG_DFL)
                os.close(self._notices)
                for i, sock in enumerate(self.sockets):
                    if i != worker_id:
                        sock.close()
                code = self.run_worker(worker_id, self.sockets[worker_id])
            except BaseException:
                logger.exception("worker %d crashed", worker_id)
            finally:
                os._exit(code)
        self.children[pid] = worker_id

    def announce_draining(self) -> None:
        """In a worker: tell the supervisor that this worker is draining and will exit."""
        with contextlib.suppress(OSError):
            os.write(self._notify, _PID.pack(os.getpid()))

    def _on_signal(self, signum: int, frame: object) -> None:
        self._stopping = True

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        for worker_id in range(self.count):
            self._spawn(worker_id)
        if self.on_ready is not None:
            self.on_ready(self.port)
        while not self._stopping:
            with contextlib.suppress(InterruptedError):
                readable, _, _ = select.select([self._notices], [], [], 0.1)
                if readable:
                    self._replace_draining()
            self._reap()
        return self._shutdown()

    def _replace_draining(self) -> None:
        try:
            data = os.read(self._notices, 4096)
        except BlockingIOError:
            return
        for (pid,) in _PID.iter_unpack(data[:len(data) - len(data) % _PID.size]):
            if self._stopping or pid not in self.children:
                continue
            worker_id = self.children.pop(pid)
            self.retiring[pid] = worker_id
            logger.info("worker %d (pid %d) is draining; starting its replacement", worker_id, pid)
            self.restarts += 1
            self._spawn(worker_id)

    def _reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if self.retiring.pop(pid, None) is not None:
                continue  # drained and replaced already
            worker_id = self.children.pop(pid, -1)
            if worker_id < 0 or self._stopping:
                continue
            logger.warning("worker %d (pid %d) exited with status %d; restarting it", worker_id, pid, status)
            now = time.monotonic()
            self._recent = [t for t in self._recent if now - t < 10] + [now]
            if len(self._recent) > 5 * self.count:
                time.sleep(1.0)  # a crash loop: do not spin
            self.restarts += 1
            self._spawn(worker_id)

    def _shutdown(self) -> int:
        # New connections are refused from here on (once each worker closes its copy, too).
        for sock in self.sockets:
            sock.close()
        pids = {**self.children, **self.retiring}
        for pid in list(pids):
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pids.pop(pid, None)
        deadline = time.monotonic() + self.grace + 5
        while pids and time.monotonic() < deadline:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                time.sleep(0.05)
            else:
                pids.pop(pid, None)
        for pid in list(pids):
            logger.warning("worker pid %d did not stop in time; killing it", pid)
            try:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
        os.close(self._notices)
        os.close(self._notify)
        return 0
