"""Helpers shared by the request-id plugin's tests (fixtures are in conftest.py)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from areion_request_id import get_request_id, skip_request_id

from areion_core import AreionServer, AreionServerBuilder, HttpRequest, HttpResponse, Router

#: Variables that would choose plugins or change logging if the test runner had them set.
AREION_VARIABLES = ("AREION_PLUGINS", "AREION_DISABLE_PLUGINS", "AREION_TRACE_PLUGINS", "AREION_APP",
                    "AREION_DEVELOPMENT", "AREION_ACCESS_LOG")

#: ``build(*direct_plugins, config=None, select=("request_id",))`` (the ``build`` fixture).
Build = Callable[..., AreionServer]


class Calls:
    """How many times the ``/hello`` handler ran (to prove a short-circuit skipped it)."""

    def __init__(self) -> None:
        self.hello = 0


def make_router(calls: Calls) -> Router:
    """A small app: an id-echoing route, a route that skips ids, and one that fails."""
    router = Router()

    @router.get("/hello")
    async def hello(request: HttpRequest) -> dict[str, str | None]:
        calls.hello += 1
        return {"request_id": get_request_id(request)}

    @router.get("/health")
    @skip_request_id
    async def health(request: HttpRequest) -> str:
        return "ok"

    @router.get("/slow")
    async def slow(request: HttpRequest) -> str:
        await asyncio.sleep(0.03)
        return "done"

    @router.get("/fail")
    async def fail(request: HttpRequest) -> HttpResponse:
        raise RuntimeError("handler bug")

    return router


def build_server(router: Router, *plugins: Any, config: Mapping[str, Any] | None = None,
                 select: Sequence[str] = ("request_id",)) -> AreionServer:
    """A server whose plugins the builder selects (so other installed plugins never load),
    plus plugin objects registered directly with ``with_plugins``."""
    builder = (AreionServerBuilder().with_router(router).without_config_file()
               .with_config(plugins=list(select), access_log=False))
    if config:
        builder.with_config(config)
    return builder.with_plugins(*plugins).build()


def run_areion(args: Sequence[str], cwd: Path, env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the ``areion`` CLI in a fresh interpreter with only the AREION_* variables given."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("AREION_")}
    environ.update(env or {})
    return subprocess.run([sys.executable, "-m", "areion_core", *args], cwd=cwd, env=environ,
                          capture_output=True, text=True, timeout=60, check=False)


def run_python(code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter (its ``sys.modules`` is not shared with other tests)."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("AREION_")}
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, env=environ,
                          capture_output=True, text=True, timeout=60, check=False)
