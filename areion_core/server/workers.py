"""Worker processes under a supervisor that owns the port, restarts them and rolls them on SIGHUP.

**The port.** The supervisor binds one listening socket per worker slot with SO_REUSEPORT,
so that the kernel spreads new connections evenly between the workers (one shared socket
would let whichever worker wakes first take a whole burst of connections, and leave a
keep-alive pool all on one worker). SO_REUSEPORT alone would also let any other process of
the same user join the port, so:
- before binding, a probe socket binds the address *without* SO_REUSEPORT: the kernel
  refuses it when anything listens there, whether or not that listener set SO_REUSEPORT,
  and the supervisor stops with one line naming the address;
- after binding, a classic BPF program on the group picks one of *our* sockets (the first
  ``count`` of the group, which stay open as long as the supervisor runs) for every new
  connection, so a process that joins the port later receives nothing.

**Workers** are fresh processes running the same command as the supervisor (``sys.argv``
again, with ``AREION_WORKER`` saying which slot and which inherited descriptors), so each
one imports the application anew: that is what lets SIGHUP load new code and configuration.
Each inherits its slot's sockets, the supervisor's lifeline (``lifeline.py``: a worker exits
when the supervisor is gone, even after ``kill -9``) and a pipe on which it reports
``ready`` (serving) and ``draining`` (stopping).

**Signals.** SIGHUP: the workers are replaced one slot at a time — a new worker starts on the
slot's socket beside the old one, and only once it reports ready is the old one told to
drain (SIGTERM); the supervisor's pid does not change, and a new worker that fails to start
stops the roll, leaving the old workers serving. SIGTERM/SIGINT: the sockets are closed, the
workers drain, and what is still alive after the grace period is killed. A worker that
exits unexpectedly is restarted on its slot; one told to stop by someone else (SIGTERM to the
worker) reports that it drains and is replaced at once.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import json
import logging
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import time
from dataclasses import dataclass

from . import lifeline
from .listener import bind_sockets

logger = logging.getLogger("areion.server")

ENV = "AREION_WORKER"
_NOTICE = struct.Struct("=ci")  # (b"R" ready | b"D" draining, pid): 8 bytes, atomic on a pipe
_READY_TIMEOUT = 60.0  # a new worker that has not started serving by then is given up
_SO_ATTACH_REUSEPORT_CBPF = 51  # Linux: <asm-generic/socket.h>


class AddressInUseError(OSError):
    """Something else listens on the address (a clear message for the command line)."""


def _describe(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def bind_exclusive(host: str, port: int, backlog: int, count: int = 1) -> list[list[socket.socket]]:
    """``count`` sets of listening sockets on ``host:port``, refusing a port anyone else holds.

    With ``count == 1`` the sockets are plain (nobody can join them). With more, each set is
    one worker slot, the sets share the port through SO_REUSEPORT, and a BPF program keeps
    every new connection on them (see the module's docstring).
    """
    try:
        probe = bind_sockets(host, port, 0, reuse_port=False, listen=False)
    except OSError as exc:
        if exc.errno in (errno.EADDRINUSE, errno.EACCES, errno.EADDRNOTAVAIL):
            reason = {errno.EADDRINUSE: "the address is in use (another process listens there)",
                      errno.EACCES: "permission denied (ports below 1024 need privileges)",
                      errno.EADDRNOTAVAIL: "the address is not one of this machine's"}[exc.errno]
            raise AddressInUseError(exc.errno, f"cannot listen on {_describe(host, port)}: {reason}") from None
        raise
    if count == 1:
        for sock in probe:
            sock.listen(backlog)
        return [probe]
    port = int(probe[0].getsockname()[1])
    for sock in probe:
        sock.close()
    slots = [bind_sockets(host, port, backlog, reuse_port=True) for _ in range(count)]
    for sock in slots[0]:
        _keep_connections_on_the_first(sock, count)
    return slots


def _keep_connections_on_the_first(sock: socket.socket, count: int) -> None:
    """A reuseport group program: ``return random() % count`` — an index among the first
    ``count`` sockets bound, ours. Best effort: where unsupported the kernel's hash decides."""
    ld_random = (0x20, 0, 0, (-0x1000 + 56) & 0xFFFFFFFF)  # A = random (SKF_AD_RANDOM)
    mod = (0x94, 0, 0, count)  # A %= count
    ret = (0x16, 0, 0, 0)  # return A
    program = ctypes.create_string_buffer(b"".join(struct.pack("HBBI", *op) for op in (ld_random, mod, ret)))
    fprog = struct.pack("HL", 3, ctypes.addressof(program))
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, _SO_ATTACH_REUSEPORT_CBPF, fprog)


