"""The allocator thresholds are set on glibc unless the operator chose otherwise, and they cut the
page faults of a streamed upload (the reason they exist)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")

PROBE = "from areion_core.server.memory import tune_allocator; print(tune_allocator())"

# Streams 64 MiB in 256 KiB pieces through a freshly allocated bytes object each (as socket
# reads do), counting the minor page faults it takes.
CHURN = """
import resource, sys
from areion_core.server.memory import tune_allocator
if sys.argv[1] == "tuned":
    assert tune_allocator()
held = []
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for i in range(256):
    data = bytes(256 * 1024)
    copy = data[1:] + b"x"  # the parser's copy
    held.append(copy)
    if len(held) > 2:
        held.pop(0)
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _run(code: str, *args: str, env: dict[str, str] | None = None) -> str:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k != "GLIBC_TUNABLES"}
    clean.pop("AREION_MALLOC_TUNING", None)
    clean.update(env or {})
    return subprocess.run([sys.executable, "-c", code, *args], env=clean, capture_output=True, text=True,
                          check=True, timeout=30).stdout.strip()


def test_set_by_default_and_left_alone_when_the_operator_chose():
    assert _run(PROBE) == "True"
    assert _run(PROBE, env={"AREION_MALLOC_TUNING": "0"}) == "False"
    assert _run(PROBE, env={"MALLOC_ARENA_MAX": "2"}) == "False"
    assert _run(PROBE, env={"GLIBC_TUNABLES": "glibc.malloc.trim_threshold=1000000"}) == "False"


def test_fewer_page_faults_for_body_sized_buffers():
    default = int(_run(CHURN, "default"))
    tuned = int(_run(CHURN, "tuned"))
    assert tuned * 4 < default, (tuned, default)


# Fills the heap with small blocks (malloc, not Python's arenas: 1 KiB each), frees all but
# one in 64 so that the heap cannot shrink from its top, then releases the free pages.
TRIM = """
import ctypes, sys
from areion_core.server.memory import release_free_memory, tune_allocator
tune_allocator()
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096
blocks = [libc.malloc(1024) for _ in range(64 * 1024)]
for i, p in enumerate(blocks):
    ctypes.memset(p, 1, 1024)
    if i % 64:
        libc.free(p)
before = rss()
done = release_free_memory()
print(done, before - rss())
"""


def test_free_pages_go_back_to_the_system():
    done, released = _run(TRIM).split()
    assert done == "True"
    assert int(released) > 16 * 1024 * 1024  # of the ~64 MiB freed inside the heap
    assert _run(TRIM.replace("tune_allocator()\n", ""), env={"AREION_MALLOC_TUNING": "0"}).split()[0] == "False"
