"""A child process notices that its parent is gone, however the parent ended.

The parent makes a pipe, keeps the write end and hands the read end to the child (the fd
number in ``AREION_LIFELINE``). Nothing is ever written: when the parent exits — cleanly,
crashing or by ``kill -9`` — the kernel closes its end and the child's read returns EOF.
A thread blocks on that read, so the child learns of it even while its event loop is busy,
and, should the orderly stop it then asks for not end in time, ends the process itself.
(``PR_SET_PDEATHSIG`` would be Linux-only, and it fires when the parent's *thread* exits.)
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable

ENV = "AREION_LIFELINE"


def make() -> tuple[int, int]:
    """A new lifeline: ``(read end for the child, write end the parent keeps)``."""
    return os.pipe()


def child_env(read_fd: int) -> dict[str, str]:
    """The environment entry that hands ``read_fd`` to a child (pass it in ``pass_fds`` too)."""
    return {ENV: str(read_fd)}


def inherit() -> int | None:
    """This process's lifeline, if its parent gave it one (read once: grandchildren don't see it)."""
    value = os.environ.pop(ENV, None)
    if value is None:
        return None
    try:
        fd = int(value)
        os.fstat(fd)
    except (ValueError, OSError):
        return None
    os.set_inheritable(fd, False)
    return fd


def watch(fd: int, on_lost: Callable[[], None], hard_exit_after: float) -> threading.Thread:
    """Call ``on_lost()`` (from a daemon thread) when the parent is gone; if the process is still
    alive ``hard_exit_after`` seconds later, end it with status 1."""

    def wait() -> None:
        while True:
            try:
                if not os.read(fd, 1):
                    break
            except InterruptedError:
                continue
            except OSError:
                break
        on_lost()
        threading.Event().wait(hard_exit_after)
        os._exit(1)

    thread = threading.Thread(target=wait, name="areion-lifeline", daemon=True)
    thread.start()
    return thread
