"""In-process cost per request, for finding where time goes (a profiling aid, not a result).

Feeds pipelined requests through the real connection protocol (parser, routing, hooks,
handler, framing) into a memory transport — no sockets, no wrk — and prints microseconds
per request for a few showcase paths. Use it to compare two versions of a hot path on the
same machine; the throughput that counts is measured by ``bench/run.py``.

    .venv/bin/python bench/micro.py [--requests 20000] [--profile PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import os
import pstats
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from areion_core.server import HttpConnection, ServerState  # noqa: E402
from areion_core.testing import _MemoryTransport  # noqa: E402

PATHS = ("/json", "/slow", "/plaintext", "/users/42/posts/7", "POST /echo")
ECHO_BODY = b'{"id": 1, "name": "' + b"x" * 1000 + b'"}'


class _CountingTransport(_MemoryTransport):
    """Counts the responses written and keeps none (a turn's responses arrive in one write)."""

    writes = 0
    expected = 1

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.writes += bytes(data).count(b"HTTP/1.1 ")
        if self.writes >= self.expected:
            self.changed.set()


async def run_path(app: object, path: str, count: int, batch: int = 64) -> float:
    loop = asyncio.get_running_loop()
    plan = getattr(app, "body_plan", None)  # routes that stream or have their own body limit
    state = ServerState(loop, app.handle, app.make_request, app.config.limits, app.constant_headers(),
                        **({"body_plan": plan} if plan is not None else {}))
    conn = HttpConnection(state)
    transport = _CountingTransport(loop)
    conn.connection_made(transport)
    method, _, target = path.rpartition(" ")
    if method == "POST":
        request = (f"POST {target} HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
                   f"Content-Length: {len(ECHO_BODY)}\r\n\r\n").encode() + ECHO_BODY
    else:
        request = f"GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n".encode()
    chunk = request * batch
    # Warm up (and fill the cache on cached paths).
    conn.data_received(request)
    await transport.changed.wait()
    await asyncio.sleep(0.05)
    transport.expected = batch
    start = time.perf_counter()
    done = 0
    while done < count:
        transport.writes = 0
        transport.changed.clear()
        conn.data_received(chunk)
        await transport.changed.wait()
        done += batch
    elapsed = time.perf_counter() - start
    conn.connection_lost(None)
    return elapsed / done * 1e6


async def main(count: int, profile: str | None, profile_path: str) -> None:
    os.environ.setdefault("SHOWCASE_CACHE_STORE", "memory")
    os.environ.setdefault("AREION_ACCESS_LOG", "0")
    os.environ.setdefault("AREION_PLUGINS", "caching,compression,openapi,templates,scheduling")
    from examples.showcase.app import server

    app = server.app
    app.build()
    await app.startup()
    gc.freeze()
    try:
        for path in PATHS:
            await run_path(app, path, count // 4)
            if profile and path == profile_path:
                prof = cProfile.Profile()
                prof.enable()
                us = await run_path(app, path, count)
                prof.disable()
                prof.dump_stats(profile)
                pstats.Stats(prof).sort_stats("tottime").print_stats(25)
            else:
                us = min([await run_path(app, path, count) for _ in range(3)])
            print(f"{path:18s} {us:6.2f} µs/request")
    finally:
        await app.shutdown()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--profile", help="write a cProfile of one path's run here")
    parser.add_argument("--profile-path", default="/slow", help="the path --profile profiles (/slow)")
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(main(args.requests, args.profile, args.profile_path))