@dataclass
class WorkerHandoff:
    """What a worker process inherited from its supervisor (``AREION_WORKER``)."""

    worker_id: int
    sockets: list[socket.socket]
    notify_fd: int

    @classmethod
    def inherited(cls) -> WorkerHandoff | None:
        """This process's handoff when a supervisor started it (read once)."""
        value = os.environ.pop(ENV, None)
        if not value:
            return None
        data = json.loads(value)
        sockets = [socket.socket(fileno=fd) for fd in data["fds"]]
        for sock in sockets:
            sock.set_inheritable(False)
            sock.setblocking(False)
        os.set_inheritable(data["notify"], False)
        return cls(int(data["id"]), sockets, int(data["notify"]))

    def _send(self, kind: bytes) -> None:
        with contextlib.suppress(OSError):
            os.write(self.notify_fd, _NOTICE.pack(kind, os.getpid()))

    def ready(self) -> None:
        """Tell the supervisor that this worker serves."""
        self._send(b"R")

    def draining(self) -> None:
        """Tell the supervisor that this worker drains and will exit (it starts a replacement)."""
        self._send(b"D")


def worker_command() -> list[str]:
    """The command line that started this process, to run again for a worker."""
    args = list(getattr(sys, "orig_argv", sys.argv))[1:]
    if not args or args[0] in ("-", "-i") or (args[0] == "-c" and len(args) < 2):
        raise RuntimeError("workers > 1 need a command to start them with: run the app with "
                           "`areion run module:attr`, `python -m ...` or `python script.py`")
    return [sys.executable, *args]


@dataclass
class _Roll:
    """A SIGHUP in progress: the slots still to replace and the worker starting now."""

    pending: list[int]
    slot: int = -1
    new_pid: int = 0
    old_pid: int = 0
    started: float = 0.0


