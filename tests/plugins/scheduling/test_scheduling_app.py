"""The plugin inside a real Areion app: request.submit_task, the orchestrator hook, the lifecycle."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import httpx
import pytest
from areion_scheduling import DefaultOrchestrator, Every, TaskHandle

from areion_core import AreionServerBuilder, HttpRequest, HttpResponse, Router
from areion_core.testing import AsyncTestClient, LiveServer, TestClient
from tests.plugins.scheduling import _scheduling_support as support
from tests.plugins.scheduling._scheduling_support import wait_until


def build(router: Router, scheduling: dict[str, Any] | None = None,
          orchestrator: DefaultOrchestrator | None = None) -> Any:
    builder = AreionServerBuilder().with_router(router).with_config(
        {"plugins": {"enabled": ["scheduling"], "scheduling": scheduling or {}}})
    if orchestrator is not None:
        builder = builder.with_orchestrator(orchestrator)
    return builder.build()


def test_handlers_submit_tasks_with_request_submit_task() -> None:
    router = Router()
    words: list[tuple[str, str]] = []
    finished = threading.Event()

    async def store_async(word: str) -> None:
        await asyncio.sleep(0.01)
        words.append(("async", word))

    def store_sync(word: str) -> None:
        words.append(("sync", word))
        finished.set()

    @router.get("/async/:word")
    async def from_async_handler(request: HttpRequest, word: str) -> HttpResponse:
        handle = request.submit_task(store_async, word)  # a single string argument
        assert isinstance(handle, TaskHandle)
        return HttpResponse(status_code=202, body="queued")

    @router.get("/sync/:word")
    def from_sync_handler(request: HttpRequest, word: str) -> HttpResponse:
        request.submit_task(store_sync, word)
        return HttpResponse(status_code=202, body="queued")

    server = build(router)
    with TestClient(server) as client:
        assert isinstance(server.app.orchestrator, DefaultOrchestrator)  # from the plugin hook
        assert client.get("/async/hello").status_code == 202
        assert client.get("/sync/world").status_code == 202
        assert finished.wait(5)
    # Leaving the client shut the app down, which waited for the coroutine task.
    assert sorted(words) == [("async", "hello"), ("sync", "world")]
    assert server.app.orchestrator.tasks == []


# Scheduled jobs need a running loop between requests: AsyncTestClient in an async test
# (TestClient only runs its private loop while a request is in flight).


async def test_the_plugin_builds_the_orchestrator_from_config_and_runs_config_jobs() -> None:
    support.RECORDED.clear()
    server = build(Router(), {
        "max_workers": 2, "shutdown_timeout": 1,
        "jobs": {"tick": {"func": "tests.plugins.scheduling._scheduling_support:record", "every": 0.1,
                          "args": ["from config"]}},
    })
    async with AsyncTestClient(server):
        orchestrator = server.app.orchestrator
        assert isinstance(orchestrator, DefaultOrchestrator)
        assert orchestrator.settings.max_workers == 2
        await wait_until(lambda: len(support.RECORDED) >= 2)
    assert support.RECORDED[:2] == [(("from config",), {})] * 2
    count = len(support.RECORDED)
    await asyncio.sleep(0.25)
    assert len(support.RECORDED) == count  # the scheduler stopped with the app


async def test_with_orchestrator_keeps_the_users_object_and_fills_options_from_config() -> None:
    mine = DefaultOrchestrator(max_workers=3)
    ran = threading.Event()
    mine.add_job(ran.set, Every(seconds=0.1), id="mine")
    server = build(Router(), {"max_workers": 8, "shutdown_timeout": 1.5}, orchestrator=mine)
    async with AsyncTestClient(server) as client:
        assert server.app.orchestrator is mine
        await wait_until(ran.is_set)
        assert mine.settings.max_workers == 3  # the constructor wins
        assert mine.settings.shutdown_timeout == 1.5  # config fills the rest
        assert (await client.get("/missing")).status_code == 404


def test_app_shutdown_waits_for_a_running_task() -> None:
    router = Router()
    done: list[str] = []

    async def slow() -> None:
        await asyncio.sleep(0.3)
        done.append("finished")

    @router.get("/slow")
    async def start_slow(request: HttpRequest) -> str:
        request.submit_task(slow)
        return "started"

    server = build(router, {"shutdown_timeout": 5})
    with TestClient(server) as client:
        assert client.get("/slow").text == "started"
    assert done == ["finished"]


def test_bad_config_stops_startup_with_the_key_named() -> None:
    from areion_core.exceptions import ConfigError

    with pytest.raises(ConfigError, match=r"plugins\.scheduling\.max_workers"):
        build(Router(), {"max_workers": 0})


def test_live_server_task_runs_on_the_servers_loop() -> None:
    router = Router()
    seen: list[str] = []
    done = threading.Event()

    async def note(path: str) -> None:
        seen.append(path)
        done.set()

    @router.get("/note")
    async def handler(request: HttpRequest) -> str:
        request.submit_task(note, request.path)
        return "ok"

    with LiveServer(build(router)) as live:
        response = httpx.get(live.url + "/note")
        assert response.status_code == 200 and response.text == "ok"
        assert done.wait(5)
    assert seen == ["/note"]
