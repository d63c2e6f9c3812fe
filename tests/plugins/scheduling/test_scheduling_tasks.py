"""Background tasks: submit_task for functions and coroutines, handles, errors, the queue bound."""

from __future__ import annotations

import asyncio
import functools
import logging
import threading

import pytest
from areion_scheduling import DefaultOrchestrator, TaskHandle, TaskQueueFullError

from tests.plugins.scheduling._scheduling_support import StandaloneApp, wait_until


async def test_sync_function_runs_on_a_pool_thread_with_its_arguments(
    orchestrator: DefaultOrchestrator, app: StandaloneApp
) -> None:
    await orchestrator.startup(app)
    seen: list[tuple[object, ...]] = []

    def work(a: object, b: object, *, c: object) -> str:
        seen.append((a, b, c, threading.current_thread().name))
        return "done"

    handle = orchestrator.submit_task(work, 1, "two", c=[3])
    assert await handle == "done"
    assert seen[0][:3] == (1, "two", [3])
    assert seen[0][3].startswith("areion-task")  # not the event loop's thread


async def test_a_single_string_argument_stays_one_string(
    orchestrator: DefaultOrchestrator, app: StandaloneApp
) -> None:
    await orchestrator.startup(app)
    got: list[tuple[object, ...]] = []
    await orchestrator.submit_task(lambda *args: got.append(args), "hello")
    assert got == [("hello",)]  # Areion 1.x passed ("h", "e", "l", "l", "o")


async def test_coroutine_function_runs_on_the_event_loop(
    orchestrator: DefaultOrchestrator, app: StandaloneApp
) -> None:
    await orchestrator.startup(app)
    loop_thread = threading.current_thread()

    async def work(x: int, *, y: int) -> tuple[int, bool]:
        await asyncio.sleep(0)
        return x + y, threading.current_thread() is loop_thread

    assert await orchestrator.submit_task(work, 2, y=3) == (5, True)
    assert await orchestrator.submit_task(functools.partial(work, 1, y=1)) == (2, True)
    assert await orchestrator.submit_task(work(4, y=4)) == (8, True)  # a coroutine object


async def test_submit_from_other_threads_for_both_kinds(
    orchestrator: DefaultOrchestrator, app: StandaloneApp
) -> None:
    await orchestrator.startup(app)
    loop = asyncio.get_running_loop()

    async def on_loop() -> bool:
        return asyncio.get_running_loop() is loop

    def from_thread() -> tuple[object, object]:
        coroutine_handle = orchestrator.submit_task(on_loop)
        function_handle = orchestrator.submit_task(lambda: "in a thread")
        return coroutine_handle.result(timeout=5), function_handle.result(timeout=5)

    assert await asyncio.to_thread(from_thread) == (True, "in a thread")


async def test_coroutine_submitted_before_startup_runs_once_the_app_starts(
    orchestrator: DefaultOrchestrator, app: StandaloneApp
) -> None:
    ran = threading.Event()

    async def work() -> None:
        ran.set()

    # From a thread with no loop (module level, say): it waits for the app's loop.
    handle = await asyncio.to_thread(orchestrator.submit_task, work)
    assert handle.state == "queued"
    await orchestrator.startup(app)
    await handle
    assert ran.is_set()


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_exception_is_logged_with_the_task_name_and_raised_to_awaiters(
    orchestrator: DefaultOrchestrator, app: StandaloneApp, caplog: pytest.LogCaptureFixture,
    kind: str,
) -> None:
    await orchestrator.startup(app)

    def explode_sync() -> None:
        raise ValueError("boom")

    async def explode_async() -> None:
        raise ValueError("boom")

    func = explode_sync if kind == "sync" else explode_async
    with caplog.at_level(logging.ERROR):
        handle = orchestrator.submit_task(func)
        with pytest.raises(ValueError, match="boom"):
            await handle
    [record] = [r for r in caplog.records if "background task" in r.getMessage()]
    assert func.__qualname__ in record.getMessage()
    assert record.levelno == logging.ERROR
    assert record.exc_info is not None and record.exc_info[0] is ValueError


async def test_an_exception_nobody_awaits_is_still_logged(
    orchestrator: DefaultOrchestrator, app: StandaloneApp, caplog: pytest.LogCaptureFixture
) -> None:
    await orchestrator.startup(app)

    def unobserved_failure() -> None:
        raise KeyError("nobody is listening")

    with caplog.at_level(logging.ERROR):
        orchestrator.submit_task(unobserved_failure)
        await wait_until(lambda: "unobserved_failure" in caplog.text)
    assert "nobody is listening" in caplog.text


