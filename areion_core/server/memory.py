"""glibc's allocator, set for a server that moves request bodies in pieces of up to 1 MiB.

Every socket read of a large body becomes a fresh bytes object of up to 256 KiB (uvloop's read
size) or 1 MiB (a large Content-Length body's reads, see body.py). By default glibc serves such sizes with ``mmap``
until its dynamic threshold catches up, and returns freed memory at the top of the heap to
the system past 128 KiB — so a streamed upload maps, faults in and unmaps the same pages over
and over: measured on a 100 MiB PUT, a third of the time spent outside the handler went to
page faults. Serving blocks up to 1.25 MiB from the heap and keeping up to 4 MiB of free heap
removes that (about 170 → 100 ms per 100 MiB here; with 1 MiB reads, a 512 KiB threshold
still mapped and unmapped every read) for at most 4 MiB of resident memory.

Only on glibc, once per process, and never over the operator's own choice: with any
``MALLOC_*`` variable or ``GLIBC_TUNABLES`` in the environment, or ``AREION_MALLOC_TUNING=0``,
nothing is changed. The thresholds do not raise an idle server's resident memory (measured:
the same RSS after the first ``/json`` answer with and without them).

Startup (imports, configuration, plugins building their tables) frees much of what it
allocated, but glibc keeps those free pages mapped. :func:`release_free_memory`, called once
when a worker starts listening, hands them back (``malloc_trim(0)``): about 1 MB less
resident per idle worker here, for one walk of the heap at start.
"""

from __future__ import annotations

import ctypes
import os
import sys

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 1280 * 1024
TRIM_THRESHOLD = 4 * 1024 * 1024

_done = False


def _glibc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux") or os.environ.get("AREION_MALLOC_TUNING", "1") == "0":
        return None
    try:
        libc = ctypes.CDLL(None)
        libc.gnu_get_libc_version  # noqa: B018 - glibc only (musl's mallopt does nothing)
    except (OSError, AttributeError):
        return None
    return libc


def release_free_memory() -> bool:
    """Return the allocator's free pages to the system (glibc's ``malloc_trim(0)``); True if it did."""
    libc = _glibc()
    if libc is None:
        return False
    trim = libc.malloc_trim
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return bool(trim(0))


def tune_allocator() -> bool:
    """Set glibc's mmap and trim thresholds for this process; True when they were set."""
    global _done
    if _done:
        return True
    if "GLIBC_TUNABLES" in os.environ or any(name.startswith("MALLOC_") for name in os.environ):
        return False  # the operator tuned the allocator already
    libc = _glibc()
    if libc is None:
        return False
    mallopt = libc.mallopt
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    _done = bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    return _done
