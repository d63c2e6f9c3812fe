"""Running a request's handler coroutine: its first step at once, the rest in one task per connection.

Most requests never suspend: their handler runs to the end in its first step. So that step
runs straight away, inside the connection's driver task (entered as the current task while it
runs, as Python 3.12's eager tasks do it) and in a fresh copy of the server's context, so
``asyncio.current_task()``, ``asyncio.timeout()`` and context variables behave exactly as in a
task of its own. A request that suspends is carried on by the driver task, a step at a time,
as ``Task.__step`` would. No task is created per request.

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

_Job = tuple[Coroutine[Any, Any, None], Any, contextvars.Context]


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


class RequestDriver:
    """Runs one connection's handler coroutines, one at a time, and reports back when each ends."""

    __slots__ = ("_cancel_requested", "_handoff", "_in_task", "_job", "conn", "loop", "task")

    def __init__(self, conn: DriverOwner) -> None:
        self.conn = conn
        self.loop = conn.loop
        #: The connection's driver task (eager mode), or the running request's task (fallback).
        self.task: asyncio.Task[None] | None = None
        self._job: _Job | None = None
        self._handoff: asyncio.Future[None] | None = None
        self._cancel_requested = False
        #: True while the driver task itself asks for the next request (it is then the current
        #: task already); the ready queue and the protocol's callbacks run outside any task.
        self._in_task = False

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
            task = loop.create_task(self._drive_loop())
            self.task = task
        entered = not self._in_task
        if entered:
            _HOOKS[0](loop, task)
        try:
            yielded = ctx.run(coro.send, None)
        except StopIteration:
            return True
        except BaseException as exc:  # the app's handler must never raise; be safe anyway
            self.conn.crashed(exc)
            return False
        finally:
            if entered:
                _HOOKS[1](loop, task)
        self._job = (coro, yielded, ctx)
        waiter = self._handoff
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        return False

    def cancel(self) -> None:
        """Cancel the request being handled (the shutdown grace period is over)."""
        task = self.task
        if task is not None and not task.done():
            task.cancel()

    def release(self) -> None:
        """The connection is gone: let a parked driver task end (a request in flight finishes first)."""
        task = self.task
        if _HOOKS is not None and task is not None and self._job is None and not task.done():
            waiter = self._handoff
            if waiter is not None and not waiter.done():
                task.cancel()

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

    # --- eager mode: the connection's driver task ---------------------------------------------
    async def _drive_loop(self) -> None:
        """Carries on requests that suspended in their eager step, until the connection is gone."""
        conn = self.conn
        while not conn.closed or self._job is not None:
            job = self._job
            if job is None:
                waiter = self._handoff = self.loop.create_future()
                try:
                    await waiter
                except asyncio.CancelledError:
                    if conn.closed and self._job is None:
                        return
                    # A cancellation aimed at the request handed over just now.
                    self._cancel_requested = True
                continue
            self._job = None
            await self._drive(*job)
            # As after an eager run: the next queued request, or resume reading, or close.
            self._in_task = True
            try:
                conn.run_pending()
            finally:
                self._in_task = False

    async def _drive(self, coro: Coroutine[Any, Any, None], yielded: Any, ctx: contextvars.Context) -> None:
        """Resume a handler coroutine until it finishes, as Task.__step would."""
        conn = self.conn
        try:
            while True:
                if self._cancel_requested:
                    self._cancel_requested = False
                    yielded = ctx.run(coro.throw, asyncio.CancelledError())
                    continue
                try:
                    if yielded is None:
                        await asyncio.sleep(0)
                    else:
                        # Clear the future's "blocking" mark as Task.__step does, then wait for it
                        # on the coroutine's behalf; its outcome reaches it through result().
                        yielded._asyncio_future_blocking = False
                        await yielded
                except asyncio.CancelledError as exc:
                    if yielded is None or not yielded.cancelled():
                        yielded = ctx.run(coro.throw, exc)
                        continue
                except BaseException as exc:
                    # Hand the failure in directly, as Task.__wakeup does: the coroutine reading
                    # the future's result a second time would get it without its traceback
                    # (the C Future hands the traceback to its first reader only).
                    yielded = ctx.run(coro.throw, exc)
                    continue
                yielded = ctx.run(coro.send, None)
        except StopIteration:
            conn.finish_request()
        except asyncio.CancelledError:
            conn.abort_request()
        except BaseException as exc:
            conn.crashed(exc)
