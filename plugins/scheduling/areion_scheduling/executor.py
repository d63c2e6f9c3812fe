"""How a due job runs: the APScheduler executor behind ``DefaultOrchestrator``.

APScheduler's own ``AsyncIOExecutor`` runs plain functions on the loop's default executor,
cannot wait for running jobs on shutdown, and never tells the job which tick it is running.
This one runs coroutine jobs on the loop and plain ones on the orchestrator's thread pool,
keeps the running jobs (and, for plain ones, the thread's future) so shutdown can wait for
them and tell a cancelled coroutine from a thread it can only abandon, exposes the tick through
:func:`scheduled_time`, and before each tick asks ``claim`` (the tick guard of the Redis lease
or of the lock file) whether this process may run it, so a tick runs once across processes.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor, Future
from contextvars import ContextVar
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.events import (  # type: ignore[import-untyped]
    EVENT_JOB_ERROR,
    EVENT_JOB_EXECUTED,
    EVENT_JOB_MISSED,
    JobExecutionEvent,
)
from apscheduler.executors.base import BaseExecutor  # type: ignore[import-untyped]

from areion_core import StandardMetrics, Telemetry

from .tasks import is_async_callable

#: ``claim(job_id, run_time, misfire_grace_time) -> may this process run that tick?``
TickClaim = Callable[[str, datetime, "int | None"], Awaitable[bool]]

_SCHEDULED: ContextVar[datetime | None] = ContextVar("areion_scheduled_time", default=None)


def scheduled_time() -> datetime | None:
    """Inside a scheduled job, the tick it runs for (its scheduled fire time, tz-aware).

    Use it to make a job idempotent or to name its output ("the report for 09:00"); it is the
    same on every process, unlike ``datetime.now()``. ``None`` outside a job.
    """
    return _SCHEDULED.get()


async def call_job(func: Any, args: tuple[Any, ...], kwargs: dict[str, Any], pool: Executor,
                   run_time: datetime,
                   on_thread: Callable[[Future[Any]], object] | None = None) -> Any:
    """Run one job function for ``run_time``: awaited on the loop or on a pool thread
    (``on_thread`` receives that thread's future: cancelling the caller cannot stop it)."""
    token = _SCHEDULED.set(run_time)
    try:
        if is_async_callable(func):
            return await func(*args, **kwargs)
        # A pool thread does not inherit context variables; copy_context carries them over.
        call = functools.partial(contextvars.copy_context().run, func, *args, **kwargs)
        future = pool.submit(call)
        if on_thread is not None:
            on_thread(future)
        return await asyncio.wrap_future(future)
    finally:
        _SCHEDULED.reset(token)


class JobExecutor(BaseExecutor):  # type: ignore[misc]
    """The executor the orchestrator installs as APScheduler's ``default``."""

    def __init__(self, pool: Callable[[], Executor],
                 logger: Callable[[], logging.Logger],
                 telemetry: Callable[[], Telemetry] = Telemetry) -> None:
        super().__init__()
        self._pool = pool
        self._log = logger
        #: The app's recorder, read at each run (``app.telemetry``; the null one without an app).
        self._telemetry = telemetry
        self._loop: asyncio.AbstractEventLoop | None = None
        self.claim: TickClaim | None = None
        #: The job runs in progress (their asyncio tasks), for graceful shutdown.
        self.running: dict[asyncio.Task[None], str] = {}
        #: For a run whose plain function is on a pool thread now: that thread's future.
        self.threads: dict[asyncio.Task[None], Future[Any]] = {}

    def start(self, scheduler: Any, alias: str) -> None:
        super().start(scheduler, alias)
        self._loop = scheduler._eventloop

    def shutdown(self, wait: bool = True) -> None:
        """Nothing to do: the orchestrator has already waited for and cancelled running jobs."""

    def _do_submit_job(self, job: Any, run_times: list[datetime]) -> None:
        assert self._loop is not None
        task = self._loop.create_task(self._run(job, list(run_times)), name=f"job {job.id}")
        self.running[task] = job.id
        task.add_done_callback(self._forget)

    def _forget(self, task: asyncio.Task[None]) -> None:
        self.running.pop(task, None)
        self.threads.pop(task, None)

    async def _run(self, job: Any, run_times: list[datetime]) -> None:
        events: list[JobExecutionEvent] = []
        log = self._log()
        task = asyncio.current_task()
        assert task is not None

        def on_thread(future: Future[Any]) -> None:
            self.threads[task] = future

        try:
            for run_time in run_times:
                late = datetime.now(UTC) - run_time
                grace = job.misfire_grace_time
                if grace is not None and late > timedelta(seconds=grace):
                    events.append(JobExecutionEvent(EVENT_JOB_MISSED, job.id, job._jobstore_alias,
                                                    run_time))
                    log.warning("job %s skipped its %s run: %s late (misfire_grace_time=%ss)",
                                job.id, run_time.isoformat(), late, grace)
                    continue
                if self.claim is not None and not await self.claim(job.id, run_time, grace):
                    continue
                log.debug("running job %s (tick %s)", job.id, run_time.isoformat())
                telemetry = self._telemetry()
                started = time.perf_counter()
                outcome = "failure"
                try:
                    with telemetry.span("job.run", job=job.id, tick=run_time.isoformat()):
                        retval = await call_job(job.func, tuple(job.args), dict(job.kwargs),
                                                self._pool(), run_time, on_thread)
                except Exception as exc:
                    events.append(JobExecutionEvent(EVENT_JOB_ERROR, job.id, job._jobstore_alias,
                                                    run_time, exception=exc))
                    log.error("job %s failed (run of %s): %r", job.id, run_time.isoformat(), exc,
                              exc_info=exc)
                else:
                    outcome = "success"
                    events.append(JobExecutionEvent(EVENT_JOB_EXECUTED, job.id,
                                                    job._jobstore_alias, run_time, retval=retval))
                finally:
                    self.threads.pop(task, None)
                    telemetry.inc(StandardMetrics.job_runs, job=job.id, outcome=outcome)
                    telemetry.observe(StandardMetrics.job_duration, time.perf_counter() - started, job=job.id)
        finally:
            # Releases the max_instances slot APScheduler took when it submitted the job.
            self._run_job_success(job.id, events)
