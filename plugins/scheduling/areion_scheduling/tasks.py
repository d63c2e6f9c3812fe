"""Background tasks: ``submit_task`` for plain functions (a thread pool) and coroutines (the loop).

Each task holds a slot while it runs: ``max_workers`` threads for plain functions,
``max_coroutines`` for coroutine functions. A task that finds no free slot waits in a FIFO
queue; at most ``max_queued`` tasks wait in all, and one more raises ``TaskQueueFullError``
rather than growing without bound. A task is tracked from submission until it finishes and
then forgotten, so memory does not grow with the number of tasks ever submitted. A failing
task is logged with its name and its exception is kept for whoever awaits the handle.

``submit`` is safe from any thread: handlers on the event loop, sync handlers in the core's
thread pool, other threads.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import enum
import functools
import inspect
import logging
import threading
from collections import deque
from collections.abc import Callable, Coroutine, Generator
from typing import Any

from .threads import DaemonThreadPool


class TaskQueueFullError(RuntimeError):
    """``submit_task`` found ``max_queued`` tasks already waiting for a free slot."""


class _State(enum.Enum):
    QUEUED = "queued"
    STARTING = "starting"  # holds a slot; its asyncio task is about to be created on the loop
    RUNNING = "running"
    DONE = "done"


def task_name(func: Any) -> str:
    """``module.qualname`` of a function (through ``functools.partial`` and coroutine objects)."""
    while isinstance(func, functools.partial):
        func = func.func
    if inspect.iscoroutine(func):
        return f"{func.cr_code.co_filename.rsplit('/', 1)[-1]}:{func.__qualname__}"
    module = getattr(func, "__module__", None) or "?"
    qualname = getattr(func, "__qualname__", None) or type(func).__qualname__
    return f"{module}.{qualname}"


def is_async_callable(func: Any) -> bool:
    """True for coroutine functions, partials of them and objects with an ``async __call__``."""
    while isinstance(func, functools.partial):
        func = func.func
    return inspect.iscoroutinefunction(func) or (
        callable(func) and inspect.iscoroutinefunction(type(func).__call__)
    )


class TaskHandle:
    """A submitted background task: ``await handle`` for its result, ``handle.cancel()`` to stop it.

    Awaiting raises what the task raised (it was also logged). From a thread, use
    ``handle.result(timeout)``. Cancelling the coroutine awaiting a handle cancels the task,
    as with an ``asyncio.Task``.
    """

    __slots__ = (
        "_args",
        "_func",
        "_future",
        "_kwargs",
        "_runner",
        "_stage",
        "_task",
        "is_async",
        "name",
    )

    def __init__(self, runner: BackgroundTasks, name: str, func: Any, args: tuple[Any, ...],
                 kwargs: dict[str, Any], is_async: bool) -> None:
        self.name = name
        self.is_async = is_async
        self._func: Any = func
        self._args: tuple[Any, ...] | None = args
        self._kwargs: dict[str, Any] | None = kwargs
        self._stage = _State.QUEUED
        self._task: asyncio.Task[None] | None = None
        # A concurrent future, because the result may be set on a pool thread and read on the loop.
        self._future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        self._runner = runner

    @property
    def state(self) -> str:
        """``"queued"``, ``"running"`` or ``"done"`` (cancelled and failed tasks are done)."""
        return "running" if self._stage is _State.STARTING else self._stage.value

    def done(self) -> bool:
        """True once the task finished, failed or was cancelled."""
        return self._future.done()

    def cancelled(self) -> bool:
        """True if the task was cancelled before it finished."""
        return self._future.cancelled()

    def cancel(self) -> bool:
        """Cancel a queued task or a running coroutine; a function already running on a thread
        cannot be interrupted, and for it (as for a finished task) this returns False."""
        return self._runner.cancel(self)

    def result(self, timeout: float | None = None) -> Any:
        """Block until the task finishes and return its result (for threads, not the loop)."""
        return self._future.result(timeout)

    def exception(self, timeout: float | None = None) -> BaseException | None:
        """Block until the task finishes and return its exception, or None."""
        return self._future.exception(timeout)

    def add_done_callback(self, fn: Callable[[TaskHandle], object]) -> None:
        """Call ``fn(handle)`` when the task finishes (on whichever thread finishes it)."""
        self._future.add_done_callback(lambda _f: fn(self))

    def __await__(self) -> Generator[Any, None, Any]:
        return self._wait().__await__()

    async def _wait(self) -> Any:
        if not self._future.done():
            loop = asyncio.get_running_loop()
            waiter: asyncio.Future[None] = loop.create_future()

            def wake(_f: object) -> None:
                # If the awaiting loop is closed, nobody is waiting any more.
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(_resolve, waiter)

            self._future.add_done_callback(wake)
            try:
                await waiter
            except asyncio.CancelledError:
                self.cancel()
                raise
        if self._future.cancelled():
            raise asyncio.CancelledError(f"background task {self.name} was cancelled")
        return self._future.result()

    def __repr__(self) -> str:
        return f"<TaskHandle {self.name} {self.state}>"


def _grant(handle: TaskHandle) -> None:
    """Mark a task as holding a slot; done under the runner's lock, so ``cancel`` never finds
    a task that left the queue still marked queued."""
    handle._stage = _State.STARTING if handle.is_async else _State.RUNNING


def _resolve(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


class BackgroundTasks:
    """The queue, the slots and the bookkeeping behind ``submit_task``."""

    def __init__(self, logger: Callable[[], logging.Logger], max_workers: int = 4,
                 max_coroutines: int = 100, max_queued: int = 1000) -> None:
        self._logger = logger
        self.max_workers = max_workers
        self.max_coroutines = max_coroutines
        self.max_queued = max_queued
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pool: DaemonThreadPool | None = None
        self._threads_busy = 0
        self._coroutines_busy = 0
        self._waiting_sync: deque[TaskHandle] = deque()
        self._waiting_async: deque[TaskHandle] = deque()
        self._active: set[TaskHandle] = set()
        self._closed = False
        self._idle: asyncio.Event | None = None

    # --- public view -------------------------------------------------------------------

    @property
    def active(self) -> list[TaskHandle]:
        """The tasks queued or running now (finished ones are not kept)."""
        with self._lock:
            return list(self._active)

    @property
    def pool(self) -> DaemonThreadPool:
        """The thread pool plain functions run on (scheduled jobs share it): daemon threads, so
        a function still running after shutdown does not keep the process alive."""
        with self._lock:
            if self._pool is None:
                self._pool = DaemonThreadPool(self.max_workers, thread_name_prefix="areion-task")
            return self._pool

    def attach_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        """Run coroutine tasks on ``loop`` from now on; start any that waited for a loop."""
        with self._lock:
            self._loop = loop
            self._closed = False
            self._idle = None
        self._start_waiting_coroutines()

    # --- submission --------------------------------------------------------------------

    def submit(self, func: Any, args: tuple[Any, ...] = (), kwargs: dict[str, Any] | None = None,
               name: str | None = None) -> TaskHandle:
        """Queue ``func(*args, **kwargs)`` (or a coroutine object) and return its handle."""
        is_coro_object = inspect.iscoroutine(func)
        if not is_coro_object and not callable(func):
            raise TypeError(f"submit_task needs a function or a coroutine, got {func!r}")
        if is_coro_object and (args or kwargs):
            raise TypeError("a coroutine object takes no arguments; pass the function instead")
        is_async = is_coro_object or is_async_callable(func)
        handle = TaskHandle(self, name or task_name(func), func, args, kwargs or {}, is_async)
        on_loop = self._adopt_running_loop() if is_async else False
        with self._lock:
            if self._closed:
                self._reject(func)
                raise RuntimeError(f"the orchestrator is shut down; {handle.name} was not run")
            if is_async:
                start = self._loop is not None and self._coroutines_busy < self.max_coroutines
                if start:
                    self._coroutines_busy += 1
            else:
                start = self._threads_busy < self.max_workers
                if start:
                    self._threads_busy += 1
            if start:
                _grant(handle)
            else:
                waiting = len(self._waiting_sync) + len(self._waiting_async)
                if waiting >= self.max_queued:
                    self._reject(func)
                    raise TaskQueueFullError(
                        f"cannot queue {handle.name}: {waiting} background tasks are already "
                        f"waiting (max_queued={self.max_queued}; max_workers={self.max_workers}, "
                        f"max_coroutines={self.max_coroutines})"
                    )
                (self._waiting_async if is_async else self._waiting_sync).append(handle)
            self._active.add(handle)
        if start:
            self._start(handle, on_loop)
        return handle

    def _adopt_running_loop(self) -> bool:
        """Use the caller's loop if none is attached yet; True when called on the task loop."""
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            return False
        with self._lock:
            if self._loop is None or self._loop.is_closed():
                self._loop = running
            return running is self._loop

    @staticmethod
    def _reject(func: Any) -> None:
        if inspect.iscoroutine(func):
            func.close()  # never awaited on purpose: no "coroutine was never awaited" warning

    def _start(self, handle: TaskHandle, on_loop: bool) -> None:
        if not handle.is_async:
            try:
                work = self.pool.submit(self._run_sync, handle)
            except RuntimeError:  # the pool was shut down under us (a race with shutdown)
                self._drop(handle)
                return
            # The pool only drops work when it is shut down with cancel_futures=True.
            work.add_done_callback(lambda f: self._drop(handle) if f.cancelled() else None)
            return
        loop = self._loop
        assert loop is not None
        if on_loop:
            self._create_task(handle)
        else:
            loop.call_soon_threadsafe(self._create_task, handle)

    def _create_task(self, handle: TaskHandle) -> None:
        if handle._future.cancelled():  # cancelled between taking a slot and reaching the loop
            self._finish(handle)
            return
        assert self._loop is not None
        handle._stage = _State.RUNNING
        task = self._loop.create_task(self._run_async(handle), name=handle.name)
        handle._task = task
        task.add_done_callback(lambda _t: self._task_done(handle))

    def _task_done(self, handle: TaskHandle) -> None:
        # A task cancelled before its first step never enters _run_async's try/finally.
        if handle._stage is not _State.DONE:
            handle._future.cancel()
            self._finish(handle)

    # --- running -----------------------------------------------------------------------

    def _run_sync(self, handle: TaskHandle) -> None:
        try:
            result = handle._func(*(handle._args or ()), **(handle._kwargs or {}))
        except BaseException as exc:
            self._failed(handle, exc)
        else:
            _settle(handle._future, result=result)
        finally:
            self._finish(handle)

    async def _run_async(self, handle: TaskHandle) -> None:
        try:
            func = handle._func
            coro: Coroutine[Any, Any, Any] = (
                func if inspect.iscoroutine(func)
                else func(*(handle._args or ()), **(handle._kwargs or {}))
            )
            result = await coro
        except asyncio.CancelledError:
            handle._future.cancel()
        except BaseException as exc:
            self._failed(handle, exc)
        else:
            _settle(handle._future, result=result)
        finally:
            self._finish(handle)

    def _failed(self, handle: TaskHandle, exc: BaseException) -> None:
        self._logger().error("background task %s failed: %r", handle.name, exc, exc_info=exc)
        _settle(handle._future, exception=exc)

    def _finish(self, handle: TaskHandle) -> None:
        """Release the task's slot to the next waiting task of its kind, and forget it."""
        with self._lock:
            self._active.discard(handle)
            handle._stage = _State.DONE
            # Drop references so a handle the user keeps does not pin the arguments.
            handle._func = handle._args = handle._kwargs = handle._task = None
            nxt: TaskHandle | None = None
            if handle.is_async:
                if self._waiting_async and self._loop is not None:
                    nxt = self._waiting_async.popleft()
                else:
                    self._coroutines_busy -= 1
            elif self._waiting_sync:
                nxt = self._waiting_sync.popleft()
            else:
                self._threads_busy -= 1
            if nxt is not None:
                _grant(nxt)  # the freed slot passes straight to it
            idle = self._idle if not self._active else None
        if nxt is not None:
            self._start(nxt, on_loop=self._on_task_loop())
        if idle is not None and self._loop is not None:
            self._loop.call_soon_threadsafe(idle.set)

    def _drop(self, handle: TaskHandle) -> None:
        handle._future.cancel()
        self._finish(handle)

    def _on_task_loop(self) -> bool:
        try:
            return asyncio.get_running_loop() is self._loop
        except RuntimeError:
            return False

    def _start_waiting_coroutines(self) -> None:
        on_loop = self._on_task_loop()
        while True:
            with self._lock:
                if not self._waiting_async or self._coroutines_busy >= self.max_coroutines:
                    return
                handle = self._waiting_async.popleft()
                self._coroutines_busy += 1
                _grant(handle)
            self._start(handle, on_loop)

    # --- cancelling and shutting down ---------------------------------------------------

    def cancel(self, handle: TaskHandle) -> bool:
        """See ``TaskHandle.cancel``."""
        with self._lock:
            state = handle._stage
            if state is _State.QUEUED:
                queue = self._waiting_async if handle.is_async else self._waiting_sync
                queue.remove(handle)
                self._active.discard(handle)
                handle._stage = _State.DONE
                self._reject(handle._func)
                handle._func = handle._args = handle._kwargs = None
                idle = self._idle if not self._active else None
            elif state is _State.STARTING:
                handle._future.cancel()  # _create_task sees it and releases the slot
                return True
            elif state is _State.RUNNING and handle.is_async and handle._task is not None:
                task = handle._task
                loop = self._loop
                assert loop is not None
                if self._on_task_loop():
                    task.cancel()
                else:
                    loop.call_soon_threadsafe(task.cancel)
                return True
            else:
                return False
        handle._future.cancel()
        if idle is not None and self._loop is not None:
            self._loop.call_soon_threadsafe(idle.set)
        return True

    def close(self) -> None:
        """Refuse new tasks (``RuntimeError``); queued and running ones carry on."""
        with self._lock:
            self._closed = True

    async def wait_idle(self) -> None:
        """Return once no task is queued or running (call on the task loop after ``close``)."""
        with self._lock:
            if not self._active:
                return
            if self._idle is None:
                self._idle = asyncio.Event()
            idle = self._idle
        await idle.wait()

    async def cancel_all(self) -> list[tuple[TaskHandle, str]]:
        """Cancel what is left; returns ``(handle, what happened)`` for each task still active."""
        outcome: list[tuple[TaskHandle, str]] = []
        awaiting: list[asyncio.Task[None]] = []
        for handle in self.active:
            state = handle._stage
            task = handle._task
            if handle.cancel():
                outcome.append((handle, "dropped before it started" if state is _State.QUEUED
                                else "cancelled while running"))
                if task is not None:
                    awaiting.append(task)
            elif not handle.done():
                outcome.append((handle, "still running in a thread (threads cannot be interrupted); "
                                        "abandoned when the process exits"))
        if awaiting:
            await asyncio.wait(awaiting, timeout=1.0)
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
        return outcome


def _settle(future: concurrent.futures.Future[Any], *, result: Any = None,
            exception: BaseException | None = None) -> None:
    try:
        if exception is not None:
            future.set_exception(exception)
        else:
            future.set_result(result)
    except concurrent.futures.InvalidStateError:  # cancelled while it ran: keep the cancellation
        pass
