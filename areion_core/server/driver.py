"""Running a request's handler coroutine: its first step at once, the rest from the loop's callbacks.

Most requests never suspend: their handler runs to the end in its first step. So that step
runs straight away, inside the connection's driver task (entered as the current task while it
runs, as Python 3.12's eager tasks do it) and in a fresh copy of the server's context, so
``asyncio.current_task()``, ``asyncio.timeout()`` and context variables behave exactly as in a
task of its own. A request that suspends is carried on as ``Task.__step`` would carry it: the
future it waits on calls the driver back when done (in the request's context), and the next
step runs at once, again inside the driver task. No task, future or hand-over is made per
request: the driver task only stands parked, as the task every step runs in, so that a
cancellation aimed at it (``asyncio.timeout``, a route's timeout, shutdown) reaches the request
as it would reach a task of its own. When the connection closes, its parked driver task goes to
the server's :class:`DriverPool` and is the next connection's.

The eager step needs two CPython functions that are not public API: ``asyncio.tasks._enter_task``
and ``_leave_task``, the helpers behind ``current_task()``. They exist, with the same meaning,
in Python 3.11, 3.12 and 3.13 (the versions this is tested on). On any other version, or with
``AREION_EAGER=0`` in the environment, each request runs in a plain ``asyncio.Task`` of its
own instead: the same behaviour, at some cost per request.
"""

from __future__ import annotations

import asyncio
import contextvars
import os
import sys
from collections.abc import Callable, Coroutine
from typing import Any, Protocol

from .._first_step import Handed, first_step


def _task_hooks() -> tuple[Callable[..., None], Callable[..., None]] | None:
    """CPython's enter/leave-task helpers where they are known to mean what the eager step needs."""
    if os.environ.get("AREION_EAGER", "") == "0" or not (3, 11) <= sys.version_info[:2] <= (3, 13):
        return None
    enter = getattr(asyncio.tasks, "_enter_task", None)
    leave = getattr(asyncio.tasks, "_leave_task", None)
    if enter is None or leave is None:
        return None
    return enter, leave


_HOOKS = _task_hooks()
#: Whether handlers take their first step eagerly (False: a plain Task per request).
EAGER = _HOOKS is not None
_CancelledError = asyncio.CancelledError


class DriverOwner(Protocol):
    """What the driver needs of its connection: where it runs, and whom it tells how a request ended."""

    loop: asyncio.AbstractEventLoop

    @property
    def closed(self) -> bool:
        """The connection is gone."""

    def finish_request(self) -> None:
        """The request in flight has been answered."""

    def abort_request(self) -> None:
        """The request in flight was cancelled."""

    def crashed(self, exc: BaseException) -> None:
        """The handler raised."""

    def run_pending(self) -> None:
        """Answer the next queued requests."""


class _DriverTask(asyncio.Task):  # type: ignore[type-arg]
    """The connection's driver task: parked, the current task of every step of its requests.

    A cancellation (``cancel()``) is counted as by any task (``cancelling()``/``uncancel()``
    pair up for ``asyncio.timeout``) and passed on to the request in flight, as ``Task.cancel``
    passes it to the future the task waits on.
    """

    #: The driver whose requests run in this task (None: in a pool, between connections).
    driver: RequestDriver | None = None
    #: The future the task stands parked on (None before its first step).
    parked: asyncio.Future[None] | None = None
    #: Set when the task is to end (a pool full or closed): it does at its next step.
    retired = False

    def cancel(self, msg: Any = None) -> bool:
        cancelled = super().cancel(msg)
        driver = self.driver
        if driver is not None:
            driver.cancel_step(msg)
        return cancelled


async def _stand(cell: list[_DriverTask]) -> None:
    """A driver task's body: parked while its connection lives and, between connections, in a
    :class:`DriverPool`. Without a pool it ends once its connection is gone with nothing in
    flight; from a pool, when retired."""
    task = cell.pop()  # put there right after the task was made, before this first step
    loop = task.get_loop()
    while not task.retired:
        driver = task.driver
        if driver is not None and driver.pool is None and driver._coro is None and (
                driver.conn is None or driver.conn.closed):  # (None: the connection is unlinked)
            return
        parked = task.parked = loop.create_future()
        try:
            await parked
        except _CancelledError:
            driver = task.driver
            if driver is None or driver._coro is None:
                raise  # nothing in flight to pass it on to: the task ends, cancelled
            # Passed on to the request in flight (see _DriverTask.cancel): park on.


def _task_ended(task: asyncio.Task[None]) -> None:
    driver = task.driver  # type: ignore[attr-defined]  # a _DriverTask
    task.driver = None  # type: ignore[attr-defined]
    if driver is not None and driver.task is task:
        driver.task = None


def _retire(task: _DriverTask) -> None:
    task.retired = True
    parked = task.parked
    if parked is not None and not parked.done():
        parked.set_result(None)


