"""Handler timeouts: ``timeout=`` on a route, ``limits.request_timeout`` for the rest.

At the deadline the handler is cancelled (its ``finally`` runs), a warning names the request
and the route, and the client gets a 503 ``application/problem+json``. Every test talks to a
real server on a real socket: in this process (``live``), in a server process of its own with
eager first steps and with a task per request (``AREION_EAGER=0``), and under uvicorn.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from areion_core import AreionConfig, ConfigError, RouteError, Router, StreamingResponse, set_route_option
from areion_core.testing import LiveServer, TestResponse, parse_response
from tests._redis import free_port
from tests.core._core_support import make_server

LIMIT = 0.5
#: An answer at the deadline comes well before this; one that waited for the handler does not.
ANSWERED_BY = 0.9
ROOT = Path(__file__).resolve().parents[2]
APP_FILE = Path(__file__).parent / "apps" / "timeout_app.py"


def problem(seconds: float) -> dict[str, Any]:
    return {"type": "about:blank", "title": "Service Unavailable", "status": 503,
            "detail": f"The request was not answered within {seconds:g} s.", "timeout": seconds}


def warning(method: str, path: str, route: str, seconds: float, outcome: str = "it was cancelled") -> str:
    return (f"{method} {path}: route {route} did not answer within its {seconds:g}s timeout; {outcome}, "
            "and the client got 503")


def timed_get(client: httpx.Client, path: str) -> tuple[httpx.Response, float]:
    began = time.monotonic()
    response = client.get(path)
    return response, time.monotonic() - began


def assert_timed_out(response: httpx.Response, elapsed: float, seconds: float = LIMIT) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json() == problem(seconds)
    assert seconds * 0.9 <= elapsed < seconds + (ANSWERED_BY - LIMIT), elapsed


def warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and r.name == "areion"]


# --- in this process ---------------------------------------------------------------------------

def test_a_slow_handler_is_cancelled_at_its_timeout_and_the_client_gets_a_503_problem(
    live: Callable[..., LiveServer], caplog: pytest.LogCaptureFixture,
) -> None:
    router = Router()
    seen = {"cancelled": 0, "finally": 0, "returned": 0}

    @router.get("/slow", timeout=LIMIT)
    async def slow(request: Any) -> str:
        try:
            await asyncio.sleep(3)
            seen["returned"] += 1
        except asyncio.CancelledError:
            seen["cancelled"] += 1
            raise
        finally:
            seen["finally"] += 1
        return "too late"

    @router.get("/fast", timeout=LIMIT)
    async def fast(request: Any) -> dict[str, str]:
        await asyncio.sleep(0.01)
        return {"fast": "yes"}

    server = live(router)
    caplog.set_level(logging.WARNING)
    with httpx.Client(base_url=server.url, timeout=10) as client:
        response, elapsed = timed_get(client, "/slow?x=1")
        assert_timed_out(response, elapsed)
        assert seen == {"cancelled": 1, "finally": 1, "returned": 0}
        assert warnings(caplog) == [warning("GET", "/slow", "slow (/slow)", LIMIT)]
        # The connection goes on, and a handler that finishes in time is not touched.
        fast_response, elapsed = timed_get(client, "/fast")
        assert (fast_response.status_code, fast_response.json()) == (200, {"fast": "yes"})
        assert elapsed < LIMIT
        assert client.head("/slow").status_code == 503  # HEAD runs the GET route, deadline included
    assert len(warnings(caplog)) == 2


def test_the_global_timeout_and_routes_that_override_it(
    live: Callable[..., LiveServer], caplog: pytest.LogCaptureFixture,
) -> None:
    router = Router()

    @router.get("/default")
    async def default(request: Any) -> str:
        await asyncio.sleep(3)
        return "too late"

    @router.get("/longer", timeout=2)
    async def longer(request: Any) -> str:
        await asyncio.sleep(0.8)
        return "in time for its own timeout"

    @router.get("/shorter", timeout=0.3)
    async def shorter(request: Any) -> str:
        await asyncio.sleep(3)
        return "too late"

    @router.get("/unbounded", timeout=None)
    async def unbounded(request: Any) -> str:
        await asyncio.sleep(0.8)
        return "no timeout"

    server = live(router, limits={"request_timeout": LIMIT})
    caplog.set_level(logging.WARNING)
    with httpx.Client(base_url=server.url, timeout=10) as client:
        assert_timed_out(*timed_get(client, "/default"))
        assert_timed_out(*timed_get(client, "/shorter"), seconds=0.3)
        assert client.get("/longer").text == "in time for its own timeout"
        assert client.get("/unbounded").text == "no timeout"
    assert warnings(caplog) == [warning("GET", "/default", "default (/default)", LIMIT),
                                warning("GET", "/shorter", "shorter (/shorter)", 0.3)]
    timeouts = {route.path: route.timeout for route in server.server.app.routes}
    assert timeouts == {"/default": LIMIT, "/longer": 2.0, "/shorter": 0.3, "/unbounded": None}


def test_a_route_without_a_timeout_keeps_its_endpoint_as_compiled(live: Callable[..., LiveServer]) -> None:
    router = Router()

    @router.get("/plain")
    async def plain(request: Any) -> str:
        await asyncio.sleep(0.8)  # longer than any timeout in this file: nothing bounds it
        return "plain"

    @router.get("/bounded", timeout=5)
    async def bounded(request: Any) -> str:
        return "bounded"

    server = live(router)
    with httpx.Client(base_url=server.url, timeout=10) as client:
        assert (client.get("/plain").text, client.get("/bounded").text) == ("plain", "bounded")
    routes = {route.path: route for route in server.server.app.routes}
    # No timeout anywhere: the endpoint is the one endpoints.py made, with no deadline wrapped round it.
    assert routes["/plain"].timeout is None
    assert "with_timeout" not in routes["/plain"].endpoint.__qualname__
    assert "with_timeout" in routes["/bounded"].endpoint.__qualname__


def test_a_sync_handler_gets_its_503_at_the_deadline_while_its_thread_runs_on(
    live: Callable[..., LiveServer], caplog: pytest.LogCaptureFixture,
) -> None:
    router = Router()
    finished = threading.Event()

    @router.get("/blocking", timeout=LIMIT)
    def blocking(request: Any) -> str:
        time.sleep(1.2)
        finished.set()
        return "done"

    server = live(router)
    caplog.set_level(logging.WARNING)
    with httpx.Client(base_url=server.url, timeout=10) as client:
        assert_timed_out(*timed_get(client, "/blocking"))
        assert not finished.is_set()  # the answer did not wait for the thread...
        assert finished.wait(3)  # ...which was not stopped: it ran to its end
    assert warnings(caplog) == [warning("GET", "/blocking", "blocking (/blocking)", LIMIT,
                                        "its thread runs on (a plain def cannot be cancelled)")]


def test_a_handler_that_swallows_the_cancellation_still_answers_503(live: Callable[..., LiveServer]) -> None:
    router = Router()

    @router.get("/stubborn", timeout=LIMIT)
    async def stubborn(request: Any) -> str:
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(3)
        return "an answer after the deadline"

    server = live(router)
    with httpx.Client(base_url=server.url, timeout=10) as client:
        assert_timed_out(*timed_get(client, "/stubborn"))
        assert client.get("/stubborn").status_code == 503  # and again: the task's state was put back


def test_the_timeout_ends_when_the_handler_returns_a_streamed_body(live: Callable[..., LiveServer]) -> None:
    router = Router()

    @router.get("/stream", timeout=0.3)
    async def stream(request: Any) -> StreamingResponse:
        async def chunks() -> Any:
            for i in range(4):
                await asyncio.sleep(0.15)
                yield f"chunk {i}\n"

        return StreamingResponse(chunks(), content_type="text/plain")

    server = live(router)
    with httpx.Client(base_url=server.url, timeout=10) as client:
        response, elapsed = timed_get(client, "/stream")
    assert response.status_code == 200 and elapsed >= 0.55  # streamed well past the 0.3 s timeout
    assert response.text == "chunk 0\nchunk 1\nchunk 2\nchunk 3\n"


# --- bad values --------------------------------------------------------------------------------

@pytest.mark.parametrize("value", [0, 0.0, -1, "5", True, float("nan"), float("inf"), [1]])
def test_a_bad_route_timeout_is_refused_when_the_route_is_added(value: object) -> None:
    router = Router()

    async def handler(request: Any) -> str:
        return "never"

    with pytest.raises(RouteError, match=r"timeout for route '/x': got .*expected a positive number of seconds"):
        router.add_route("/x", handler, timeout=value)
    with pytest.raises(RouteError, match="timeout for route '/y'"):
        router.get("/y", timeout=value)(handler)
    assert router.collect()[0] == []


def test_a_bad_timeout_set_by_a_decorator_stops_the_build_naming_the_route() -> None:
    router = Router()

    @router.get("/x")
    async def handler(request: Any) -> str:
        return "never"

    set_route_option(handler, "timeout", -2)
    with pytest.raises(RouteError, match=r"timeout for route handler \(/x\): got -2"):
        make_server(router)


@pytest.mark.parametrize("value", [0, -1, "soon", float("nan"), float("inf")])
def test_a_bad_global_timeout_stops_startup_naming_the_key(value: object) -> None:
    router = Router()
    router.get("/x")(lambda request: "x")
    with pytest.raises(ConfigError) as raised:
        make_server(router, limits={"request_timeout": value})
    assert raised.value.key == "limits.request_timeout"


def test_the_global_timeout_is_off_by_default_and_read_from_the_environment() -> None:
    assert AreionConfig.load(search=False, environ={}).limits.request_timeout is None
    config = AreionConfig.load(search=False, environ={"AREION_LIMITS_REQUEST_TIMEOUT": "2.5"})
    assert config.limits.request_timeout == 2.5
    with pytest.raises(ConfigError, match=r"limits\.request_timeout"):
        AreionConfig.load(search=False, environ={"AREION_LIMITS_REQUEST_TIMEOUT": "0"})


# --- in a process of its own: Areion's server (eager, and a task per request) and uvicorn ------

class ServerProcess:
    """``tests/core/apps/timeout_app.py`` served by ``command`` on a free port, with the global
    timeout set through ``AREION_LIMITS_REQUEST_TIMEOUT``."""

    def __init__(self, command: list[str], port: int, log: Path, **env: str) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.port = port
        self.log = log
        environ = {**os.environ, "AREION_PLUGINS": "", "AREION_LIMITS_REQUEST_TIMEOUT": str(LIMIT),
                   "PYTHONPATH": str(ROOT), **env}
        with log.open("wb") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", *command], cwd=ROOT, env=environ,
                                         stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 20
        while True:
            assert self.proc.poll() is None, self.output()
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url + "/stats", timeout=1).status_code == 200:
                    return
            assert time.monotonic() < deadline, "did not start: " + self.output()
            time.sleep(0.1)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(5)


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., ServerProcess]]:
    started: list[ServerProcess] = []

    def start(kind: str, **env: str) -> ServerProcess:
        port = free_port()
        if kind == "areion":
            command = ["areion_core", "run", f"{APP_FILE}:server", "--port", str(port), "--no-access-log"]
        else:
            command = ["uvicorn", "tests.core.apps.timeout_app:asgi", "--port", str(port), "--no-access-log"]
        server = ServerProcess(command, port, tmp_path / f"{kind}.log", **env)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def pipelined(port: int, paths: list[str]) -> list[tuple[TestResponse, float]]:
    """Send every request at once on one connection; each response with the time it was complete."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        began = time.monotonic()
        sock.sendall(b"".join(f"GET {path} HTTP/1.1\r\nHost: test\r\n\r\n".encode() for path in paths))
        data = b""
        answers: list[tuple[TestResponse, float]] = []
        while len(answers) < len(paths):
            parsed = parse_response(data)
            if parsed is not None:
                answers.append((parsed[0], time.monotonic() - began))
                data = data[parsed[1]:]
                continue
            chunk = sock.recv(65536)
            assert chunk, f"connection closed after {len(answers)} responses"
            data += chunk
    return answers


