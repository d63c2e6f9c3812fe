"""An app on the memory store for the several-workers invalidation tests.

Served as ``areion run tests.plugins.caching._memory_workers_app:server --workers 2`` or
``uvicorn tests.plugins.caching._memory_workers_app:server.asgi --workers 2`` (the repository on
PYTHONPATH). ``GET /items/:id`` is cached and answers the data version read from the file
named by ``CACHE_TEST_VERSION``; every response, hits included, names the worker process that
served it in ``X-Worker-Pid``. ``POST /invalidate`` calls the invalidation API with its JSON
body (``{"key": ...}``, ``{"prefix": ...}``, ``{"tag": ...}`` or ``{"all": true}``).
``PUT /items/:id`` writes its body to that file: its 204 invalidates ``/items/:id`` (an unsafe
method's answer). ``CACHE_TEST_BROADCAST=false`` turns ``broadcast_invalidations`` off.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from areion_caching import cache, get_cache

from areion_core import AreionServerBuilder, HttpRequest, HttpResponse, Router, hookimpl

VERSION = Path(os.environ["CACHE_TEST_VERSION"])
router = Router()


class WorkerPid:
    """Names the serving process on every response (a hit too: it is not ``skip_replayed``)."""

    name = "worker_pid"

    @hookimpl
    def response_ready(self, request: HttpRequest, response: HttpResponse) -> None:
        response.headers["x-worker-pid"] = str(os.getpid())


@router.get("/ping")
async def ping(request: HttpRequest) -> str:
    return "pong"


@router.get("/items/:id")
@cache(ttl=60, tags=["items"])
def item(request: HttpRequest, id: int) -> dict[str, Any]:
    return {"id": id, "version": VERSION.read_text()}


@router.put("/items/:id")
def put_item(request: HttpRequest, id: int) -> None:
    VERSION.write_bytes(bytes(request.body))


@router.post("/invalidate")
async def invalidate(request: HttpRequest) -> dict[str, Any]:
    body = request.get_parsed_body()
    cache_ = get_cache(request.app)
    if body.get("all"):
        await cache_.clear()
        return {"removed": "all"}
    return {"removed": await cache_.invalidate(
        body.get("key"), prefix=body.get("prefix"), tag=body.get("tag"))}


server = (
    AreionServerBuilder()
    .with_router(router)
    .with_plugins(WorkerPid())
    .without_config_file()
    .with_access_log(False)
    .with_config({"plugins": {"enabled": ["caching"], "caching": {
        "broadcast_invalidations": os.environ.get("CACHE_TEST_BROADCAST", "true") == "true"}}})
    .build()
)