class DriverPool:
    """Parked driver tasks of closed connections, handed to the next connections of a server.

    A connection's driver task is made when its first request runs. Made, stepped and ended
    once per connection, it cost a task, a coroutine and loop callbacks to every short
    connection (``Connection: close``, a one-shot client); pooled, it stands parked on and is
    re-homed to the next connection. A task with a cancellation counted (``cancelling()``) is
    never handed out again, so that a reused task looks to ``asyncio.timeout`` and task groups
    exactly like a new one. :meth:`close` (server shutdown) ends every pooled task.
    """

    __slots__ = ("limit", "tasks")

    def __init__(self, limit: int = 256) -> None:
        #: The pooled tasks (a driver takes and gives them here directly: once per connection).
        self.tasks: list[_DriverTask] = []
        #: How many parked tasks are kept (about the connections that close at once).
        self.limit = limit

    def __len__(self) -> int:
        return len(self.tasks)

    def take(self, driver: RequestDriver) -> _DriverTask | None:
        """A pooled task, now ``driver``'s; None when the pool is empty."""
        tasks = self.tasks
        while tasks:
            task = tasks.pop()
            if not task.done():
                if not task.cancelling():
                    task.driver = driver
                    return task
                _retire(task)  # cancelled while pooled, by a stray reference: it ends
        return None

    def give(self, task: _DriverTask) -> None:
        """Keep ``task`` for the next connection (its own is gone, nothing in flight), or end it."""
        task.driver = None
        if len(self.tasks) < self.limit and not task.cancelling() and not task.done():
            self.tasks.append(task)
        else:
            _retire(task)

    def close(self) -> None:
        """End every pooled task and keep none from now on."""
        self.limit = 0
        tasks, self.tasks = self.tasks, []
        for task in tasks:
            _retire(task)