async def test_the_queue_is_bounded_and_says_so_when_full(app: StandaloneApp) -> None:
    orch = DefaultOrchestrator(max_workers=1, max_queued=2, shutdown_timeout=2)
    await orch.startup(app)
    release = threading.Event()
    try:
        running = orch.submit_task(release.wait, 5)
        queued = [orch.submit_task(lambda: None), orch.submit_task(lambda: None)]
        assert [h.state for h in queued] == ["queued", "queued"]
        with pytest.raises(TaskQueueFullError, match=r"max_queued=2"):
            orch.submit_task(lambda: None)
        assert len(orch.tasks) == 3
    finally:
        release.set()
    await running
    for handle in queued:
        await handle
    assert await orch.submit_task(lambda: "room again") == "room again"  # a slot is free and runs it
    await orch.shutdown(app)


async def test_coroutines_are_bounded_too(app: StandaloneApp) -> None:
    orch = DefaultOrchestrator(max_coroutines=2, max_queued=1, shutdown_timeout=2)
    await orch.startup(app)
    gate = asyncio.Event()
    handles = [orch.submit_task(gate.wait) for _ in range(3)]
    assert [h.state for h in handles] == ["running", "running", "queued"]
    coroutine = gate.wait()
    with pytest.raises(TaskQueueFullError):
        orch.submit_task(coroutine)  # refused and closed: no "never awaited" warning
    gate.set()
    await asyncio.gather(*handles)
    await orch.shutdown(app)


async def test_cancel_a_queued_task_and_a_running_coroutine(
    app: StandaloneApp,
) -> None:
    orch = DefaultOrchestrator(max_workers=1, shutdown_timeout=2)
    await orch.startup(app)
    release = threading.Event()
    blocker = orch.submit_task(release.wait, 5)
    ran: list[str] = []
    queued = orch.submit_task(ran.append, "should not run")
    assert queued.cancel() is True
    assert blocker.cancel() is False  # a function on a thread cannot be interrupted
    release.set()
    await blocker
    with pytest.raises(asyncio.CancelledError):
        await queued
    assert ran == []

    sleeper = orch.submit_task(asyncio.sleep, 30)
    await asyncio.sleep(0.01)
    assert sleeper.cancel() is True
    with pytest.raises(asyncio.CancelledError):
        await sleeper
    assert sleeper.cancelled() and orch.tasks == []
    await orch.shutdown(app)


async def test_cancel_right_after_submit_before_the_coroutine_starts(
    orchestrator: DefaultOrchestrator, app: StandaloneApp
) -> None:
    await orchestrator.startup(app)
    started: list[int] = []

    async def never() -> None:
        started.append(1)

    handle = orchestrator.submit_task(never)
    assert handle.cancel() is True
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(handle, 2)  # settles; does not hang
    assert started == [] and orchestrator.tasks == []
    assert await orchestrator.submit_task(asyncio.sleep, 0, "slot released") == "slot released"


async def test_waiting_with_a_timeout_cancels_the_coroutine(
    orchestrator: DefaultOrchestrator, app: StandaloneApp
) -> None:
    await orchestrator.startup(app)
    handle = orchestrator.submit_task(asyncio.sleep, 30)
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(handle, 0.05)
    await wait_until(handle.done)
    assert handle.cancelled()


async def test_no_growth_after_ten_thousand_submissions(app: StandaloneApp) -> None:
    orch = DefaultOrchestrator(max_workers=4, max_queued=10_000, shutdown_timeout=2)
    await orch.startup(app)
    counter = [0]
    lock = threading.Lock()

    def bump() -> None:
        with lock:
            counter[0] += 1

    async def bump_async() -> None:
        counter[0] += 1

    handles: list[TaskHandle] = []
    for i in range(10_000):
        handles.append(orch.submit_task(bump if i % 2 else bump_async))
    await asyncio.gather(*handles)
    assert counter[0] == 10_000
    assert orch.tasks == []  # finished tasks are forgotten
    assert orch._tasks._waiting_sync == orch._tasks._waiting_async == type(
        orch._tasks._waiting_sync)()
    # A finished handle no longer holds the function or its arguments.
    assert handles[0]._func is None and handles[0]._args is None
    await orch.shutdown(app)


async def test_submit_after_shutdown_is_refused(app: StandaloneApp) -> None:
    orch = DefaultOrchestrator()
    await orch.startup(app)
    await orch.shutdown(app)
    with pytest.raises(RuntimeError, match="shut down"):
        orch.submit_task(lambda: None)
