"""hook_timeout: an async plugin hook that hangs is cancelled and counts as that plugin failing.

Every test runs the real server on a real socket; the hanging plugin waits on an event that
never comes, so only the core's bound can end the wait.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from areion_core import (
    AreionConfig,
    AreionServerBuilder,
    ConfigError,
    HttpResponse,
    PluginError,
    Router,
    hookimpl,
)
from areion_core.runner import AreionServer
from areion_core.testing import LiveServer

LIMIT = 0.3
#: How late past LIMIT an answer may come on a busy CI machine and still count as "bounded".
SLACK = 2.0


class Hanging:
    """Hangs in ``hook`` on /slow while ``hanging`` is set; otherwise behaves."""

    name = "hanger"

    def __init__(self, hook: str) -> None:
        self.hook = hook
        self.hanging = True
        self.cancelled = 0

    async def _maybe_hang(self, hook: str, request: Any) -> None:
        if hook != self.hook or not self.hanging or request.path != "/slow":
            return
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled += 1
            raise

    @hookimpl
    async def request_received(self, request: Any) -> None:
        await self._maybe_hang("request_received", request)

    @hookimpl
    async def response_ready(self, request: Any, response: HttpResponse) -> None:
        await self._maybe_hang("response_ready", request)

    @hookimpl
    async def exception(self, request: Any, exc: BaseException) -> None:
        await self._maybe_hang("exception", request)

    @hookimpl
    async def response_sent(self, request: Any, response: HttpResponse) -> None:
        await self._maybe_hang("response_sent", request)


def routes(fail: bool = False) -> Router:
    router = Router()

    @router.get("/slow")
    async def slow(request: Any) -> str:
        if fail:
            raise ValueError("handler failed")
        return "slow route"

    @router.get("/fast")
    async def fast(request: Any) -> str:
        return "fast route"

    return router


def build(router: Router, *plugins: Any, **config: Any) -> AreionServer:
    config.setdefault("hook_timeout", LIMIT)
    return (AreionServerBuilder().with_router(router).without_config_file()
            .with_config(plugins=[], **config).with_access_log(False).with_plugins(*plugins)
            .build())


@pytest.fixture
def live() -> Iterator[Callable[[AreionServer], LiveServer]]:
    started: list[LiveServer] = []

    def start(server: AreionServer) -> LiveServer:
        running = LiveServer(server).__enter__()
        started.append(running)
        return running

    yield start
    for running in started:
        running.__exit__(None, None, None)


def timed_get(client: httpx.Client, path: str) -> tuple[httpx.Response, float]:
    began = time.monotonic()
    response = client.get(path)
    return response, time.monotonic() - began


def messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Each record's message with its exception text, as an operator reads the log."""
    out = []
    for record in caplog.records:
        text = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            text += f" | {type(record.exc_info[1]).__name__}: {record.exc_info[1]}"
        out.append(text)
    return out


