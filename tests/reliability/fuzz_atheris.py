"""Coverage-guided fuzzing of the HTTP/1.1 protocol with atheris (libFuzzer for Python).

Each input goes to a fresh in-process ``HttpConnection`` (the real protocol, app and
response code over a memory transport, as ``areion_core.testing`` drives it), cut into
reads at points taken from the input, followed by the client's half-close. An input fails
when an answer is a 5xx, an error is logged, an exception escapes, or the connection is
neither answered nor closed; every 100 inputs a normal request on a fresh connection must
still get its own answer. atheris is not a project dependency:

    .venv/bin/python -m pip install atheris
    .venv/bin/python tests/reliability/fuzz_atheris.py -max_total_time=300 .fuzz/atheris
    .venv/bin/python tests/reliability/fuzz_atheris.py crash-<sha1>      # replay inputs

An empty (or new) corpus directory is seeded with every case of ``corpus.py``, and an HTTP
dictionary is passed to libFuzzer unless ``-dict=`` is given. Replaying saved inputs works
without atheris too. Options after the script name are libFuzzer's (``-max_total_time``,
``-runs``, ``-jobs``, ``-dict``...).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import sys
import tempfile
from itertools import pairwise
from pathlib import Path
from typing import Any

try:
    import atheris
except ImportError:
    atheris = None

INSTALL_HINT = (
    "atheris is not installed, so there is nothing to fuzz with.\n"
    "Install it into the project's environment (it needs a Linux or macOS wheel, or clang to build):\n"
    "    .venv/bin/python -m pip install atheris\n"
    "then run: .venv/bin/python tests/reliability/fuzz_atheris.py -max_total_time=300 .fuzz/atheris\n"
    "(saved inputs can be replayed without atheris: fuzz_atheris.py FILE...)"
)


def _rerun_as_module() -> None:
    """Run again as ``-m tests.reliability.fuzz_atheris``, the repository root given through PYTHONPATH.

    Started by path (``scripts/fuzz_atheris.sh`` does), only this folder is on ``sys.path``, and
    the helpers are imported by their package path from the repository root.
    """
    root = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
    os.execve(sys.executable, [sys.executable, "-m", "tests.reliability.fuzz_atheris", *sys.argv[1:]], env)


if __name__ == "__main__" and not __package__:
    _rerun_as_module()


def _import_targets() -> tuple[Any, ...]:
    from areion_core import AreionServerBuilder
    from areion_core.server.connection import HttpConnection
    from areion_core.server.state import ServerState
    from areion_core.runner import new_event_loop
    from areion_core.testing import _MemoryTransport
    from tests.reliability._raw_http import ErrorLog, hostile_input_router

    return ErrorLog, hostile_input_router, AreionServerBuilder, HttpConnection, ServerState, new_event_loop, \
        _MemoryTransport


if atheris is not None:
    with atheris.instrument_imports(include=["areion_core", "tests.reliability._raw_http"]):
        TARGETS = _import_targets()
else:
    TARGETS = _import_targets()

ErrorLog, hostile_input_router, AreionServerBuilder, HttpConnection, ServerState, new_event_loop, \
    _MemoryTransport = TARGETS

LIMITS = {"max_url_bytes": 512, "max_header_bytes": 1024, "max_headers": 16, "max_body_bytes": 2048}
_STATUS = re.compile(rb"HTTP/1\.1 (\d{3}) ")
_FOLLOW_UP = b"GET /marker/still-here HTTP/1.1\r\nHost: x\r\n\r\n"


class Harness:
    """One app, one loop, a fresh connection per input."""

    def __init__(self) -> None:
        import logging

        builder = (AreionServerBuilder().with_router(hostile_input_router(reflect=False, sleep=False))
                   .without_config_file().with_config(plugins=[], limits=LIMITS))
        builder.with_access_log(False)
        self.app = builder.build().app
        self.loop = new_event_loop()
        self.errors = ErrorLog()
        logging.getLogger("areion").addHandler(self.errors)  # the server's, app's and plugins' loggers
        self.loop.run_until_complete(self.app.startup())
        self.state = ServerState(self.loop, self.app.handle, self.app.make_request, self.app.config.limits,
                                 self.app.constant_headers())
        self.inputs = 0

    def run(self, data: bytes) -> None:
        pieces = _cut(data)
        out = self.loop.run_until_complete(self._converse(pieces))
        codes = [int(c) for c in _STATUS.findall(out)]
        if any(code >= 500 and code not in (501, 505) for code in codes):  # 501/505: RFC answers
            raise AssertionError(f"5xx answer to {data[:300]!r}: {out[:300]!r}")
        if out and not out.startswith(b"HTTP/1.1 "):
            raise AssertionError(f"the answer does not start with a status line: {out[:300]!r}")
        logged = self.errors.take()
        if logged:
            raise AssertionError(f"errors logged for {data[:300]!r}: {logged}")
        self.inputs += 1
        if self.inputs % 100 == 0:
            out = self.loop.run_until_complete(self._converse([_FOLLOW_UP]))
            if b"marker=still-here" not in out:
                raise AssertionError(f"a normal request was not answered: {out[:300]!r}")

    async def _converse(self, pieces: list[bytes]) -> bytes:
        loop = self.loop
        conn = HttpConnection(self.state)
        transport = _MemoryTransport(loop)
        conn.connection_made(transport)
        for piece in pieces:
            await _deliver(loop, conn.data_received, piece)
        keep_open = await _deliver(loop, lambda _: conn.eof_received(), b"")
        if not keep_open:
            transport.close()
        try:
            while not transport.closed:
                transport.changed.clear()
                await asyncio.wait_for(transport.changed.wait(), 2.0)
        except TimeoutError:
            raise AssertionError(f"neither answered nor closed after {b''.join(pieces)[:300]!r}") from None
        finally:
            conn.connection_lost(None)
        return bytes(transport.buffer)


async def _deliver(loop: asyncio.AbstractEventLoop, callback: Any, data: bytes) -> Any:
    """Call ``callback(data)`` from a loop callback, as a transport does (never inside a task)."""
    done: asyncio.Future[Any] = loop.create_future()

    def call() -> None:
        try:
            done.set_result(callback(data))
        except BaseException as exc:  # surfaced in the awaiting task
            done.set_exception(exc)

    loop.call_soon(call)
    return await done


def _cut(data: bytes) -> list[bytes]:
    """The first byte says into how many reads (1-4) the rest is cut; the next ones say where."""
    if not data:
        return [b""]
    count = data[0] % 4
    cuts, rest = data[1:1 + count], data[1 + count:]
    points = sorted({c * len(rest) // 256 for c in cuts if 0 < c * len(rest) // 256 < len(rest)})
    bounds = [0, *points, len(rest)]
    return [rest[a:b] for a, b in pairwise(bounds)]


DICTIONARY = [
    b"\r\n", b"\r\n\r\n", b" HTTP/1.1\r\n", b"HTTP/1.0", b"GET ", b"POST ", b"HEAD ", b"OPTIONS ", b"CONNECT ",
    b"Host: ", b"Content-Length: ", b"Transfer-Encoding: ", b"chunked", b"identity", b"Expect: ", b"100-continue",
    b"Connection: ", b"close", b"keep-alive", b"Upgrade: ", b"h2c", b"If-None-Match: ", b"0\r\n\r\n", b";ext=",
    b"/marker/", b"/echo", b"/json", b"http://", b"%00", b"%ff", b"%2F", b"?", b"#", b"*", b"\x00", b"\xff",
]


def _prepare(argv: list[str]) -> list[str]:
    """Seed empty corpus directories with the malformed corpus; add the dictionary."""
    from tests.reliability.corpus import CORPUS

    for arg in argv[1:]:
        if arg.startswith("-") or os.path.isfile(arg):
            continue
        folder = Path(arg)
        folder.mkdir(parents=True, exist_ok=True)
        if not any(folder.iterdir()):
            for case in CORPUS:
                data = b"\x00" + (case.data if isinstance(case.data, bytes) else b"".join(case.data))
                (folder / hashlib.sha1(data).hexdigest()).write_bytes(data[:65536])
    if not any(arg.startswith("-dict=") for arg in argv):
        fd, name = tempfile.mkstemp(prefix="areion-http-", suffix=".dict")
        with os.fdopen(fd, "w") as out:
            for token in DICTIONARY:
                out.write('"' + "".join(f"\\x{b:02x}" for b in token) + '"\n')
        argv = [*argv, f"-dict={name}"]
    return argv


def main() -> None:
    harness = Harness()
    if atheris is None:
        files = [arg for arg in sys.argv[1:] if os.path.isfile(arg)]
        if not files:
            print(INSTALL_HINT, file=sys.stderr)
            return
        for name in files:
            harness.run(Path(name).read_bytes())
            print(f"ok: {name}")
        return
    atheris.Setup(_prepare(sys.argv), harness.run)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
