"""The frameworks under test and the command that starts each one.

A command is a tuple of strings with ``{python}`` (the bench interpreter), ``{host}``,
``{port}`` and ``{apps}`` (the ``bench/apps`` directory) filled in at start; the values of a
framework's ``env`` may hold ``{static}`` (the directory served under ``/static/``) and
``{redis_url}`` (the private Redis the runner starts for the frameworks that need one).
Every server runs from the repository root as one process (unless it is a multi-worker
variant), debug off, access log off, and gets ``AREION_BENCH_STATIC`` pointing at the
directory it serves under ``/static/``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum


class Kind(Enum):
    AREION = "areion"
    PEER = "peer"
    CEILING = "ceiling"


@dataclass(frozen=True)
class Framework:
    """One server to measure: its name in the tables and how to start it."""

    name: str
    kind: Kind
    command: tuple[str, ...]
    env: dict[str, str] = field(default_factory=dict)
    description: str = ""
    #: Whether it runs every shared scenario. A variant (``False``) runs only the scenarios
    #: that name it in ``Scenario.only``: the Redis store, the worker counts.
    matrix: bool = True
    #: Pinned to the server CPU like every single-process server; ``False`` lets it use every
    #: CPU but wrk's (every CPU, wrk's included, on a 2-CPU machine): the multi-worker runs.
    pinned: bool = True
    #: Needs the private Redis server (``{redis_url}`` in its env).
    needs_redis: bool = False


# ─────────────────────────────────────────────────────────────────────────────────────────
# Areion: how the suite starts it. This block is the one place to adjust.
#   - "areion" runs the showcase with every installed plugin enabled (issue 3's "all five
#     plugins installed and enabled"), "areion-noplugins" the same app with none.
#   - The access log must be off and development mode must be off in both.
#   - "No plugins" is an empty selection, AREION_PLUGINS="" (config: `plugins = []` loads
#     exactly none); change it here if a --no-plugins flag is preferred.
#   - Every server gets AREION_BENCH_STATIC, the directory holding 100k.bin, which it
#     must serve under /static/; the showcase reads AREION_STATIC_DIR, set here.
#   - "areion-redis" is "areion" with the caching plugin's Redis store, on a private
#     redis-server the runner starts (never the machine's 6379) and flushes before each start.
#   - "areion-workers1" / "areion-workers2" run with --workers N, not pinned to one CPU (see
#     the README on what this measures on a 2-CPU machine).
AREION_APP = "examples.showcase.app:server"
AREION_COMMAND: tuple[str, ...] = (
    "{python}", "-m", "areion_core", "run", AREION_APP,
    "--host", "{host}", "--port", "{port}", "--no-access-log",
)  # fmt: skip
AREION_ENV: dict[str, str] = {"AREION_STATIC_DIR": "{static}"}
AREION_NOPLUGINS_COMMAND: tuple[str, ...] = AREION_COMMAND  # or (*AREION_COMMAND, "--no-plugins")
AREION_NOPLUGINS_ENV: dict[str, str] = {**AREION_ENV, "AREION_PLUGINS": ""}
AREION_REDIS_ENV: dict[str, str] = {
    **AREION_ENV,
    "SHOWCASE_CACHE_STORE": "redis",
    "SHOWCASE_REDIS_URL": "{redis_url}",
}


def areion_workers_command(workers: int) -> tuple[str, ...]:
    return (*AREION_COMMAND, "--workers", str(workers))


# ─────────────────────────────────────────────────────────────────────────────────────────


def _uvicorn(module: str) -> tuple[str, ...]:
    return (
        "{python}", "-m", "uvicorn", f"{module}:app",
        "--app-dir", "{apps}",
        "--host", "{host}", "--port", "{port}",
        "--http", "httptools", "--loop", "uvloop",
        "--no-access-log", "--log-level", "warning",
    )  # fmt: skip


def _script(file: str) -> tuple[str, ...]:
    return ("{python}", f"{{apps}}/{file}", "--host", "{host}", "--port", "{port}")


FRAMEWORKS: tuple[Framework, ...] = (
    Framework(
        "areion", Kind.AREION, AREION_COMMAND, AREION_ENV,
        "the showcase app, every installed plugin enabled",
    ),
    Framework(
        "areion-noplugins", Kind.AREION, AREION_NOPLUGINS_COMMAND, AREION_NOPLUGINS_ENV,
        "the showcase app, no plugin enabled",
    ),
    Framework(
        "areion-redis", Kind.AREION, AREION_COMMAND, AREION_REDIS_ENV,
        "the showcase app, every plugin enabled, the cache on a private Redis",
        matrix=False, needs_redis=True,
    ),
    Framework(
        "areion-workers1", Kind.AREION, areion_workers_command(1), AREION_ENV,
        "the showcase app with --workers 1, not pinned (the workers comparison)",
        matrix=False, pinned=False,
    ),
    Framework(
        "areion-workers2", Kind.AREION, areion_workers_command(2), AREION_ENV,
        "the showcase app with --workers 2, not pinned (the workers comparison)",
        matrix=False, pinned=False,
    ),
    Framework("aiohttp", Kind.PEER, _script("aiohttp_app.py"), description="aiohttp on uvloop"),
    Framework(
        "blacksheep", Kind.PEER, _uvicorn("blacksheep_app"),
        description="BlackSheep on uvicorn (httptools, uvloop)",
    ),
    Framework(
        "falcon", Kind.PEER, _uvicorn("falcon_app"),
        description="Falcon (ASGI) on uvicorn (httptools, uvloop)",
    ),
    Framework(
        "starlette", Kind.PEER, _uvicorn("starlette_app"),
        description="Starlette on uvicorn (httptools, uvloop); `/table` through Jinja2Templates",
    ),
    Framework(
        "sanic", Kind.PEER, _script("sanic_app.py"),
        description="Sanic, single_process=True (its own server, uvloop)",
    ),
    Framework(
        "fastapi", Kind.PEER, _uvicorn("fastapi_app"),
        description="FastAPI on uvicorn (httptools, uvloop)",
    ),
    Framework(
        "raw", Kind.CEILING, _script("raw_httptools_app.py"),
        description="asyncio.Protocol + httptools on uvloop, no framework (the ceiling)",
    ),
)  # fmt: skip

FRAMEWORKS_BY_NAME = {framework.name: framework for framework in FRAMEWORKS}
