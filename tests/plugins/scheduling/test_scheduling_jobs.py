"""Scheduled jobs in one process, in real (sub-second) time: every trigger, arguments, options."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from areion_scheduling import At, Cron, DefaultOrchestrator, Every, scheduled_time

from tests.plugins.scheduling import _scheduling_support as support
from tests.plugins.scheduling._scheduling_support import StandaloneApp, make_app, wait_until

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


async def test_interval_job_runs_repeatedly_on_an_epoch_aligned_grid(
    orchestrator: DefaultOrchestrator, app: StandaloneApp
) -> None:
    ticks: list[datetime | None] = []

    @orchestrator.every(seconds=0.2)
    async def tick() -> None:
        ticks.append(scheduled_time())

    await orchestrator.startup(app)
    await wait_until(lambda: len(ticks) >= 3)
    fire_times = [t for t in ticks if t is not None]
    assert len(fire_times) == len(ticks)
    # Every process computes the same ticks: multiples of the interval since 1970 UTC.
    for t in fire_times:
        assert round(t.timestamp() * 1000) % 200 == 0
    assert fire_times == sorted(set(fire_times))


async def test_cron_fields_with_a_single_string_argument(
    orchestrator: DefaultOrchestrator, app: StandaloneApp
) -> None:
    calls: list[tuple[object, ...]] = []
    job_id = orchestrator.schedule_cron_task(lambda *a: calls.append(a), {"second": "*"},
                                             "single string")
    await orchestrator.startup(app)
    await wait_until(lambda: len(calls) >= 1, timeout=3)
    assert calls[0] == ("single string",)  # not ("s", "i", "n", ...)
    assert orchestrator.get_job(job_id) is not None


async def test_cron_job_passes_positional_and_keyword_arguments(
    orchestrator: DefaultOrchestrator, app: StandaloneApp
) -> None:
    calls: list[tuple[object, ...]] = []

    def job(a: int, b: list[int], *, flag: bool) -> None:
        calls.append((a, b, flag))

    orchestrator.schedule_cron_task(job, {"second": "*/1"}, 1, [2], flag=True)
    await orchestrator.startup(app)
    await wait_until(lambda: len(calls) >= 1, timeout=3)
    assert calls[0] == (1, [2], True)


async def test_crontab_string_with_seconds_runs(
    orchestrator: DefaultOrchestrator, app: StandaloneApp
) -> None:
    seen: list[datetime | None] = []
    orchestrator.add_job(lambda: seen.append(scheduled_time()), Cron("* * * * *", second="*"),
                         id="crontab-every-second")
    await orchestrator.startup(app)
    await wait_until(lambda: len(seen) >= 1, timeout=3)
    assert seen[0] is not None and seen[0].microsecond == 0


def test_crontab_day_of_week_counts_from_sunday_like_cron() -> None:
    orch = DefaultOrchestrator()
    orch.schedule_cron_task(lambda: None, "30 9 * * 1-5")  # weekdays, 09:30
    orch.add_job(lambda: None, "0 12 * * 0", id="sunday-noon")
    orch.add_job(lambda: None, "0 0 * * 7", id="sunday-again")
    weekday_run = next(j for j in orch.list_jobs() if j.trigger == "cron[30 9 * * 1-5]")
    assert weekday_run.next_run_time is not None
    assert weekday_run.next_run_time.weekday() < 5  # Monday..Friday, not Tuesday..Saturday
    assert (weekday_run.next_run_time.hour, weekday_run.next_run_time.minute) == (9, 30)
    for job_id in ("sunday-noon", "sunday-again"):
        info = orch.get_job(job_id)
        assert info is not None and info.next_run_time is not None
        assert info.next_run_time.weekday() == 6


async def test_day_of_week_field_today_runs_and_tomorrow_waits(
    orchestrator: DefaultOrchestrator, app: StandaloneApp
) -> None:
    now = datetime.now(UTC)
    today, tomorrow = DAYS[now.weekday()], DAYS[(now.weekday() + 1) % 7]
    ran: list[str] = []
    orchestrator.schedule_cron_task(ran.append, {"day_of_week": today, "second": "*"}, today)
    orchestrator.add_job(ran.append, {"day_of_week": tomorrow, "second": "*"}, args=[tomorrow],
                         id="tomorrow")
    await orchestrator.startup(app)
    await wait_until(lambda: today in ran, timeout=3)
    assert tomorrow not in ran
    info = orchestrator.get_job("tomorrow")
    assert info is not None and info.next_run_time is not None
    assert info.next_run_time.date() == (now + timedelta(days=1)).date()
    assert info.next_run_time.time().isoformat() == "00:00:00"


async def test_one_off_date_job_runs_once_and_is_forgotten(
    orchestrator: DefaultOrchestrator, app: StandaloneApp
) -> None:
    calls: list[str] = []
    when = datetime.now(UTC) + timedelta(seconds=0.3)
    job_id = orchestrator.schedule_date_task(calls.append, when, "once")
    info = orchestrator.get_job(job_id)
    assert info is not None and info.next_run_time == when
    await orchestrator.startup(app)
    await wait_until(lambda: calls == ["once"], timeout=3)
    await asyncio.sleep(0.3)
    assert calls == ["once"]
    assert orchestrator.get_job(job_id) is None


async def test_decorators_register_under_stable_ids(
    orchestrator: DefaultOrchestrator, app: StandaloneApp
) -> None:
    seen: list[str] = []

    @orchestrator.cron(second="*")
    def by_cron() -> None:
        seen.append("cron")

    @orchestrator.every(seconds=0.1, id="fast")
    async def by_interval() -> None:
        seen.append("every")

    @orchestrator.at(datetime.now(UTC) + timedelta(seconds=0.2))
    def by_date() -> None:
        seen.append("at")

    ids = {j.id for j in orchestrator.list_jobs()}
    assert ids == {f"{__name__}.{by_cron.__qualname__}", "fast",
                  f"{__name__}.{by_date.__qualname__}"}
    await orchestrator.startup(app)
    await wait_until(lambda: {"cron", "every", "at"} <= set(seen), timeout=3)


async def test_the_same_id_replaces_the_job_instead_of_doubling_it(
    orchestrator: DefaultOrchestrator, app: StandaloneApp
) -> None:
    calls: list[str] = []

    def job(tag: str) -> None:
        calls.append(tag)

    orchestrator.add_job(job, Every(seconds=0.1), args=["first"])
    await orchestrator.startup(app)
    await wait_until(lambda: "first" in calls)
    # A redeploy (or a second declaration) under the same id replaces the schedule.
    orchestrator.add_job(job, Cron(year=2100, month=1), args=["second"])
    assert [j.id for j in orchestrator.list_jobs()] == [f"{__name__}.{job.__qualname__}"]
    calls.clear()
    await asyncio.sleep(0.4)
    assert calls == []
    orchestrator.remove_job(f"{__name__}.{job.__qualname__}")
    assert orchestrator.list_jobs() == []


async def test_jobs_declared_in_config_by_dotted_path() -> None:
    support.RECORDED.clear()
    app = make_app({"jobs": {
        "heartbeat": {"func": "tests.plugins.scheduling._scheduling_support:record", "every": 0.1,
                      "args": ["one string"], "kwargs": {"source": "config"}},
        "nightly": {"func": "tests.plugins.scheduling._scheduling_support.record", "cron": "0 3 * * *",
                    "timezone": "Europe/Paris"},
    }})
    orch = DefaultOrchestrator(shutdown_timeout=2)
    await orch.startup(app)
    try:
        await wait_until(lambda: len(support.RECORDED) >= 2)
        assert support.RECORDED[0] == (("one string",), {"source": "config"})
        nightly = orch.get_job("nightly")
        assert nightly is not None and nightly.source == "config"
        assert nightly.next_run_time is not None
        paris = nightly.next_run_time.astimezone(Cron("0 3 * * *", timezone="Europe/Paris")
                                                 .build(UTC).timezone)
        assert (paris.hour, paris.minute) == (3, 0)
    finally:
        await orch.shutdown(app)


async def test_failing_job_is_logged_with_its_id_and_keeps_its_schedule(
    orchestrator: DefaultOrchestrator, app: StandaloneApp, caplog: pytest.LogCaptureFixture
) -> None:
    attempts: list[int] = []

    def flaky() -> None:
        attempts.append(1)
        raise RuntimeError("job went wrong")

    orchestrator.add_job(flaky, Every(seconds=0.1), id="flaky-job")
    with caplog.at_level(logging.ERROR):
        await orchestrator.startup(app)
        await wait_until(lambda: len(attempts) >= 2)
    failures = [r for r in caplog.records if "flaky-job" in r.getMessage()]
    assert failures and failures[0].exc_info is not None
    assert "job went wrong" in caplog.text


async def test_max_instances_keeps_a_slow_job_from_overlapping(
    orchestrator: DefaultOrchestrator, app: StandaloneApp
) -> None:
    running, peak, finished = [0], [0], [0]

    async def slow() -> None:
        running[0] += 1
        peak[0] = max(peak[0], running[0])
        await asyncio.sleep(0.25)
        running[0] -= 1
        finished[0] += 1

    orchestrator.add_job(slow, Every(seconds=0.05), max_instances=1)
    await orchestrator.startup(app)
    await wait_until(lambda: finished[0] >= 2)
    assert peak[0] == 1


@pytest.mark.parametrize(("coalesce", "expected"), [(True, range(1, 3)), (False, range(4, 9))])
async def test_coalesce_decides_how_many_missed_runs_catch_up(
    orchestrator: DefaultOrchestrator, app: StandaloneApp, coalesce: bool, expected: range
) -> None:
    calls: list[float] = []
    orchestrator.add_job(lambda: calls.append(time.monotonic()), Every(seconds=0.1),
                         coalesce=coalesce)
    await orchestrator.startup(app)
    time.sleep(0.55)  # noqa: ASYNC251 - block the loop on purpose: about five ticks go by unrun
    await wait_until(lambda: len(calls) >= 1)
    await asyncio.sleep(0.03)
    assert len(calls) in expected


async def test_a_run_later_than_misfire_grace_time_is_skipped_and_logged(
    app: StandaloneApp, caplog: pytest.LogCaptureFixture
) -> None:
    # Without coalescing every missed tick is tried; those more than 1 s late are dropped.
    orch = DefaultOrchestrator(misfire_grace_time=1, coalesce=False, shutdown_timeout=1)
    calls: list[int] = []
    orch.add_job(lambda: calls.append(1), Every(seconds=0.1), id="punctual")
    with caplog.at_level(logging.WARNING):
        await orch.startup(app)
        time.sleep(1.35)  # noqa: ASYNC251 - block the loop: the first ticks are now more than a second late
        await wait_until(lambda: len(calls) >= 3)
    skipped = [r for r in caplog.records if r.getMessage().startswith("job punctual skipped")]
    assert skipped and all("misfire_grace_time=1s" in r.getMessage() for r in skipped)
    assert len(skipped) + len(calls) >= 10  # about 13 ticks went by: the rest did run
    await orch.shutdown(app)


async def test_shutdown_waits_for_a_running_job(app: StandaloneApp) -> None:
    orch = DefaultOrchestrator(shutdown_timeout=5)
    started, finished = asyncio.Event(), []

    async def report() -> None:
        started.set()
        await asyncio.sleep(0.4)
        finished.append("async")

    def sync_report() -> None:
        time.sleep(0.4)
        finished.append("sync")

    orch.add_job(report, Every(seconds=0.1), id="report")
    orch.add_job(sync_report, Every(seconds=0.1), id="sync-report")
    await orch.startup(app)
    await started.wait()
    await wait_until(lambda: len(orch.running_jobs) == 2)
    await orch.shutdown(app)
    assert sorted(finished) == ["async", "sync"]  # both ran to the end, none was cut short


async def test_shutdown_cancels_after_the_grace_period_and_logs_it(
    app: StandaloneApp, caplog: pytest.LogCaptureFixture
) -> None:
    orch = DefaultOrchestrator(shutdown_timeout=0.2)
    cancelled = threading.Event()

    async def endless() -> None:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    orch.add_job(endless, Every(seconds=0.05), id="endless-job")
    await orch.startup(app)
    await wait_until(lambda: orch.running_jobs == ["endless-job"])
    orch.submit(asyncio.sleep, args=(30,), name="endless-task")
    with caplog.at_level(logging.WARNING):
        began = time.monotonic()
        await orch.shutdown(app)
    assert time.monotonic() - began < 3
    assert cancelled.is_set()
    assert "cancelled job endless-job" in caplog.text
    assert "background task endless-task cancelled while running" in caplog.text


async def test_a_thread_job_past_the_grace_period_is_abandoned_not_cancelled(
    app: StandaloneApp, caplog: pytest.LogCaptureFixture
) -> None:
    # A thread cannot be interrupted: shutdown stops waiting for it, says so, and returns.
    orch = DefaultOrchestrator(shutdown_timeout=0.2)
    release, finished = threading.Event(), threading.Event()

    def stuck() -> None:
        release.wait(10)
        finished.set()

    orch.add_job(stuck, Every(seconds=0.05), id="stuck-job")
    await orch.startup(app)
    await wait_until(lambda: orch.running_jobs == ["stuck-job"])
    try:
        with caplog.at_level(logging.WARNING):
            began = time.monotonic()
            await orch.shutdown(app)
        assert time.monotonic() - began < 0.2 + 1.0
        assert not finished.is_set()  # it runs on, in its daemon thread
        assert ("shutdown: job stuck-job is still running in a thread after the 0.2s grace "
                "period; threads cannot be interrupted, so it is abandoned when the process "
                "exits") in caplog.text
        assert "cancelled job stuck-job" not in caplog.text
    finally:
        release.set()
    assert finished.wait(5)


async def test_run_job_now_runs_outside_the_schedule(orchestrator: DefaultOrchestrator) -> None:
    seen: list[datetime | None] = []
    orchestrator.add_job(lambda: seen.append(scheduled_time()) or "ran", At("2100-01-01"),
                         id="later")
    assert await orchestrator.run_job_now("later") == "ran"
    assert seen[0] is not None
    with pytest.raises(KeyError, match="no scheduled job"):
        await orchestrator.run_job_now("missing")
