"""A server process for the shared-limit test: ``POST /items`` limited to 10/minute on one Redis.

Run as ``python -m tests.plugins.security._limited_app REDIS_URL PORT`` (the repository on
PYTHONPATH); two of them on one Redis must together let exactly 10 requests through.
"""

from __future__ import annotations

import sys

from areion_core import AreionServerBuilder, HttpRequest, Router

redis_url, port = sys.argv[1], int(sys.argv[2])
router = Router()


@router.get("/ping")
async def ping(request: HttpRequest) -> str:
    return "pong"


@router.post("/items")
async def add_item(request: HttpRequest) -> dict[str, int]:
    return {"port": port}


server = (
    AreionServerBuilder()
    .with_router(router)
    .without_config_file()
    .with_host("127.0.0.1")
    .with_port(port)
    .with_config({
        "access_log": False,
        "plugins": {
            "enabled": ["security"],
            "security": {"rate_limit": {"store": "redis", "url": redis_url,
                                        "routes": {"POST /items": "10/minute"}}},
        },
    })
    .build()
)

if __name__ == "__main__":
    server.run()
