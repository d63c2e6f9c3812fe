"""Invalidation propagation between two processes, through Redis: p50/p99/max in ms.

    python bench/invalidation.py [--count 200] [--redis-url redis://...]

Two measurements, each between this process (the writer, another host's worker) and a
reader process:

- ``local-tier``: the reader holds a key in the Redis store's local tier; the writer
  overwrites it; measured is the time from the write being sent until the reader's copy is
  gone (the reader is told by Redis CLIENT TRACKING).
- ``memory-across-hosts``: the reader is a memory store kept coherent through pub/sub
  (``invalidate_across_hosts``); measured is the time from the writer publishing an
  invalidation until the reader applied it.

Both clocks are this host's ``time.time()``. Without ``--redis-url`` a private redis-server
is started on a free port (never the machine's 6379) and stopped afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _results import Propagation  # noqa: E402


async def _until(ready: Callable[[], bool], timeout: float = 10.0) -> None:
    """Poll ``ready`` (a flag set by a redis-py connection's reader: nothing to await on)."""
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            raise TimeoutError("the reader never subscribed")
        await asyncio.sleep(0.01)


async def _reader(url: str, mode: str) -> None:
    """The reader process: commands on stdin (``watch <key>``), events on stdout."""
    from areion_caching._redis_invalidations import RedisInvalidations
    from areion_caching.stores import RedisStore
    from areion_redis import RedisSettings

    loop = asyncio.get_running_loop()
    watched: dict[str, bool] = {}
    out = sys.stdout
    if mode == "local-tier":
        store = RedisStore(url, namespace="bench-inv", local_cache=True)
        assert store.local is not None
        local = store.local

        def on_invalidate() -> None:
            for key in [k for k in watched if local.get(k) is None]:
                del watched[key]
                out.write(f"gone {key} {time.time():.6f}\n")
                out.flush()

        local.on_invalidate = on_invalidate
        await store.get("warm-up")
        await _until(lambda: local.live)
    else:
        def apply(kind: str, text: str) -> None:
            if text in watched:
                del watched[text]
                out.write(f"gone {text} {time.time():.6f}\n")
                out.flush()

        hosts = RedisInvalidations(RedisSettings.from_url(url), "bench-inv", apply, logging.getLogger("bench"))
        hosts.open()
        await _until(lambda: hosts.subscribed)
    out.write("ready\n")
    out.flush()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := (await reader.readline()).decode().strip():
        _, key = line.split(" ", 1)
        if mode == "local-tier":
            while store.get_nowait(key) is None:  # a read fills the tier (see LocalTier.put)
                await store.get(key)
        watched[key] = True
        out.write(f"watching {key}\n")
        out.flush()


async def _writer(url: str, mode: str, count: int) -> list[float]:
    from areion_caching._redis_invalidations import RedisInvalidations
    from areion_caching.record import CacheRecord
    from areion_caching.stores import RedisStore
    from areion_redis import RedisSettings

    proc = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--reader", mode, "--redis-url", url,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert proc.stdin is not None and proc.stdout is not None
    assert (await proc.stdout.readline()).strip() == b"ready"
    store = RedisStore(url, namespace="bench-inv")
    hosts = RedisInvalidations(RedisSettings.from_url(url), "bench-inv", lambda k, t: None, logging.getLogger("bench"))
    if mode != "local-tier":
        hosts.open()
        await _until(lambda: hosts.subscribed)
    delays: list[float] = []
    try:
        for i in range(count + 5):  # the first five warm the connections up and are not counted
            key = f"GET:/item/{i}"
            record = CacheRecord(200, (), b"old", time.time(), 60)
            await store.set(key, record, 60)
            proc.stdin.write(f"watch {key}\n".encode())
            await proc.stdin.drain()
            assert (await proc.stdout.readline()).startswith(b"watching")
            sent = time.time()
            if mode == "local-tier":
                await store.set(key, CacheRecord(200, (), b"new", time.time(), 60), 60)
            else:
                await hosts.publish("key", key)
            event = (await asyncio.wait_for(proc.stdout.readline(), 5)).split()
            assert event[0] == b"gone" and event[1].decode() == key, event
            if i >= 5:
                delays.append(float(event[2]) - sent)
    finally:
        proc.stdin.close()
        await proc.wait()
        await store.clear()
        await store.close()
        await hosts.close()
    return delays


MODES = ("local-tier", "memory-across-hosts")


def figures(mode: str, delays: list[float]) -> Propagation:
    ms = sorted(d * 1000 for d in delays)
    p99 = ms[min(len(ms) - 1, round(0.99 * (len(ms) - 1)))]
    return Propagation(mode, len(ms), statistics.median(ms), p99, ms[-1])


def measure(url: str, count: int) -> list[Propagation]:
    """Both modes against the Redis at ``url``; a mode that fails is reported, not raised."""
    out = []
    for mode in MODES:
        try:
            out.append(figures(mode, asyncio.run(_writer(url, mode, count))))
        except Exception as error:  # the run goes on: the report shows the failure
            out.append(Propagation(mode, 0, 0.0, 0.0, 0.0, f"{type(error).__name__}: {error}"))
    return out


def _report(p: Propagation) -> str:
    if p.error:
        return f"{p.mode:>20}: failed: {p.error}"
    return (f"{p.mode:>20}: n={p.count}  p50 {p.p50_ms:.2f} ms  p99 {p.p99_ms:.2f} ms  "
            f"max {p.max_ms:.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--redis-url")
    parser.add_argument("--reader", choices=["local-tier", "memory-across-hosts"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.reader:
        asyncio.run(_reader(args.redis_url, args.reader))
        return
    private = None
    url = args.redis_url
    if url is None:
        from _redis import PrivateRedis

        private = PrivateRedis("127.0.0.1", Path(tempfile.mkdtemp(prefix="bench-inv-")) / "redis.log")
        private.start(None)
        url = private.url
    try:
        for figure in measure(url, args.count):
            print(_report(figure))
    finally:
        if private is not None:
            private.stop()


if __name__ == "__main__":
    main()
