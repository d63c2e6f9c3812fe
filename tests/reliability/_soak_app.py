"""The showcase app, plus a ``/__soak`` route that reports what the soak test watches.

Served by ``test_soak.py`` as ``areion run tests/reliability/_soak_app.py:server``. It is the
showcase's own router, config, engine and orchestrator with one more plugin, given through
``with_plugins``-style registration, so the shipped showcase gets no unauthenticated stats
endpoint. RSS and file descriptors are read from ``/proc`` by the test; what only the
process can see (its asyncio tasks, threads, live objects) comes from ``/__soak``.
"""

from __future__ import annotations

import asyncio
import gc
import threading
from typing import Any

from areion_core import HttpRequest, Router, hookimpl
from areion_core.app import App
from areion_core.runner import AreionServer
from examples.showcase import app as showcase


class SoakStats:
    """Adds ``GET /__soak``: asyncio tasks, threads, open connections and gc-tracked objects."""

    name = "soak-stats"

    @hookimpl
    def register_routes(self, app: App, router: Router) -> None:
        async def soak_stats(request: HttpRequest) -> dict[str, Any]:
            state = getattr(request.conn, "state", None)
            return {
                # Every task but this request's own (when the server runs it as a task).
                "tasks": sum(1 for t in asyncio.all_tasks() if t is not asyncio.current_task()),
                "threads": threading.active_count(),
                "connections": len(state.connections) if state is not None else -1,
                "objects": len(gc.get_objects()),
            }

        router.add_route("/__soak", soak_stats, ["GET"], include_in_schema=False)


_built = showcase.server.app
server = AreionServer(
    App(showcase.router, _built.config, plugins=[SoakStats()],
        engine=showcase.engine, orchestrator=showcase.orchestrator).build()
)
