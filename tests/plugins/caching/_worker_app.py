"""A worker for the cross-process single-flight test.

Run as ``python -m tests.plugins.caching._worker_app REDIS_URL PORT`` (the repository on PYTHONPATH).

The handler counts its runs in Redis (``test:runs``), so runs in every process are counted.
"""

from __future__ import annotations

import asyncio
import sys

import redis.asyncio as aioredis
from areion_caching import cache

from areion_core import AreionServerBuilder, HttpRequest, Router

redis_url, port = sys.argv[1], int(sys.argv[2])
router = Router()


@router.get("/ping")
async def ping(request: HttpRequest) -> str:
    return "pong"


@router.get("/report")
@cache(ttl=60)
async def report(request: HttpRequest) -> dict[str, int]:
    client = aioredis.Redis.from_url(redis_url)
    try:
        run = int(await client.incr("test:runs"))
    finally:
        await client.aclose()
    await asyncio.sleep(0.3)
    return {"run": run}


server = (
    AreionServerBuilder()
    .with_router(router)
    .without_config_file()
    .with_host("127.0.0.1")
    .with_port(port)
    .with_access_log(False)
    .with_config(
        {
            "plugins": {
                "enabled": ["caching"],
                "caching": {"store": "redis", "url": redis_url, "lock_timeout": 5},
            }
        }
    )
    .build()
)

if __name__ == "__main__":
    server.run()
