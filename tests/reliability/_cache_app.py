"""A small cached app for the filesystem-store fault tests, served by ``areion run`` in a subprocess.

The cache directory comes from ``CACHE_TEST_PATH``. The server runs in a process of its own so
a test can take disk space away from it alone: with ``RLIMIT_FSIZE`` lowered on this process,
a write fails with ``EFBIG`` (``File too large``) instead of killing the process, because
SIGXFSZ is ignored here.
"""

from __future__ import annotations

import itertools
import os
import signal

from areion_caching import cache

from areion_core import AreionServerBuilder, HttpRequest, Router

signal.signal(signal.SIGXFSZ, signal.SIG_IGN)

router = Router()
runs = itertools.count(1)


@router.get("/data/:n")
@cache(ttl=60)
async def data(request: HttpRequest, n: int) -> dict[str, int]:
    return {"n": n, "run": next(runs)}


server = (
    AreionServerBuilder()
    .with_router(router)
    .without_config_file()
    .with_config({"plugins": {"enabled": ["caching"], "caching": {
        "store": "filesystem", "path": os.environ["CACHE_TEST_PATH"], "retry_interval": 0.2}}})
    .with_access_log(False)
    .build()
)
