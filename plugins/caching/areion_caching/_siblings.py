"""Invalidations of the memory store, passed between the sibling worker processes on one host.

With several workers (``areion run --workers N``, uvicorn, Granian, Hypercorn or gunicorn
``--workers N``) every worker process has its own memory store. An invalidation runs in the
one worker that served the request calling it; this module hands it to the others.

The group is found without help from the process manager: every process of one deployment
has the same parent (Areion's supervisor, or the uvicorn/Granian master) and the same app,
so each binds an ``AF_UNIX`` datagram socket ``<pid>-<n>.sock`` in the directory named from
its parent's pid and the app's identity (working directory and cache ``namespace``), under a
directory private to the user (0o700, under ``$XDG_RUNTIME_DIR`` or the temp directory).
The directory listing is the list of siblings: a worker started later (a restart, a SIGHUP
roll) is reached as soon as it has bound its socket, and the socket of a process that died
without removing it is removed by the first sender that is refused by it.

Why this, and not something else:

- datagrams: one invalidation is one message, delivered whole or not at all, with no
  framing and no connection to keep per sibling; sends are non-blocking, and on the local
  host Unix datagrams are not dropped (a full queue is reported to the sender, which retries).
- not the filesystem store: a hit would cost a file read and a decode, the work the memory
  store exists to avoid. Here a hit costs what it did; only an invalidation pays.
- not Redis pub/sub: it needs a server; whoever has one should use the ``redis`` store.
- not a pipe from the supervisor: uvicorn's and Granian's masters are not ours.

Only processes of the same user can send (the directory is private); what arrives is parsed
strictly, and anything else is ignored.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import itertools
import logging
import os
import socket
import stat
import tempfile
import time
import weakref
from collections.abc import Callable

#: Invalidation kinds as ``ResponseCache`` applies them, with their byte on the wire.
KINDS = {"key": b"k", "prefix": b"p", "tag": b"t", "clear": b"c"}
_NAMES = {code[0]: name for name, code in KINDS.items()}
_MAGIC = b"areion-cache-invalidation/1 "
#: Larger invalidations are sent as ``clear``: more is removed, never less.
MAX_MESSAGE = 60 * 1024
#: How long ``publish`` retries a sibling whose queue is full (its loop is blocked) before
#: it gives up on it with a warning.
DELIVERY_TIMEOUT = 1.0
# Datagrams read per readiness callback, so that a flood cannot starve the worker's requests.
_BATCH = 256
_SUFFIX = ".sock"
_serial = itertools.count()

Apply = Callable[[str, str], None]


def encode(kind: str, text: str) -> bytes:
    """One invalidation as a datagram: the magic, the kind's byte, the text (UTF-8)."""
    return _MAGIC + KINDS[kind] + text.encode("utf-8", "surrogatepass")


def decode(data: bytes) -> tuple[str, str] | None:
    """``(kind, text)`` of a datagram, or ``None`` if it is not a well-formed invalidation."""
    if len(data) <= len(_MAGIC) or not data.startswith(_MAGIC):
        return None
    kind = _NAMES.get(data[len(_MAGIC)])
    if kind is None:
        return None
    try:
        text = data[len(_MAGIC) + 1 :].decode("utf-8", "surrogatepass")
    except UnicodeDecodeError:
        return None
    if kind == "clear" and text:
        return None
    return kind, text


def group_directory(namespace: str) -> str:
    """The directory of this process's sibling group: per user, parent process and app.

    Siblings are the children of one parent running the same app in the same working
    directory with the same ``namespace``. Two different apps that share all of that also
    share invalidations: they remove entries from each other by key, prefix or tag, which
    costs misses but never serves an old entry.
    """
    base = os.environ.get("XDG_RUNTIME_DIR", "")
    if not base or not os.path.isdir(base):
        base = tempfile.gettempdir()
    app = f"{os.getcwd()}\0{namespace}".encode("utf-8", "surrogatepass")
    identity = hashlib.sha256(app).hexdigest()[:16]
    user = os.getuid() if hasattr(os, "getuid") else 0  # Windows: open() refuses anyway
    return os.path.join(base, f"areion-cache-{user}", f"{os.getppid()}-{identity}")


def _remove_socket(path: str, directory: str, owner: int) -> None:
    """Remove a socket file and, if it was the last, its group directory (in its own process)."""
    if os.getpid() != owner:
        return  # a forked child exiting: the socket is its parent's
    with contextlib.suppress(OSError):
        os.unlink(path)
    with contextlib.suppress(OSError):  # other siblings are still in it
        os.rmdir(directory)


def _private_directory(path: str) -> None:
    """Make ``path`` (0o700) or check that the existing one is this user's and private."""
    with contextlib.suppress(FileExistsError):
        os.mkdir(path, 0o700)
    st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o077:
        raise PermissionError(f"{path} is not a directory private to this user")