def wait_for(predicate: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def check_the_app(server: ServerProcess) -> None:
    """What every way of serving timeout_app.py must show."""
    with httpx.Client(base_url=server.url, timeout=10) as client:
        assert_timed_out(*timed_get(client, "/slow"))
        assert_timed_out(*timed_get(client, "/default"))  # the global timeout, from the environment
        assert client.get("/fast").text == "fast"
        assert client.get("/unbounded").text == "unbounded"
        assert_timed_out(*timed_get(client, "/sync"))
        stats = client.get("/stats").json()
        assert (stats["cancelled"], stats["finally"], stats["thread_done"]) == (1, 1, 0)
        wait_for(lambda: client.get("/stats").json()["thread_done"] == 1, 3)  # the thread ran on
    wait_for(lambda: warning("GET", "/sync", "sync (/sync)", LIMIT,
                             "its thread runs on (a plain def cannot be cancelled)") in server.output(), 3)
    log = server.output()
    assert warning("GET", "/slow", "slow (/slow)", LIMIT) in log
    assert warning("GET", "/default", "default (/default)", LIMIT) in log


@pytest.mark.parametrize("eager", ["1", "0"], ids=["eager", "task-per-request"])
def test_areion_run_with_eager_steps_and_with_a_task_per_request(
    serve: Callable[..., ServerProcess], eager: str,
) -> None:
    server = serve("areion", AREION_EAGER=eager)
    assert httpx.get(server.url + "/stats").json()["eager"] is (eager == "1")
    check_the_app(server)
    # Pipelined behind a request that times out, the next one is answered on the same connection.
    (first, first_at), (second, _), (third, third_at) = pipelined(server.port, ["/slow", "/fast", "/default"])
    assert (first.status_code, first.headers.get("content-type")) == (503, "application/problem+json")
    assert first.json() == problem(LIMIT) and LIMIT * 0.9 <= first_at < ANSWERED_BY
    assert (second.status_code, second.text) == (200, "fast")
    assert third.status_code == 503 and third_at < 2 * LIMIT + (ANSWERED_BY - LIMIT)


def test_under_uvicorn(serve: Callable[..., ServerProcess]) -> None:
    check_the_app(serve("uvicorn"))