class RequestDriver:
    """Runs one connection's handler coroutines, one at a time, and reports back when each ends."""

    __slots__ = ("_cancel_message", "_cancel_requested", "_coro", "_ctx", "_waiting", "conn", "loop", "pool", "task")

    def __init__(self, conn: DriverOwner, pool: DriverPool | None = None) -> None:
        self.conn = conn
        self.loop = conn.loop
        #: Where the driver task goes when the connection is gone, and comes from (None: made
        #: and ended per connection).
        self.pool = pool
        #: The connection's driver task (eager mode), or the running request's task (fallback).
        self.task: asyncio.Task[None] | None = None
        #: The request that suspended and is being carried on (eager mode), or None.
        self._coro: Coroutine[Any, Any, None] | None = None
        self._ctx: contextvars.Context | None = None
        #: The future that request waits on (None: running, or resuming after a bare yield).
        self._waiting: asyncio.Future[Any] | None = None
        #: A cancellation to throw into the request at its next step (Task's ``_must_cancel``).
        self._cancel_requested = False
        self._cancel_message: Any = None

    def start(self, coro: Coroutine[Any, Any, None], ctx: contextvars.Context) -> bool:
        """Run ``coro``'s first step now. True when it finished; False when it carries on later
        (the connection hears of its end through ``finish_request``/``abort_request``/``crashed``)
        or crashed at once (the connection is closed then)."""
        if _HOOKS is None:
            request_task = self.task = self.loop.create_task(coro, context=ctx)
            request_task.add_done_callback(self._task_done)
            return False
        loop = self.loop
        task = self.task
        if task is None:
            task = self._new_task()
        self._cancel_requested = False  # one the request before this raised on itself as it ended
        _HOOKS[0](loop, task)
        try:
            # Not coro.send(None): a handler that returns would raise StopIteration, which costs
            # more than the rest of this method (_first_step.py).
            step = ctx.run(first_step, coro)
        except BaseException as exc:  # the app's handler must never raise; be safe anyway
            self.conn.crashed(exc)
            return False
        finally:
            _HOOKS[1](loop, task)
        if step.__class__ is not Handed:
            return True
        self._coro = coro
        self._ctx = ctx
        self._suspend(step.first, ctx)
        return False

    def cancel(self) -> None:
        """Cancel the request being handled (the shutdown grace period is over)."""
        task = self.task
        if task is not None and not task.done():
            task.cancel()

    def release(self) -> None:
        """The connection is gone: hand a parked driver task to the pool, or let it end (a request
        in flight finishes first)."""
        task = self.task
        if self._coro is not None or not isinstance(task, _DriverTask):
            return  # (a task per request, in the fallback: it ends with its request)
        pool = self.pool
        if pool is not None:
            # pool.give(task), inline for the usual case (once per connection): the task stands
            # parked on, for the next connection.
            self.task = task.driver = None
            tasks = pool.tasks
            if len(tasks) < pool.limit and not task.cancelling():
                tasks.append(task)
            else:
                pool.give(task)
            return
        parked = task.parked
        if parked is not None and not parked.done():
            parked.set_result(None)

    # --- fallback: a task per request -----------------------------------------------------------
    def _task_done(self, task: asyncio.Task[None]) -> None:
        if task is self.task:
            self.task = None
        conn = self.conn
        if task.cancelled():
            conn.abort_request()
        else:
            exc = task.exception()
            if exc is not None:
                conn.crashed(exc)
            else:
                conn.finish_request()
        conn.run_pending()

    # --- eager mode: steps after the first --------------------------------------------------------
    def _new_task(self) -> asyncio.Task[None]:
        pool = self.pool
        task = None
        if pool is not None and pool.tasks:
            # pool.take(self), inline for the usual case (once per connection).
            task = pool.tasks.pop()
            if task.done() or task.cancelling():
                pool.tasks.append(task)
                task = pool.take(self)
            else:
                task.driver = self
        if task is None:
            cell: list[_DriverTask] = []
            task = _DriverTask(_stand(cell), loop=self.loop)
            cell.append(task)
            task.driver = self
            task.add_done_callback(_task_ended)
        self.task = task
        return task

    def _suspend(self, yielded: Any, ctx: contextvars.Context) -> None:
        """The request yielded ``yielded``: be called back when it may go on, as Task.__step does."""
        if yielded is None:  # a bare yield (asyncio.sleep(0)): go on at the next turn
            self.loop.call_soon(self._step, None, context=ctx)
            return
        blocking = getattr(yielded, "_asyncio_future_blocking", None)
        if not blocking or yielded.get_loop() is not self.loop:
            error = RuntimeError(f"a request handler yielded {yielded!r}, not a future of its loop")
            self.loop.call_soon(self._step, error, context=ctx)
            return
        yielded._asyncio_future_blocking = False
        yielded.add_done_callback(self._wakeup, context=ctx)
        self._waiting = yielded
        if self._cancel_requested and yielded.cancel(self._cancel_message):
            self._cancel_requested = False

    def cancel_step(self, msg: Any) -> None:
        """The driver task was cancelled: cancel what the request in flight waits on, or, when it
        is running or about to resume, throw ``CancelledError`` into it at its next step."""
        if self._coro is None and asyncio.current_task(self.loop) is not self.task:
            return  # nothing in flight (a request that ended in its first step)
        waiting = self._waiting
        if waiting is not None and waiting.cancel(msg):
            return
        self._cancel_requested = True
        self._cancel_message = msg

    def _wakeup(self, future: asyncio.Future[Any]) -> None:
        """The future the request waited on is done (called in the request's context)."""
        self._waiting = None
        try:
            future.result()
        except BaseException as exc:
            # Handed in directly, as Task.__wakeup does: the coroutine reading the future's result
            # a second time would get it without its traceback (the C Future hands the traceback
            # to its first reader only).
            self._step(exc)
            return
        if self._cancel_requested:
            self._step(None)
            return
        # _step(None), inline: this runs once per suspension.
        coro = self._coro
        loop = self.loop
        task = self.task or self._new_task()
        _HOOKS[0](loop, task)  # type: ignore[index]  # eager mode only
        try:
            step = first_step(coro)  # type: ignore[arg-type]  # set while suspended (no StopIteration at the end)
        except BaseException as error:
            _HOOKS[1](loop, task)  # type: ignore[index]
            self._ended(error)
            return
        _HOOKS[1](loop, task)  # type: ignore[index]
        if step.__class__ is not Handed:
            self._ended(None)
            return
        self._suspend(step.first, self._ctx)  # type: ignore[arg-type]  # set with _coro

    def _step(self, exc: BaseException | None) -> None:
        """Resume the request, in its context (this runs as a callback the request scheduled)."""
        coro = self._coro
        assert coro is not None
        if self._cancel_requested:
            self._cancel_requested = False
            if not isinstance(exc, _CancelledError):
                exc = _CancelledError(self._cancel_message) if self._cancel_message is not None else _CancelledError()
        loop = self.loop
        task = self.task or self._new_task()  # (one cancelled before its first step ended at once)
        _HOOKS[0](loop, task)  # type: ignore[index]  # eager mode only
        try:
            yielded = coro.send(None) if exc is None else coro.throw(exc)
        except StopIteration:
            _HOOKS[1](loop, task)  # type: ignore[index]
            self._ended(None)
            return
        except BaseException as error:
            _HOOKS[1](loop, task)  # type: ignore[index]
            self._ended(error)
            return
        _HOOKS[1](loop, task)  # type: ignore[index]
        self._suspend(yielded, self._ctx)  # type: ignore[arg-type]  # set with _coro

    def _ended(self, error: BaseException | None) -> None:
        """The request carried on ended: tell the connection, then answer what is queued."""
        self._coro = self._ctx = None
        self._cancel_requested = False
        conn = self.conn
        try:
            if error is None:
                conn.finish_request()
            elif isinstance(error, _CancelledError):
                conn.abort_request()
            else:
                conn.crashed(error)
            # As after an eager run: the next queued request, or resume reading, or close.
            conn.run_pending()
        finally:
            if conn.closed:
                self.release()
