"""``DefaultOrchestrator``: background tasks and scheduled jobs, started and stopped with the app.

The 1.x API stays (``DefaultOrchestrator(max_workers=4)``, ``submit_task(func, *args)``,
``schedule_cron_task(func, {"hour": "*/1"})``); APScheduler 3.x is the engine underneath and
never shows through. The core calls ``startup(app)`` on the running loop and ``shutdown(app)``
after the last request.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from apscheduler.events import EVENT_JOB_REMOVED  # type: ignore[import-untyped]
from apscheduler.schedulers.asyncio import AsyncIOScheduler  # type: ignore[import-untyped]

from areion_core import StandardMetrics, Telemetry
from areion_core.plugin_api import SettingsReader

from .executor import JobExecutor, call_job
from .jobs import JobInfo, JobSpec, check_args, coerce_trigger, default_job_id, resolve_callable
from .lease import Leadership, RedisLease
from .lock_file import LockFileLease, default_lock_path
from .settings import DEFAULT, SECTION, GraceTime, OrDefault, SchedulingSettings
from .tasks import BackgroundTasks, TaskHandle
from .triggers import At, Cron, DateValue, Every, Trigger, ZoneValue

F = TypeVar("F", bound=Callable[..., Any])
_LOGGER = logging.getLogger("areion.scheduling")
_NO_TELEMETRY = Telemetry()


class DefaultOrchestrator:
    """Runs background tasks and scheduled (cron, interval, one-off) jobs for an Areion app.

    Every keyword is optional; what you leave out comes from ``[plugins.scheduling]`` in the
    app's config when the app starts, then from the defaults (see the plugin README).
    """

    def __init__(
        self,
        max_workers: int | None = None,
        *,
        max_queued: int | None = None,
        max_coroutines: int | None = None,
        shutdown_timeout: float | None = None,
        timezone: ZoneValue | None = None,
        coalesce: bool | None = None,
        max_instances: int | None = None,
        misfire_grace_time: GraceTime | OrDefault = DEFAULT,
        redis_url: str | None = None,
        redis: str | Mapping[str, Any] | None = None,
        replica_ack: bool | None = None,
        lease_ttl: float | None = None,
        heartbeat: float | None = None,
        key_prefix: str | None = None,
        lock_file: str | os.PathLike[str] | None = None,
        logger: logging.Logger | None = None,
    ) -> None:
        given = {"max_workers": max_workers, "max_queued": max_queued,
                 "max_coroutines": max_coroutines, "shutdown_timeout": shutdown_timeout,
                 "timezone": timezone, "coalesce": coalesce, "max_instances": max_instances,
                 "redis_url": redis_url, "redis": redis, "replica_ack": replica_ack,
                 "lease_ttl": lease_ttl, "heartbeat": heartbeat,
                 "key_prefix": key_prefix, "lock_file": lock_file}
        self._overrides: dict[str, Any] = {k: v for k, v in given.items() if v is not None}
        if misfire_grace_time is not DEFAULT:
            self._overrides["misfire_grace_time"] = misfire_grace_time
        self.settings = SchedulingSettings.from_section({}, self._overrides)
        self._logger = logger
        self._app: Any = None
        s = self.settings
        self._tasks = BackgroundTasks(lambda: self.logger, s.max_workers, s.max_coroutines,
                                      s.max_queued)
        self._jobs: dict[str, JobSpec] = {}
        self._scheduler: Any = None
        self._executor: JobExecutor | None = None
        self._leadership: Leadership | None = None
        self._closing = False

    # --- wiring to the app ---------------------------------------------------------------

    @property
    def logger(self) -> logging.Logger:
        """The logger given to the constructor, else the app's, else ``areion.scheduling``."""
        if self._logger is not None:
            return self._logger
        app_logger = getattr(self._app, "logger", None)
        return app_logger if isinstance(app_logger, logging.Logger) else _LOGGER

    def bind(self, app: Any) -> None:
        """Read the app's ``[plugins.scheduling]`` section and register the jobs it declares.

        ``startup`` calls this; the ``areion jobs`` command calls it without starting anything.
        """
        if app is None or app is self._app:
            return
        config = getattr(app, "config", None)
        section = config.section(SECTION) if config is not None else {}
        self.settings = SchedulingSettings.from_section(section or {}, self._overrides)
        self._app = app
        s = self.settings
        self._tasks.max_workers, self._tasks.max_coroutines = s.max_workers, s.max_coroutines
        self._tasks.max_queued = s.max_queued
        for job in s.jobs:
            func = resolve_callable(f"plugins.{SECTION}.jobs.{job.id}.func", job.func)
            self._add(JobSpec(job.id, func, job.trigger, job.args, dict(job.kwargs),
                              job.coalesce, job.max_instances, job.misfire_grace_time,
                              source="config"))

    async def startup(self, app: Any = None) -> None:
        """Start the scheduler on the running loop and take part in electing the one process
        that runs scheduled jobs. Background tasks work in every process."""
        if self._scheduler is not None:
            return
        self.bind(app)
        loop = asyncio.get_running_loop()
        self._closing = False
        self._tasks.attach_loop(loop)
        s = self.settings
        self._executor = JobExecutor(lambda: self._tasks.pool, lambda: self.logger, self._telemetry)
        scheduler = AsyncIOScheduler(
            event_loop=loop, timezone=s.timezone, executors={"default": self._executor},
            job_defaults={"coalesce": s.coalesce, "max_instances": s.max_instances,
                          "misfire_grace_time": s.misfire_grace_time},
        )
        scheduler.add_listener(self._job_removed, EVENT_JOB_REMOVED)
        self._scheduler = scheduler
        for spec in list(self._jobs.values()):
            self._schedule(spec)
        # Paused until this process is chosen to schedule; the others keep the jobs listed.
        scheduler.start(paused=True)
        self._leadership = self._choose_leadership()
        self._executor.claim = self._leadership.claim
        try:
            await self._leadership.start(self._resume, self._pause)
        except OSError as exc:  # the lock file cannot be opened: no safe way to schedule
            path = str(getattr(self._leadership, "path", ""))
            self._leadership = None
            scheduler.shutdown(wait=False)
            self._scheduler = self._executor = None
            raise SettingsReader(f"plugins.{SECTION}", {}).error(
                "lock_file", path, f"a file this user can create and lock ({exc.strerror or exc})"
            ) from exc
        self.logger.info("scheduler started with %d job(s); %s", len(self._jobs),
                         "this process runs them" if self._leadership.is_leader
                         else "another process runs them")

    def _choose_leadership(self) -> Leadership:
        s = self.settings
        if s.redis is not None:
            replica_ack = s.replica_ack if s.replica_ack is not None else s.redis.mode == "sentinel"
            return RedisLease(s.redis, s.key_prefix, s.lease_ttl, s.heartbeat_interval,
                              lambda: self.logger, replica_ack=replica_ack,
                              replica_ack_timeout=s.replica_ack_timeout)
        config = getattr(self._app, "config", None)
        path = Path(s.lock_file) if s.lock_file else default_lock_path(
            s.key_prefix, getattr(config, "source", None))
        return LockFileLease(path, s.heartbeat_interval, lambda: self.logger)

    def _telemetry(self) -> Telemetry:
        """The app's recorder (``app.telemetry``), read when reporting; the null one without an app."""
        telemetry = getattr(self._app, "telemetry", None)
        return telemetry if isinstance(telemetry, Telemetry) else _NO_TELEMETRY

    def _resume(self) -> None:
        if not self._closing and self._scheduler is not None:
            self._scheduler.resume()
            self._telemetry().set(StandardMetrics.job_lease_held, 1)

    def _pause(self) -> None:
        if self._scheduler is not None and self._scheduler.running:
            self._scheduler.pause()
        self._telemetry().set(StandardMetrics.job_lease_held, 0)

    @property
    def is_scheduler(self) -> bool:
        """True while this process is the one that runs scheduled jobs."""
        return self._leadership is not None and self._leadership.is_leader

    async def shutdown(self, app: Any = None) -> None:
        """Stop scheduling, wait up to ``shutdown_timeout`` for running jobs and tasks, then
        cancel what is still running on the loop and abandon what runs on a thread (each one
        logged as what happened to it), then release the lease; if an abandoned job still
        runs, the lease is kept until it returns or the process exits."""
        loop = asyncio.get_running_loop()
        timeout = self.settings.shutdown_timeout
        deadline = loop.time() + timeout
        self._closing = True
        if self._leadership is not None:
            self._leadership.stop_campaign()  # keep renewing while our jobs finish
        self._pause()
        executor = self._executor
        running = dict(executor.running) if executor is not None else {}
        if running:
            await asyncio.wait(running, timeout=max(0.0, deadline - loop.time()))
        # Jobs may still submit follow-up tasks while they finish; only now refuse new ones.
        self._tasks.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._tasks.wait_idle(), max(0.0, deadline - loop.time()))
        late = {task: job_id for task, job_id in running.items() if not task.done()}
        still_running = await self._stop_late(
            late, dict(executor.threads) if executor is not None else {})
        if self._scheduler is not None and self._scheduler.running:
            self._scheduler.shutdown(wait=False)
            await asyncio.sleep(0)  # AsyncIOScheduler shuts down in a loop callback
        self._scheduler = self._executor = None
        if self._leadership is not None:
            # Never released while a job of ours runs: another process would start the next
            # tick beside it. Kept until it returns, or until the process exits.
            await self._leadership.stop(
                (lambda: any(check() for check in still_running)) if still_running else None)
            self._leadership = None

    async def _stop_late(self, late: dict[asyncio.Task[None], str],
                         threads: dict[asyncio.Task[None], Future[Any]]) -> list[Callable[[], bool]]:
        """Cancel late coroutine jobs and every background task, abandon late thread jobs, and
        log each outcome; returns, for each job still running, a check "is it still running?"."""
        loop = asyncio.get_running_loop()
        log, timeout = self.logger, self.settings.shutdown_timeout
        still_running: list[Callable[[], bool]] = []
        for task, job_id in late.items():
            thread = threads.get(task)
            # A call still queued for a thread can be cancelled; one on a thread cannot.
            if thread is None or thread.cancel():
                log.warning("shutdown: cancelled job %s, still running after the %gs grace period",
                            job_id, timeout)
                task.cancel()
            elif not thread.done():
                still_running.append(functools.partial(_thread_running, thread))
                log.warning("shutdown: job %s is still running in a thread after the %gs grace "
                            "period; threads cannot be interrupted, so it is abandoned when the "
                            "process exits", job_id, timeout)
                task.cancel()  # stops waiting for the thread, not the thread
            # else: its function returned this instant; its bookkeeping finishes in the wait below.
        cancelled_at = loop.time()
        for handle, outcome in await self._tasks.cancel_all():
            log.warning("shutdown: background task %s %s after the %gs grace period",
                        handle.name, outcome, timeout)
        if late:
            await asyncio.wait(late, timeout=max(0.0, cancelled_at + 1.0 - loop.time()))
        for task, job_id in late.items():
            if not task.done():  # a coroutine that caught its CancelledError and carried on
                still_running.append(functools.partial(_task_running, task, loop))
                log.warning("shutdown: job %s is still running 1s after it was cancelled (does "
                            "it catch CancelledError?)", job_id)
        return still_running

    # --- background tasks ----------------------------------------------------------------

    def submit_task(self, func: Any, *args: Any, **kwargs: Any) -> TaskHandle:
        """Run ``func(*args, **kwargs)`` in the background and return its handle.

        Plain functions run on the thread pool (``max_workers``), coroutine functions on the
        event loop. Safe from any thread. Raises ``TaskQueueFullError`` when ``max_queued``
        tasks already wait for a free slot.
        """
        return self._tasks.submit(func, args, kwargs)

    def submit(self, func: Any, *, args: tuple[Any, ...] | list[Any] = (),
               kwargs: Mapping[str, Any] | None = None, name: str | None = None) -> TaskHandle:
        """``submit_task`` with explicit arguments and a task name for the logs."""
        return self._tasks.submit(func, check_args(args), dict(kwargs or {}), name)

    @property
    def tasks(self) -> list[TaskHandle]:
        """The background tasks queued or running now; finished tasks are not kept."""
        return self._tasks.active

    # --- scheduled jobs -------------------------------------------------------------------

    def add_job(
        self,
        func: Callable[..., Any],
        trigger: Trigger | str | Mapping[str, Any] | float | timedelta | datetime,
        *,
        args: tuple[Any, ...] | list[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
        id: str | None = None,
        coalesce: bool | OrDefault = DEFAULT,
        max_instances: int | OrDefault = DEFAULT,
        misfire_grace_time: GraceTime | OrDefault = DEFAULT,
    ) -> str:
        """Schedule ``func`` and return the job id.

        ``id`` defaults to ``module.qualname`` of ``func``; adding a job with an id that exists
        replaces it (so a redeploy, or a second call, never doubles a job). Options left at
        ``DEFAULT`` take the orchestrator's setting.
        """
        if not callable(func):
            raise TypeError(f"a job needs a function, got {func!r}")
        spec = JobSpec(id or default_job_id(func), func, coerce_trigger(trigger),
                       check_args(args), dict(kwargs or {}), coalesce, max_instances,
                       misfire_grace_time)
        self._add(spec)
        return spec.id

    def schedule_cron_task(self, func: Callable[..., Any], cron_fields: str | Mapping[str, Any],
                           *args: Any, **kwargs: Any) -> str:
        """Run ``func(*args, **kwargs)`` on a cron schedule: a mapping of cron fields
        (``{"hour": "*/1"}``, ``{"day_of_week": "mon-fri", "hour": 9}``) or a crontab string."""
        return self.add_job(func, Cron.from_fields(cron_fields), args=args, kwargs=kwargs)

    def schedule_interval_task(self, func: Callable[..., Any], interval: float | timedelta,
                               *args: Any, **kwargs: Any) -> str:
        """Run ``func(*args, **kwargs)`` every ``interval`` (seconds or a ``timedelta``)."""
        return self.add_job(func, Every.from_spec(interval), args=args, kwargs=kwargs)

    def schedule_date_task(self, func: Callable[..., Any], run_date: DateValue,
                           *args: Any, **kwargs: Any) -> str:
        """Run ``func(*args, **kwargs)`` once, at ``run_date``."""
        return self.add_job(func, At(run_date), args=args, kwargs=kwargs)

    def cron(self, expression: str | None = None, /, *, id: str | None = None,
             args: tuple[Any, ...] | list[Any] = (), kwargs: Mapping[str, Any] | None = None,
             coalesce: bool | OrDefault = DEFAULT, max_instances: int | OrDefault = DEFAULT,
             misfire_grace_time: GraceTime | OrDefault = DEFAULT,
             **fields: Any) -> Callable[[F], F]:
        """Decorator: ``@orchestrator.cron("*/5 * * * *")`` or ``@orchestrator.cron(hour=0)``;
        ``fields`` are cron fields plus ``start_date``, ``end_date`` and ``timezone``."""
        trigger = Cron.from_fields(fields) if expression is None else Cron(expression, **fields)
        return self._decorator(trigger, id, args, kwargs, coalesce, max_instances,
                               misfire_grace_time)

    def every(self, seconds: float = 0, minutes: float = 0, hours: float = 0, days: float = 0,
              weeks: float = 0, *, start_date: DateValue | None = None,
              end_date: DateValue | None = None, timezone: ZoneValue | None = None,
              id: str | None = None, args: tuple[Any, ...] | list[Any] = (),
              kwargs: Mapping[str, Any] | None = None, coalesce: bool | OrDefault = DEFAULT,
              max_instances: int | OrDefault = DEFAULT,
              misfire_grace_time: GraceTime | OrDefault = DEFAULT) -> Callable[[F], F]:
        """Decorator: ``@orchestrator.every(seconds=30)`` runs the function every 30 seconds."""
        trigger = Every(seconds, minutes, hours, days, weeks, start_date=start_date,
                        end_date=end_date, timezone=timezone)
        return self._decorator(trigger, id, args, kwargs, coalesce, max_instances,
                               misfire_grace_time)

    def at(self, run_date: DateValue, *, timezone: ZoneValue | None = None, id: str | None = None,
           args: tuple[Any, ...] | list[Any] = (), kwargs: Mapping[str, Any] | None = None,
           misfire_grace_time: GraceTime | OrDefault = DEFAULT) -> Callable[[F], F]:
        """Decorator: run the function once, at ``run_date``."""
        return self._decorator(At(run_date, timezone=timezone), id, args, kwargs, DEFAULT,
                               DEFAULT, misfire_grace_time)

    def _decorator(self, trigger: Trigger, id: str | None, args: Any, kwargs: Any,
                   coalesce: Any, max_instances: Any, grace: Any) -> Callable[[F], F]:
        def register(func: F) -> F:
            self.add_job(func, trigger, args=args, kwargs=kwargs, id=id, coalesce=coalesce,
                         max_instances=max_instances, misfire_grace_time=grace)
            return func

        return register

    def remove_job(self, job_id: str) -> None:
        """Unschedule a job (``KeyError`` if there is none with that id)."""
        if self._jobs.pop(job_id, None) is None:
            raise KeyError(f"no scheduled job {job_id!r}")
        if self._scheduler is not None and self._scheduler.get_job(job_id) is not None:
            self._scheduler.remove_job(job_id)

    def get_job(self, job_id: str) -> JobInfo | None:
        """The job with this id, with its next run time, or None."""
        spec = self._jobs.get(job_id)
        return None if spec is None else self._info(spec)

    def list_jobs(self) -> list[JobInfo]:
        """Every job, soonest first (jobs with no next run last)."""
        infos = [self._info(spec) for spec in list(self._jobs.values())]
        return sorted(infos, key=lambda i: (i.next_run_time is None,
                                            i.next_run_time.timestamp() if i.next_run_time else 0,
                                            i.id))

    async def run_job_now(self, job_id: str) -> Any:
        """Run a job once, here and now, outside its schedule (no lease, no tick guard)."""
        spec = self._jobs.get(job_id)
        if spec is None:
            raise KeyError(f"no scheduled job {job_id!r}; jobs: {', '.join(sorted(self._jobs))}")
        self._tasks.attach_loop(asyncio.get_running_loop())
        return await call_job(spec.func, spec.args, spec.kwargs, self._tasks.pool,
                              datetime.now(self.settings.timezone))

    @property
    def running_jobs(self) -> list[str]:
        """Ids of the jobs running in this process now."""
        return list(self._executor.running.values()) if self._executor is not None else []

    def _add(self, spec: JobSpec) -> None:
        self._jobs[spec.id] = spec
        if self._scheduler is not None:
            self._schedule(spec)

    def _schedule(self, spec: JobSpec) -> None:
        s = self.settings
        options = {
            "coalesce": s.coalesce if spec.coalesce is DEFAULT else spec.coalesce,
            "max_instances": s.max_instances if spec.max_instances is DEFAULT
            else spec.max_instances,
            "misfire_grace_time": s.misfire_grace_time if spec.misfire_grace_time is DEFAULT
            else spec.misfire_grace_time,
        }
        self._scheduler.add_job(spec.func, trigger=spec.trigger.build(s.timezone),
                                args=spec.args, kwargs=spec.kwargs, id=spec.id, name=spec.id,
                                replace_existing=True, **options)

    def _job_removed(self, event: Any) -> None:
        # APScheduler drops a one-off job after its run; forget it too (unless re-added since).
        spec = self._jobs.get(event.job_id)
        if spec is not None and isinstance(spec.trigger, At) and self._scheduler is not None \
                and self._scheduler.get_job(event.job_id) is None:
            del self._jobs[event.job_id]

    def _info(self, spec: JobSpec) -> JobInfo:
        tz = self.settings.timezone
        now = datetime.now(tz)
        next_run: datetime | None = None
        job = self._scheduler.get_job(spec.id) if self._scheduler is not None else None
        if job is not None and getattr(job, "next_run_time", None) is not None \
                and job.next_run_time >= now:
            next_run = job.next_run_time
        else:
            # Not started, or paused here because another process schedules: work it out.
            next_run = spec.trigger.build(tz).get_next_fire_time(None, now)
        name = f"{getattr(spec.func, '__module__', '?')}:{getattr(spec.func, '__qualname__', '?')}"
        return JobInfo(spec.id, name, str(spec.trigger), next_run, spec.source)


def _thread_running(future: Future[Any]) -> bool:
    return not future.done()


def _task_running(task: asyncio.Task[Any], loop: asyncio.AbstractEventLoop) -> bool:
    # Read from the lease keeper's thread: a closed loop will never run the task again.
    return not task.done() and not loop.is_closed()
