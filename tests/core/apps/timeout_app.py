"""An app for the timeout tests run in a process of its own (``areion run``, uvicorn).

``/slow`` and ``/sync`` outlast their 0.5 s timeout, ``/default`` outlasts the global one
(``AREION_LIMITS_REQUEST_TIMEOUT`` in the test's environment); ``/stats`` says what the
handlers saw and whether requests run eagerly in this process.
"""

import asyncio
import time

from areion_core import AreionServerBuilder, Router
from areion_core.server import driver

router = Router()
seen = {"cancelled": 0, "finally": 0, "thread_done": 0}


@router.get("/slow", timeout=0.5)
async def slow(request):
    try:
        await asyncio.sleep(3)
    except asyncio.CancelledError:
        seen["cancelled"] += 1
        raise
    finally:
        seen["finally"] += 1
    return "too late"


@router.get("/fast", timeout=0.5)
async def fast(request):
    await asyncio.sleep(0.01)
    return "fast"


@router.get("/sync", timeout=0.5)
def sync(request):
    time.sleep(1.2)
    seen["thread_done"] += 1
    return "sync done"


@router.get("/default")
async def default(request):
    await asyncio.sleep(3)
    return "too late"


@router.get("/unbounded", timeout=None)
async def unbounded(request):
    await asyncio.sleep(0.8)
    return "unbounded"


@router.get("/stats", timeout=None)
async def stats(request):
    return {**seen, "eager": driver.EAGER}


server = (AreionServerBuilder().with_router(router).without_config_file().with_config(plugins=[])
          .with_access_log(False).build())
asgi = server.asgi