class Supervisor:
    """Keeps ``count`` workers running ``command`` on sockets it owns (see the module docstring)."""

    def __init__(self, count: int, slots: list[list[socket.socket]], command: list[str], grace: float) -> None:
        self.count = count
        self.slots = slots
        self.command = command
        self.grace = grace
        self.port = int(slots[0][0].getsockname()[1])
        self.children: dict[int, int] = {}  # serving workers: pid -> slot
        self.retiring: dict[int, int] = {}  # told to drain, or draining and replaced: pid -> slot
        self._procs: dict[int, subprocess.Popen[bytes]] = {}
        self._ready: set[int] = set()
        self._notices, self._notify = os.pipe()
        os.set_blocking(self._notices, False)
        self._life_read, self._life_write = lifeline.make()
        self._parent_life = lifeline.inherit()  # under `areion run --reload`: stop when it is gone
        self._stopping = False
        self._hup = False
        self._roll: _Roll | None = None
        self._recent: list[float] = []
        self.restarts = 0

    # --- starting workers -------------------------------------------------------------------
    def _spawn(self, slot: int) -> int:
        fds = [sock.fileno() for sock in self.slots[slot]]
        handoff = json.dumps({"id": slot, "fds": fds, "notify": self._notify})
        env = {**os.environ, ENV: handoff, **lifeline.child_env(self._life_read)}
        proc = subprocess.Popen(self.command, env=env, pass_fds=(*fds, self._notify, self._life_read))
        self._procs[proc.pid] = proc
        self.children[proc.pid] = slot
        return proc.pid

    def _signal(self, pid: int, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signum)

    def _on_stop(self, signum: int, frame: object) -> None:
        self._stopping = True

    def _on_hup(self, signum: int, frame: object) -> None:
        self._hup = True

    # --- the loop -----------------------------------------------------------------------------
    def run(self) -> int:
        """Start the workers and supervise them until SIGTERM/SIGINT; returns the exit status."""
        signal.signal(signal.SIGTERM, self._on_stop)
        signal.signal(signal.SIGINT, self._on_stop)
        signal.signal(signal.SIGHUP, self._on_hup)
        for slot in range(self.count):
            self._spawn(slot)
        watched = [self._notices] + ([self._parent_life] if self._parent_life is not None else [])
        while not self._stopping:
            with contextlib.suppress(InterruptedError):
                readable, _, _ = select.select(watched, [], [], 0.1)
                if self._notices in readable:
                    self._read_notices()
                if self._parent_life is not None and self._parent_life in readable \
                        and not os.read(self._parent_life, 1):
                    logger.warning("the parent process is gone; stopping")
                    break
            self._reap()
            if self._hup:
                self._hup = False
                self._begin_roll()
            self._advance_roll()
        return self._shutdown()

    def _read_notices(self) -> None:
        try:
            data = os.read(self._notices, 4096)
        except BlockingIOError:
            return
        for kind, pid in _NOTICE.iter_unpack(data[:len(data) - len(data) % _NOTICE.size]):
            if kind == b"R":
                self._ready.add(pid)
            elif kind == b"D" and not self._stopping and pid in self.children:
                slot = self.children.pop(pid)
                self.retiring[pid] = slot
                if self._roll is not None and pid == self._roll.old_pid:
                    continue  # the roll replaces it
                logger.info("worker %d (pid %d) is draining; starting its replacement", slot, pid)
                self.restarts += 1
                self._spawn(slot)

    def _reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            proc = self._procs.pop(pid, None)
            if proc is not None:
                proc.returncode = os.waitstatus_to_exitcode(status)
            self._ready.discard(pid)
            if self.retiring.pop(pid, None) is not None:
                continue  # drained, and replaced already
            slot = self.children.pop(pid, -1)
            if slot < 0 or self._stopping:
                continue
            code = os.waitstatus_to_exitcode(status)
            if self._roll is not None and pid == self._roll.new_pid:
                logger.error("reload failed: the new worker %d (pid %d) exited with status %d before it "
                             "served; the running workers keep serving", slot, pid, code)
                self._roll = None
                continue
            logger.warning("worker %d (pid %d) exited with status %d; restarting it", slot, pid, code)
            now = time.monotonic()
            self._recent = [t for t in self._recent if now - t < 10] + [now]
            if len(self._recent) > 5 * self.count:
                time.sleep(1.0)  # a crash loop: do not spin
            self.restarts += 1
            self._spawn(slot)

    # --- SIGHUP: one slot at a time -------------------------------------------------------------
    def _begin_roll(self) -> None:
        logger.info("SIGHUP: replacing the workers one at a time with the application loaded anew")
        self._roll = _Roll(pending=list(range(self.count)))

    def _advance_roll(self) -> None:
        roll = self._roll
        if roll is None:
            return
        if roll.new_pid:
            if roll.new_pid in self._ready:
                if roll.old_pid in self.children:
                    self.retiring[roll.old_pid] = self.children.pop(roll.old_pid)
                    self._signal(roll.old_pid, signal.SIGTERM)
                roll.new_pid = 0
            elif time.monotonic() - roll.started > _READY_TIMEOUT:
                logger.error("reload failed: the new worker %d (pid %d) did not serve within %.0f s; "
                             "the running workers keep serving", roll.slot, roll.new_pid, _READY_TIMEOUT)
                self._signal(roll.new_pid, signal.SIGKILL)
                self._roll = None
                return
            else:
                return
        if not roll.pending:
            logger.info("reload complete: %d workers replaced", self.count)
            self._roll = None
            return
        roll.slot = roll.pending.pop(0)
        roll.old_pid = next((pid for pid, slot in self.children.items() if slot == roll.slot), 0)
        roll.new_pid = self._spawn(roll.slot)
        roll.started = time.monotonic()

    # --- SIGTERM: the whole tree stops ----------------------------------------------------------
    def _shutdown(self) -> int:
        # New connections are refused from here on (once each worker closes its copy, too).
        for slot in self.slots:
            for sock in slot:
                sock.close()
        pids = {**self.children, **self.retiring}
        for pid in pids:
            self._signal(pid, signal.SIGTERM)
        deadline = time.monotonic() + self.grace + 1.0
        while pids and time.monotonic() < deadline:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                time.sleep(0.02)
                continue
            pids.pop(pid, None)
            if (proc := self._procs.pop(pid, None)) is not None:
                proc.returncode = os.waitstatus_to_exitcode(status)
        for pid in pids:
            logger.warning("worker pid %d did not stop within the grace period; killing it", pid)
            self._signal(pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
            if (proc := self._procs.pop(pid, None)) is not None:
                proc.returncode = -9
        for fd in (self._notices, self._notify, self._life_read, self._life_write):
            os.close(fd)
        return 0