class SiblingInvalidations:
    """This process's socket in its sibling group: sends invalidations and applies theirs.

    ``apply(kind, text)`` is called from the socket's reader callback for each invalidation
    that arrives, synchronously, so an entry is gone before a request read in the same turn
    of the event loop can be answered from it.
    """

    def __init__(self, directory: str, apply: Apply, logger: logging.Logger) -> None:
        self.directory = directory
        self.apply = apply
        self.logger = logger
        self.path = ""
        self._sock: socket.socket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._bad_messages = 0
        self._cleanup: weakref.finalize[[str, str, int], SiblingInvalidations] | None = None

    def open(self) -> None:
        """Bind this process's socket and read it on the running loop; raise ``OSError`` if not."""
        if not hasattr(socket, "AF_UNIX"):
            raise OSError("this platform has no Unix datagram sockets")
        loop = asyncio.get_running_loop()
        path = os.path.join(self.directory, f"{os.getpid()}-{next(_serial)}{_SUFFIX}")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            sock.setblocking(False)
            for attempt in range(3):
                _private_directory(os.path.dirname(self.directory))
                with contextlib.suppress(FileExistsError):
                    os.mkdir(self.directory, 0o700)
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)  # left by a dead process that had our pid
                try:
                    sock.bind(path)
                    break
                except FileNotFoundError:
                    # The last sibling to leave removed the empty directory after we made it.
                    if attempt == 2:
                        raise
            loop.add_reader(sock.fileno(), self._receive)
        except BaseException:
            sock.close()
            raise
        self._sock, self._loop, self.path = sock, loop, path
        # Also at interpreter exit, for a process that never runs its shutdown hooks.
        self._cleanup = weakref.finalize(self, _remove_socket, path, self.directory, os.getpid())

    def close(self) -> None:
        """Stop reading, remove this process's socket and, if it was the last, the directory."""
        sock, self._sock = self._sock, None
        if sock is None:
            return
        loop, self._loop = self._loop, None
        if loop is not None and not loop.is_closed():
            loop.remove_reader(sock.fileno())
        sock.close()
        if self._cleanup is not None:
            self._cleanup()

    # --- sending --------------------------------------------------------------------------
    def siblings(self) -> list[tuple[str, int]]:
        """Path and inode of every other socket in the group directory."""
        own = os.path.basename(self.path)
        try:
            entries = list(os.scandir(self.directory))
        except FileNotFoundError:
            return []
        return [(e.path, e.inode()) for e in entries if e.name.endswith(_SUFFIX) and e.name != own]

    async def publish(self, kind: str, text: str) -> int:
        """Send one invalidation to every sibling; return how many took it.

        Returns once each sibling's socket holds the message (or, for a sibling whose queue
        stays full for ``DELIVERY_TIMEOUT`` seconds, once that has been logged).
        """
        message = encode(kind, text)
        if len(message) > MAX_MESSAGE:
            message = encode("clear", "")
        pending = self.siblings()
        delivered = 0
        deadline = time.monotonic() + DELIVERY_TIMEOUT
        delay = 0.001
        while pending:
            busy = []
            for peer in pending:
                outcome = self._send(message, *peer)
                if outcome is None:
                    busy.append(peer)
                else:
                    delivered += outcome
            if not busy:
                break
            if time.monotonic() >= deadline:
                for path, _ in busy:
                    self.logger.warning(
                        "caching: sibling worker %s did not take an invalidation within %.1fs "
                        "(its queue stayed full); it may serve the old entry until it expires",
                        os.path.basename(path), DELIVERY_TIMEOUT)
                break
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.05)
            pending = busy
        return delivered

    def _send(self, message: bytes, path: str, inode: int) -> int | None:
        """1 if sent, 0 if there is no one there, None to try again later."""
        sock = self._sock
        if sock is None:
            return 0
        try:
            sock.sendto(message, path)
        except (BlockingIOError, InterruptedError):
            return None  # its queue is full: its loop has not read it yet
        except ConnectionRefusedError:
            self._remove_stale(path, inode)
            return 0
        except FileNotFoundError:
            return 0  # it left between the listing and the send
        except OSError as exc:
            if exc.errno == errno.ENOBUFS:  # macOS reports a full queue so
                return None
            self.logger.warning("caching: could not send an invalidation to %s: %s", path, exc)
            return 0
        return 1

    @staticmethod
    def _remove_stale(path: str, inode: int) -> None:
        # Nobody is bound to it: its process died without removing it. Compare the inode so
        # that a socket a new process just bound under the same name is left alone.
        try:
            if os.lstat(path).st_ino == inode:
                os.unlink(path)
        except OSError:
            pass

    # --- receiving ------------------------------------------------------------------------
    def _receive(self) -> None:
        sock = self._sock
        if sock is None:
            return
        for _ in range(_BATCH):
            try:
                data, _, flags, _ = sock.recvmsg(MAX_MESSAGE + 1)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                self.logger.warning("caching: reading sibling invalidations failed: %s", exc)
                return
            message = None if flags & socket.MSG_TRUNC else decode(data)
            if message is None:
                self._ignore(data)
                continue
            try:
                self.apply(*message)
            except Exception:
                self.logger.exception("caching: applying a sibling's invalidation failed")

    def _ignore(self, data: bytes) -> None:
        # Only this user's processes can write here, so this is a bug or a stray tool, not
        # an attack: say so once, then quietly.
        self._bad_messages += 1
        level = logging.WARNING if self._bad_messages == 1 else logging.DEBUG
        self.logger.log(level, "caching: ignored a malformed message on %s (%d bytes: %r)",
                        self.path, len(data), data[:40])
