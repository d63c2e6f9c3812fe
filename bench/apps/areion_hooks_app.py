"""The showcase with one minimal plugin on every route, for issue 14's hook-cost target.

"A plugin with one sync ``request_received`` and one sync ``response_ready`` costs at most
10% of /json throughput; async hooks that finish without suspending likewise." The plugin
below is that plugin: it notes the request in ``request.state`` and sets a header on the
response — real work, as little of it as a plugin can do. ``AREION_BENCH_HOOKS=async`` makes
both hooks ``async def`` (finishing without suspending). Run with ``AREION_PLUGINS=""`` so no
installed plugin joins it; compare with ``areion-bare`` (the same showcase, no plugin).
"""

from __future__ import annotations

import os

from areion_core import AreionServerBuilder, HttpRequest, HttpResponse, hookimpl
from examples.showcase import app as showcase


class SyncHooks:
    name = "bench_hooks"

    @hookimpl
    def request_received(self, request: HttpRequest) -> None:
        request.state = {"bench.seen": True}

    @hookimpl
    def response_ready(self, request: HttpRequest, response: HttpResponse) -> None:
        response.headers["x-bench"] = "1"


class AsyncHooks:
    name = "bench_hooks"

    @hookimpl
    async def request_received(self, request: HttpRequest) -> None:
        request.state = {"bench.seen": True}

    @hookimpl
    async def response_ready(self, request: HttpRequest, response: HttpResponse) -> None:
        response.headers["x-bench"] = "1"


hooks = AsyncHooks() if os.environ.get("AREION_BENCH_HOOKS") == "async" else SyncHooks()
# The showcase's own server is built on import; this one is the same app with the plugin added.
server = (
    AreionServerBuilder()
    .with_router(showcase.router)
    .with_engine(showcase.engine)
    .with_orchestrator(showcase.orchestrator)
    .with_static_dir(os.environ.get("AREION_STATIC_DIR") or showcase.HERE / "static")
    .with_global_headers({"X-Content-Type-Options": "nosniff"})
    .with_plugins(hooks)
    .build()
)
