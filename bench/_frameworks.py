"""The frameworks under test and the command that starts each one.

A command is a tuple of strings with ``{python}`` (the bench interpreter), ``{host}``,
``{port}`` and ``{apps}`` (the ``bench/apps`` directory) filled in at start; the values of a
framework's ``env`` may hold ``{static}`` (the directory served under ``/static/``) and
``{redis_url}`` (the private Redis the runner starts for the frameworks that need one).
Every server runs from the repository root (its ``cwd``; the before-rows of ``--before REV``
run from the earlier revision's tree, see ``_before.py``) as one process (unless it is a
multi-worker variant, or a server that supervises one worker process of its own, as Granian
does), debug off, and gets ``AREION_BENCH_STATIC`` pointing at the directory it serves under
``/static/``. Its output (an access log included) goes to a file, the same for every server.

Access logs: a peer whose documented start-up writes a line per request runs twice, as its
documentation starts it (``<name>+log``) and with the access log off (``<name>``); a peer
whose default writes none runs once, as documented (see bench/README.md, per peer).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path


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
    #: that name it in ``Scenario.only`` or ``Scenario.extra``: the Redis store, the worker
    #: counts, the interleaved overhead rows, uvicorn on the asyncio loop.
    matrix: bool = True
    #: Pinned to the server CPU like every single-process server; ``False`` lets it use every
    #: CPU but wrk's (every CPU, wrk's included, on a 2-CPU machine): the multi-worker runs.
    pinned: bool = True
    #: Needs the private Redis server (``{redis_url}`` in its env).
    needs_redis: bool = False
    #: Writes a line per request to its output. The runner checks that it did; the other
    #: rows are checked for the opposite (a chatty log is flagged).
    access_log: bool = False
    #: The server handling the requests is not Python (Rust, C++): Robyn, socketify, Granian.
    #: The others are the "pure-Python" peers (uvicorn, aiohttp and Sanic, on uvloop and
    #: httptools, count as Python servers).
    native: bool = False
    #: Seconds between SIGTERM and SIGKILL when the runner stops it.
    stop_grace: float = 10.0
    #: Scenarios it is left out of, each with the reason (the report and README say it).
    skips: tuple[tuple[str, str], ...] = ()
    #: What a reader of a scenario's table must know about its row there.
    caveats: tuple[tuple[str, str], ...] = ()
    #: The server's working directory; ``None``: the repository root. The before-rows
    #: (``--before REV``) run from the earlier revision's tree.
    cwd: Path | None = None
    #: A before-row (``--before REV``): the current row it is a copy of, running the earlier
    #: revision's code; it runs where that row runs, right after it. ``None`` elsewhere.
    before_of: str | None = None
    #: Response headers its answers must carry after the warm-up, besides the scenario's own
    #: (``X-Cache: HIT`` for a row whose measured requests must all be cache hits).
    expect_headers_warm: tuple[tuple[str, str], ...] = ()

    def skip_reason(self, scenario: str) -> str | None:
        return dict(self.skips).get(scenario)

    def caveat(self, scenario: str) -> str | None:
        return dict(self.caveats).get(scenario)


# ─────────────────────────────────────────────────────────────────────────────────────────
# Areion: how the suite starts it. This block is the one place to adjust.
#   - "areion-default" is exactly what `make run` serves: the same command (`areion run
#     examples.showcase.app:server --host … --port …`), the default configuration (access
#     log on), every installed plugin (the official ones and the example plugin
#     examples/plugin_example, which bench/setup.sh installs). The one addition, as for
#     every row: AREION_STATIC_DIR, so that /static/ serves the bench's 100 KB file.
#   - "areion" is the tuned row (as before issue 14): the official plugins idle on /json, selected
#     by name, access log off. On /json none of them acts: "installed and idle".
#   - "areion-bare" is the showcase with no plugin (AREION_PLUGINS="") and no access log.
#   - "areion-log" (no plugin, access log on) and "areion-request-id" (the example plugin
#     alone, no log) exist for the interleaved comparisons with areion-bare, and so do
#     "areion-hooks" / "areion-hooks-async": the showcase with a minimal plugin of one sync
#     (or async) request_received and response_ready, bench/apps/areion_hooks_app.py.
#   - "areion-redis" is "areion" with the caching plugin's Redis store, on a private
#     redis-server the runner starts (never the machine's 6379) and flushes before each start;
#     its local tier (kept coherent by Redis CLIENT TRACKING) is on, as by default.
#     "areion-redis-nolocal" is the same with the local tier off: every hit a round trip.
#   - "areion-workers1" / "areion-workers2" run with --workers N, not pinned to one CPU (see
#     the README on what this measures on a 2-CPU machine).
#   - Development mode is off in every row (the default).
#: The repository (a row run from another working directory puts it on PYTHONPATH).
ROOT = Path(__file__).resolve().parent.parent
AREION_APP = "examples.showcase.app:server"
#: `make run`'s command (it runs `.venv/bin/areion run …`, the same entry point).
AREION_MAKE_RUN_COMMAND: tuple[str, ...] = (
    "{python}", "-m", "areion_core", "run", AREION_APP, "--host", "{host}", "--port", "{port}",
)  # fmt: skip
AREION_COMMAND: tuple[str, ...] = (*AREION_MAKE_RUN_COMMAND, "--no-access-log")
#: The showcase with one minimal plugin (a sync or async request_received and response_ready).
AREION_HOOKS_COMMAND: tuple[str, ...] = (
    "{python}", "-m", "areion_core", "run", "{apps}/areion_hooks_app.py:server",
    "--host", "{host}", "--port", "{port}", "--no-access-log",
)  # fmt: skip
#: The official plugins that are idle on /json: every plugins/<name> with a pyproject.toml
#: (the folder name is the entry-point name) but two that act on every request by design, so
#: they are never "installed and idle" and have rows of their own: observability records every
#: request (areion-metrics, areion-tracing0), and security, as the showcase configures it,
#: checks the Host and stamps CORS headers on every route (areion-security). The example plugin
#: (request_id) is not an official one. areion-default runs all of them.
ACTIVE_ON_EVERY_REQUEST = ("observability", "security")
OFFICIAL_PLUGINS = ",".join(
    sorted(
        path.parent.name
        for path in (ROOT / "plugins").glob("*/pyproject.toml")
        if path.parent.name not in ACTIVE_ON_EVERY_REQUEST
    )
)
AREION_STATIC_ENV: dict[str, str] = {"AREION_STATIC_DIR": "{static}"}
AREION_ENV: dict[str, str] = {**AREION_STATIC_ENV, "AREION_PLUGINS": OFFICIAL_PLUGINS}
AREION_BARE_ENV: dict[str, str] = {**AREION_STATIC_ENV, "AREION_PLUGINS": ""}
AREION_REQUEST_ID_ENV: dict[str, str] = {**AREION_STATIC_ENV, "AREION_PLUGINS": "request_id"}
#: The observability plugin alone (issue 20): metrics on (the showcase's default), or metrics
#: off and tracing on at sampling 0 (no exporter: nothing is sampled anyway).
AREION_METRICS_ENV: dict[str, str] = {**AREION_STATIC_ENV, "AREION_PLUGINS": "observability"}
AREION_TRACING0_ENV: dict[str, str] = {
    **AREION_METRICS_ENV,
    "SHOWCASE_METRICS": "false",
    "SHOWCASE_TRACING": "true",
    "SHOWCASE_TRACE_SAMPLING": "0",
    "SHOWCASE_TRACE_EXPORTER": "none",
}
AREION_REDIS_ENV: dict[str, str] = {
    **AREION_ENV,
    "SHOWCASE_CACHE_STORE": "redis",
    "SHOWCASE_REDIS_URL": "{redis_url}",
}
AREION_REDIS_NOLOCAL_ENV: dict[str, str] = {**AREION_REDIS_ENV, "SHOWCASE_CACHE_LOCAL": "false"}


#: The showcase with areion-security alone (bench/apps/areion_security_app.py).
AREION_SECURITY_COMMAND: tuple[str, ...] = (
    "{python}", "-m", "areion_core", "run", "{apps}/areion_security_app.py:server",
    "--host", "{host}", "--port", "{port}", "--no-access-log",
)  # fmt: skip
AREION_SECURITY_REDIS_ENV: dict[str, str] = {**AREION_BARE_ENV, "AREION_BENCH_LIMIT_URL": "{redis_url}"}


def areion_workers_command(workers: int) -> tuple[str, ...]:
    return (*AREION_COMMAND, "--workers", str(workers))


# ─────────────────────────────────────────────────────────────────────────────────────────


def _uvicorn(module: str, *, log: bool = False, loop: str = "uvloop") -> tuple[str, ...]:
    """uvicorn as its documentation starts it (``uvicorn module:app``), with httptools and
    the loop named (``auto`` picks the same two here); ``log=False`` adds
    ``--no-access-log --log-level warning``, otherwise uvicorn's defaults stay (log level
    info, one access-log line per request on stdout)."""
    command: tuple[str, ...] = (
        "{python}", "-m", "uvicorn", f"{module}:app",
        "--app-dir", "{apps}",
        "--host", "{host}", "--port", "{port}",
        "--http", "httptools", "--loop", loop,
    )  # fmt: skip
    return command if log else (*command, "--no-access-log", "--log-level", "warning")


def _script(file: str, *extra: str) -> tuple[str, ...]:
    return ("{python}", f"{{apps}}/{file}", "--host", "{host}", "--port", "{port}", *extra)


def _uvicorn_pair(name: str, module: str, description: str) -> tuple[Framework, Framework]:
    """A peer on uvicorn, without and with uvicorn's default access log."""
    return (
        Framework(
            name, Kind.PEER, _uvicorn(module),
            description=f"{description} on uvicorn (httptools, uvloop), access log off",
        ),
        Framework(
            f"{name}+log", Kind.PEER, _uvicorn(module, log=True),
            description=f"{description} on uvicorn (httptools, uvloop), uvicorn's default "
            "logging (access log on)",
            access_log=True,
        ),
    )  # fmt: skip


