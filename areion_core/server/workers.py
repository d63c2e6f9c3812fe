"""Pre-forked workers sharing one port through SO_REUSEPORT, under a restarting supervisor.

The supervisor holds a bound (never listening) socket so the port stays reserved, forks N
children that each listen on the same port with SO_REUSEPORT (the kernel spreads
connections between them), restarts any child that dies, and on SIGTERM/SIGINT forwards
SIGTERM, waits for the children to drain, and exits 0.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import time
from collections.abc import Callable

logger = logging.getLogger("areion.server")


def reserve_port(host: str, port: int) -> socket.socket:
    """A bound, non-listening SO_REUSEPORT socket holding ``host:port`` (resolves port 0)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


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
    """Runs ``run_worker(worker_id, port)`` in ``count`` forked processes and keeps them alive."""

    def __init__(
        self,
        count: int,
        host: str,
        port: int,
        run_worker: Callable[[int, int], int],
        grace: float,
        on_ready: Callable[[int], None] | None = None,
    ) -> None:
        self.count = count
        self.host = host
        self.run_worker = run_worker
        self.grace = grace
        self.on_ready = on_ready
        self._reserved = reserve_port(host, port)
        self.port = int(self._reserved.getsockname()[1])
        self.children: dict[int, int] = {}  # pid -> worker id
        self._stopping = False
        self.restarts = 0

    def _spawn(self, worker_id: int) -> None:
        pid = os.fork()
        if pid == 0:  # child
            code = 1
            try:
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                signal.signal(signal.SIGINT, signal.SIG_DFL)
                self._reserved.close()
                code = self.run_worker(worker_id, self.port)
            except BaseException:
                logger.exception("worker %d crashed", worker_id)
            finally:
                os._exit(code)
        self.children[pid] = worker_id

    def _on_signal(self, signum: int, frame: object) -> None:
        self._stopping = True

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        for worker_id in range(self.count):
            self._spawn(worker_id)
        if self.on_ready is not None:
            self.on_ready(self.port)
        recent: list[float] = []
        while not self._stopping:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                pid, status = 0, 0
            if pid == 0:
                time.sleep(0.1)
                continue
            worker_id = self.children.pop(pid, -1)
            if worker_id < 0 or self._stopping:
                continue
            logger.warning("worker %d (pid %d) exited with status %d; restarting it", worker_id, pid, status)
            now = time.monotonic()
            recent = [t for t in recent if now - t < 10] + [now]
            if len(recent) > 5 * self.count:
                time.sleep(1.0)  # a crash loop: do not spin
            self.restarts += 1
            self._spawn(worker_id)
        return self._shutdown()

    def _shutdown(self) -> int:
        for pid in list(self.children):
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                self.children.pop(pid, None)
        deadline = time.monotonic() + self.grace + 5
        while self.children and time.monotonic() < deadline:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                time.sleep(0.05)
            else:
                self.children.pop(pid, None)
        for pid in list(self.children):
            logger.warning("worker pid %d did not stop in time; killing it", pid)
            try:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
        self._reserved.close()
        return 0
