"""One process of a sibling group, for ``test_siblings``: a ``ResponseCache`` on a memory store.

Run as ``python -m tests.plugins.caching._sibling_peer`` (the repository on PYTHONPATH); two
such processes started by one parent are siblings. It fills its store with ``ENTRIES``,
joins its group, prints ``{"ready": pid}``, then answers one JSON line per command read
from stdin: ``invalidate key|prefix|tag TEXT``, ``clear``, ``keys`` or ``quit``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import time

from areion_caching import CacheRecord, CachingSettings, MemoryStore, ResponseCache

ENTRIES = {
    "GET:/users/1": ("users",),
    "GET:/users/2": ("users",),
    "GET:/posts/1": ("posts",),
    "GET:/about": (),
    "GET:/about#vary:accept-language=de": (),
}


def say(message: object) -> None:
    print(json.dumps(message), flush=True)


async def main() -> None:
    store = MemoryStore()
    cache = ResponseCache(CachingSettings(), store=store)
    for key, tags in ENTRIES.items():
        record = CacheRecord(200, (), key.encode(), time.time(), 60, tags=tags)
        await store.set(key, record, 60)
    cache.join_siblings()
    say({"ready": os.getpid()})
    while True:
        words = (await asyncio.to_thread(sys.stdin.readline)).rstrip("\n").split(" ", 2)
        if words[0] in ("", "quit"):
            break
        if words[0] == "keys":
            say(sorted(key for key in ENTRIES if store.get_nowait(key) is not None))
        elif words[0] == "clear":
            await cache.clear()
            say("cleared")
        else:
            kind, text = words[1], words[2]
            say({"removed": await cache.invalidate(**{kind: text}, raise_errors=True)})
    await cache.close()
    say("closed")


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    asyncio.run(main())