#: Robyn stops accepting on SIGTERM but never exits when run as one process.
ROBYN_STOP_GRACE = 1.0
SOCKETIFY_STATIC = (
    "its static-file support (`app.static`, the `sendfile` helper) aborts the process under "
    "this load (SIGABRT: cffi's `from_handle()` on a collected handle in "
    "`uws_generic_on_writable_handler`, when clients close with a transfer in flight), "
    "every run, in socketify 0.0.31, the newest release"
)
SOCKETIFY_CLOSE = (
    "closes the connection after answering `Connection: close` without saying "
    "`Connection: close`, so wrk tries the next request on the closed socket: about one read "
    "error per response, each answer still counted"
)

FRAMEWORKS: tuple[Framework, ...] = (
    Framework(
        "areion-default", Kind.AREION, AREION_MAKE_RUN_COMMAND, AREION_STATIC_ENV,
        "what `make run` serves: the showcase, default configuration (access log on), every "
        "installed plugin (the official ones and the example plugin)",
        access_log=True,
    ),
    Framework(
        "areion", Kind.AREION, AREION_COMMAND, AREION_ENV,
        f"the showcase, tuned: the official plugins idle on /json ({OFFICIAL_PLUGINS}), access log off",
    ),
    Framework(
        "areion-bare", Kind.AREION, AREION_COMMAND, AREION_BARE_ENV,
        "the showcase, no plugin, access log off",
    ),
    Framework(
        "areion-bare-control", Kind.AREION, AREION_COMMAND, AREION_BARE_ENV,
        "a second areion-bare process, the same code (the interleaved comparisons' control: "
        "what it \"costs\" against areion-bare is the method's own error)",
        matrix=False,
    ),
    Framework(
        "areion-cache-hit", Kind.AREION, AREION_COMMAND, {**AREION_ENV, "PYTHONPATH": str(ROOT)},
        "the \"areion\" row with GET /json cached (bench/apps/cache_hit/areion.toml, its working "
        "directory): every measured request a memory-store hit (the interleaved comparisons)",
        matrix=False,
        cwd=ROOT / "bench" / "apps" / "cache_hit",
        expect_headers_warm=(("X-Cache", "HIT"),),
    ),
    Framework(
        "areion-redis-cache-hit", Kind.AREION, AREION_COMMAND,
        {**AREION_REDIS_ENV, "PYTHONPATH": str(ROOT)},
        "the \"areion-redis\" row with GET /json cached (bench/apps/cache_hit/areion.toml): "
        "every measured request a hit of the Redis store's local tier (the interleaved "
        "comparisons)",
        matrix=False, needs_redis=True,
        cwd=ROOT / "bench" / "apps" / "cache_hit",
        expect_headers_warm=(("X-Cache", "HIT"),),
    ),
    Framework(
        "areion-log", Kind.AREION, AREION_MAKE_RUN_COMMAND, AREION_BARE_ENV,
        "the showcase, no plugin, access log on (the interleaved comparisons)",
        matrix=False, access_log=True,
    ),
    Framework(
        "areion-request-id", Kind.AREION, AREION_COMMAND, AREION_REQUEST_ID_ENV,
        "the showcase, the example plugin (request_id) alone, access log off "
        "(the interleaved comparisons)",
        matrix=False,
    ),
    Framework(
        "areion-metrics", Kind.AREION, AREION_COMMAND, AREION_METRICS_ENV,
        "the showcase, the observability plugin alone with its metrics on, access log off "
        "(the interleaved comparisons)",
        matrix=False,
    ),
    Framework(
        "areion-tracing0", Kind.AREION, AREION_COMMAND, AREION_TRACING0_ENV,
        "the showcase, the observability plugin alone, metrics off, tracing on at sampling 0, "
        "access log off (the interleaved comparisons)",
        matrix=False,
    ),
    Framework(
        "areion-hooks", Kind.AREION, AREION_HOOKS_COMMAND, AREION_BARE_ENV,
        "the showcase with one minimal plugin (bench/apps/areion_hooks_app.py): a sync "
        "request_received and a sync response_ready, access log off (the interleaved comparisons)",
        matrix=False,
    ),
    Framework(
        "areion-hooks-async", Kind.AREION, AREION_HOOKS_COMMAND,
        {**AREION_BARE_ENV, "AREION_BENCH_HOOKS": "async"},
        "the same plugin with both hooks async def, finishing without suspending, access log "
        "off (the interleaved comparisons)",
        matrix=False,
    ),
    Framework(
        "areion-security", Kind.AREION, AREION_SECURITY_COMMAND, AREION_BARE_ENV,
        "the showcase with areion-security alone (bench/apps/areion_security_app.py): CORS, "
        "trusted hosts and the default security headers on every route, access log off",
        matrix=False,
    ),
    Framework(
        "areion-security-redis", Kind.AREION, AREION_SECURITY_COMMAND, AREION_SECURITY_REDIS_ENV,
        "areion-security with GET /json rate-limited on a private Redis (a limit no run "
        "reaches: one EVALSHA round trip per batch of concurrent requests)",
        matrix=False, needs_redis=True,
    ),
    Framework(
        "areion-redis", Kind.AREION, AREION_COMMAND, AREION_REDIS_ENV,
        "the tuned showcase, the cache on a private Redis (local tier on, the default)",
        matrix=False, needs_redis=True,
    ),
    Framework(
        "areion-redis-nolocal", Kind.AREION, AREION_COMMAND, AREION_REDIS_NOLOCAL_ENV,
        "the tuned showcase, the cache on a private Redis, local tier off (a round trip per hit)",
        matrix=False, needs_redis=True,
    ),
    Framework(
        "areion-workers1", Kind.AREION, areion_workers_command(1), AREION_ENV,
        "the tuned showcase with --workers 1, not pinned (the workers comparison)",
        matrix=False, pinned=False,
    ),
    Framework(
        "areion-workers2", Kind.AREION, areion_workers_command(2), AREION_ENV,
        "the tuned showcase with --workers 2, not pinned (the workers comparison)",
        matrix=False, pinned=False,
    ),
    Framework(
        "aiohttp", Kind.PEER, _script("aiohttp_app.py"),
        description="aiohttp on uvloop, access_log=None",
    ),
    Framework(
        "aiohttp+log", Kind.PEER, _script("aiohttp_app.py", "--access-log"),
        description="aiohttp on uvloop, run_app's default access log with the minimal "
        "logging set-up of aiohttp's logging page (basicConfig at DEBUG)",
        access_log=True,
    ),
    *_uvicorn_pair("blacksheep", "blacksheep_app", "BlackSheep"),
    Framework(
        "blacksheep-granian", Kind.PEER,
        (
            "{python}", "-m", "granian", "--interface", "asgi", "--working-dir", "{apps}",
            "--host", "{host}", "--port", "{port}", "blacksheep_app:app",
        ),
        description="BlackSheep on Granian (ASGI), Granian's defaults (access log off)",
        native=True,
    ),
    *_uvicorn_pair("falcon", "falcon_app", "Falcon (ASGI)"),
    *_uvicorn_pair("starlette", "starlette_app", "Starlette"),
    Framework(
        "starlette-asyncio", Kind.PEER, _uvicorn("starlette_app", loop="asyncio"),
        description="Starlette on uvicorn with --loop asyncio, access log off (burst only)",
        matrix=False,
    ),
    Framework(
        "starlette-asyncio+log", Kind.PEER, _uvicorn("starlette_app", log=True, loop="asyncio"),
        description="Starlette on uvicorn with --loop asyncio, uvicorn's default logging "
        "(burst only)",
        matrix=False, access_log=True,
    ),
    Framework(
        "sanic", Kind.PEER, _script("sanic_app.py"),
        description="Sanic, single_process=True (its own server, uvloop), its default: "
        "access log off",
    ),
    Framework(
        "sanic+log", Kind.PEER, _script("sanic_app.py", "--access-log"),
        description="Sanic, single_process=True, access_log=True",
        access_log=True,
    ),
    *_uvicorn_pair("fastapi", "fastapi_app", "FastAPI"),
    *_uvicorn_pair("litestar", "litestar_app", "Litestar"),
    Framework(
        "emmett55-granian", Kind.PEER,
        (
            "{python}", "-m", "emmett55.cli", "-a", "{apps}/emmett55_app.py", "serve",
            "--host", "{host}", "--port", "{port}",
        ),
        description="Emmett55 on Granian (RSGI), `emmett55 serve` defaults (access log off)",
        native=True,
    ),
    Framework(
        "robyn", Kind.PEER, _script("robyn_app.py"),
        description="Robyn (Rust runtime), one process, one worker, default log level "
        "(INFO, no line per request)",
        native=True, stop_grace=ROBYN_STOP_GRACE,
    ),
    Framework(
        "socketify", Kind.PEER, _script("socketify_app.py"),
        description="socketify.py (C++ uWebSockets), no access log",
        native=True,
        skips=(("static", SOCKETIFY_STATIC),),
        caveats=(("json-close", SOCKETIFY_CLOSE),),
    ),
    Framework(
        "raw", Kind.CEILING, _script("raw_httptools_app.py"),
        description="asyncio.Protocol + httptools on uvloop, no framework (the ceiling)",
    ),
)  # fmt: skip

FRAMEWORKS_BY_NAME = {framework.name: framework for framework in FRAMEWORKS}