def wait_for(predicate: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


@pytest.mark.parametrize("hook", ["request_received", "response_ready"])
def test_a_hang_before_the_answer_is_a_500_naming_the_plugin_after_the_limit(
    hook: str, live: Callable[[AreionServer], LiveServer], caplog: pytest.LogCaptureFixture
) -> None:
    plugin = Hanging(hook)
    server = live(build(routes(), plugin))
    caplog.set_level(logging.ERROR)
    with httpx.Client(base_url=server.url, timeout=LIMIT + SLACK + 5) as client:
        slow, elapsed = timed_get(client, "/slow")
        assert slow.status_code == 500
        assert slow.json() == {"type": "about:blank", "title": "Internal Server Error", "status": 500,
                               "detail": "Internal Server Error", "error": "Internal Server Error"}
        assert LIMIT * 0.9 <= elapsed < LIMIT + SLACK
        assert plugin.cancelled == 1
        expected = (f"plugin 'hanger' failed in {hook} for GET /slow | HookTimeout: {hook} did not "
                    f"finish within {LIMIT:g}s (hook_timeout); cancelled")
        assert expected in messages(caplog)
        # The same connection goes on serving; other routes never waited.
        fast, elapsed = timed_get(client, "/fast")
        assert (fast.status_code, fast.text) == (200, "fast route") and elapsed < LIMIT
        plugin.hanging = False  # the plugin behaves again
        assert client.get("/slow").text == "slow route"


class HangingOnAFuture:
    """Returns a plain future (no coroutine: as a store's answer does) that never resolves on /slow."""

    name = "hanger"

    def __init__(self) -> None:
        self.futures: list[asyncio.Future[Any]] = []

    @hookimpl
    def request_received(self, request: Any) -> Any:
        if request.path != "/slow":
            return None
        future = asyncio.get_running_loop().create_future()
        self.futures.append(future)
        return future


def test_a_plain_future_past_the_limit_is_cancelled_and_a_500_naming_the_plugin(
    live: Callable[[AreionServer], LiveServer], caplog: pytest.LogCaptureFixture
) -> None:
    plugin = HangingOnAFuture()
    server = live(build(routes(), plugin))
    caplog.set_level(logging.ERROR)
    with httpx.Client(base_url=server.url, timeout=LIMIT + SLACK + 5) as client:
        slow, elapsed = timed_get(client, "/slow")
        assert slow.status_code == 500 and LIMIT * 0.9 <= elapsed < LIMIT + SLACK
        assert len(plugin.futures) == 1 and plugin.futures[0].cancelled()
        expected = ("plugin 'hanger' failed in request_received for GET /slow | HookTimeout: request_received "
                    f"did not finish within {LIMIT:g}s (hook_timeout); cancelled")
        assert expected in messages(caplog)
        assert client.get("/fast").text == "fast route"


def test_a_hang_in_the_exception_hook_still_answers_500(
    live: Callable[[AreionServer], LiveServer], caplog: pytest.LogCaptureFixture
) -> None:
    plugin = Hanging("exception")
    server = live(build(routes(fail=True), plugin))
    caplog.set_level(logging.ERROR)
    with httpx.Client(base_url=server.url, timeout=LIMIT + SLACK + 5) as client:
        slow, elapsed = timed_get(client, "/slow")
        assert slow.status_code == 500 and LIMIT * 0.9 <= elapsed < LIMIT + SLACK
        logged = messages(caplog)
        assert ("plugin 'hanger' failed in the exception hook | HookTimeout: exception did not "
                f"finish within {LIMIT:g}s (hook_timeout); cancelled") in logged
        # The handler's own error is still logged once the plugin gave no answer.
        assert "unhandled exception | ValueError: handler failed" in logged
        assert client.get("/fast").text == "fast route"


def test_a_hang_after_sending_is_logged_and_the_connection_goes_on(
    live: Callable[[AreionServer], LiveServer], caplog: pytest.LogCaptureFixture
) -> None:
    plugin = Hanging("response_sent")
    server = live(build(routes(), plugin))
    caplog.set_level(logging.ERROR)
    expected = (f"plugin 'hanger' failed in response_sent for GET /slow: response_sent did not "
                f"finish within {LIMIT:g}s (hook_timeout); cancelled")
    with httpx.Client(base_url=server.url, timeout=LIMIT + SLACK + 5) as client:
        slow, elapsed = timed_get(client, "/slow")
        assert (slow.status_code, slow.text) == (200, "slow route") and elapsed < LIMIT
        # The next request on this connection waits for the observer, but only up to the limit.
        after, elapsed = timed_get(client, "/fast")
        assert (after.status_code, after.text) == (200, "fast route") and elapsed < LIMIT + SLACK
        wait_for(lambda: any(expected in m for m in messages(caplog)), SLACK)
        assert plugin.cancelled == 1


def test_the_wrapped_handler_is_not_bounded(live: Callable[[AreionServer], LiveServer]) -> None:
    class SlowWrapper:
        name = "slow_wrapper"

        @hookimpl
        def wrap_handler(self, app: Any, route: Any, handler: Any) -> Any:
            async def wrapped(request: Any) -> HttpResponse:
                await asyncio.sleep(LIMIT * 2)  # longer than any hook may take
                response: HttpResponse = await handler(request)
                return response

            return wrapped

    server = live(build(routes(), SlowWrapper()))
    response = httpx.get(server.url + "/slow", timeout=LIMIT + SLACK + 5)
    assert (response.status_code, response.text) == (200, "slow route")


def test_a_startup_hook_past_the_limit_stops_startup_naming_the_plugin() -> None:
    class HangsAtStartup:
        name = "stuck_at_startup"

        @hookimpl
        async def startup(self, app: Any) -> None:
            await asyncio.Event().wait()

    server = build(routes(), HangsAtStartup())
    server.host, server.port = "127.0.0.1", 0
    began = time.monotonic()
    with pytest.raises(PluginError) as info:
        server.start_in_thread(timeout=LIMIT + SLACK + 5)
    assert time.monotonic() - began < LIMIT + SLACK
    assert "plugin 'stuck_at_startup' failed at startup" in str(info.value)
    assert f"startup did not finish within {LIMIT:g}s (hook_timeout)" in str(info.value)


def test_a_shutdown_hook_past_the_limit_is_logged_and_shutdown_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    finished: list[str] = []

    class HangsAtShutdown:
        name = "stuck_at_shutdown"

        @hookimpl
        async def shutdown(self, app: Any) -> None:
            await asyncio.Event().wait()

    class ShutsDownCleanly:
        name = "clean"

        @hookimpl
        async def shutdown(self, app: Any) -> None:
            finished.append("clean")

    caplog.set_level(logging.ERROR)
    # Shutdown runs in registration order: the stuck plugin first, then the clean one.
    live_server = LiveServer(build(routes(), HangsAtShutdown(), ShutsDownCleanly())).__enter__()
    assert httpx.get(live_server.url + "/fast").status_code == 200
    began = time.monotonic()
    live_server.__exit__(None, None, None)
    assert time.monotonic() - began < LIMIT + SLACK
    assert finished == ["clean"]  # the plugins after the stuck one still shut down
    assert ("plugin 'stuck_at_shutdown' failed at shutdown | HookTimeout: shutdown did not finish "
            f"within {LIMIT:g}s (hook_timeout); cancelled") in messages(caplog)


def test_default_environment_and_builder_values() -> None:
    assert AreionConfig.load(search=False, environ={}).hook_timeout == 10.0
    assert AreionConfig.load(search=False, environ={"AREION_HOOK_TIMEOUT": "2.5"}).hook_timeout == 2.5
    assert AreionConfig.load({"hook_timeout": 1}, search=False,
                             environ={"AREION_HOOK_TIMEOUT": "2.5"}).hook_timeout == 1.0


@pytest.mark.parametrize("value", [0, -1, "soon", "", True, float("nan"), float("inf"), [1]])
def test_a_bad_hook_timeout_stops_startup_naming_the_key(value: Any) -> None:
    with pytest.raises(ConfigError) as info:
        AreionConfig.load({"hook_timeout": value}, search=False, environ={})
    assert info.value.key == "hook_timeout"
    assert "a number of seconds > 0" in str(info.value)


def test_a_bad_environment_value_names_the_key() -> None:
    with pytest.raises(ConfigError) as info:
        AreionConfig.load(search=False, environ={"AREION_HOOK_TIMEOUT": "ten"})
    assert info.value.key == "hook_timeout"
