"""Options and schedules are validated up front, with errors that name the key and the value."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from areion_scheduling import At, Cron, DefaultOrchestrator, Every, SchedulingSettings
from areion_scheduling.triggers import crontab_day_of_week

from areion_core.exceptions import ConfigError
from tests.plugins.scheduling._scheduling_support import make_app


@pytest.mark.parametrize(("section", "key"), [
    ({"max_workers": 0}, "plugins.scheduling.max_workers"),
    ({"max_queued": -1}, "plugins.scheduling.max_queued"),
    ({"max_workers": True}, "plugins.scheduling.max_workers"),
    ({"shutdown_timeout": "soon"}, "plugins.scheduling.shutdown_timeout"),
    ({"misfire_grace_time": 0.5}, "plugins.scheduling.misfire_grace_time"),
    ({"timezone": "Mars/Olympus"}, "plugins.scheduling.timezone"),
    ({"redis_url": "http://localhost"}, "plugins.scheduling.redis_url"),
    ({"redis_url": "${SCHEDULING_SURELY_UNSET_VAR}"}, "plugins.scheduling.redis_url"),
    ({"lease_ttl": 0}, "plugins.scheduling.lease_ttl"),
    ({"lease_ttl": 1, "heartbeat": 2}, "plugins.scheduling.heartbeat"),
    ({"lock_file": 5}, "plugins.scheduling.lock_file"),
    ({"lock_file": ["a.lock"]}, "plugins.scheduling.lock_file"),
    ({"max_worker": 4}, "plugins.scheduling.max_worker"),
    ({"jobs": {"j": {"cron": "* * * * *"}}}, "plugins.scheduling.jobs.j.func"),
    ({"jobs": {"j": {"func": "m:f"}}}, "plugins.scheduling.jobs.j"),
    ({"jobs": {"j": {"func": "m:f", "cron": "* * * * *", "every": 5}}}, "plugins.scheduling.jobs.j"),
    ({"jobs": {"j": {"func": "m:f", "every": 5, "args": "one string"}}},
     "plugins.scheduling.jobs.j.args"),
    ({"jobs": {"j": {"func": "m:f", "cron": {"hours": 1}}}}, "plugins.scheduling.jobs.j.cron"),
    ({"jobs": {"j": {"func": "m:f", "cron": "61 * * * *"}}}, "plugins.scheduling.jobs.j.cron"),
    ({"jobs": {"j": {"func": "m:f", "every": 0}}}, "plugins.scheduling.jobs.j.every"),
    ({"jobs": {"j": {"func": "m:f", "at": "tomorrow"}}}, "plugins.scheduling.jobs.j.at"),
    ({"jobs": {"j": {"func": "m:f", "every": 5, "max_instances": 0}}},
     "plugins.scheduling.jobs.j.max_instances"),
    ({"jobs": {"j": {"func": "m:f", "every": 5, "retries": 3}}},
     "plugins.scheduling.jobs.j.retries"),
])
def test_bad_config_names_the_key(section: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError) as info:
        SchedulingSettings.from_section(section)
    assert info.value.key == key


def test_good_config_is_parsed() -> None:
    s = SchedulingSettings.from_section({
        "max_workers": 8, "misfire_grace_time": "unlimited", "timezone": "Europe/Paris",
        "lease_ttl": 6, "jobs": {
            "a": {"func": "pkg.mod:f", "cron": {"day_of_week": "mon-fri", "hour": 9}},
            "b": {"func": "pkg.mod.g", "every": {"minutes": 5}, "args": ["x"], "coalesce": False},
            "c": {"func": "pkg:h", "at": datetime(2030, 1, 1, tzinfo=UTC)},
        }})
    assert s.max_workers == 8 and s.misfire_grace_time is None and s.heartbeat_interval == 2
    assert str(s.timezone) == "Europe/Paris"
    by_id = {job.id: job for job in s.jobs}
    assert by_id["a"].trigger == Cron(day_of_week="mon-fri", hour=9)
    assert by_id["b"].trigger == Every(minutes=5) and by_id["b"].args == ("x",)
    assert by_id["b"].coalesce is False
    assert isinstance(by_id["c"].trigger, At)
    assert s.lock_file is None  # the default path, worked out at startup


def test_lock_file_is_a_path_with_the_home_directory_expanded() -> None:
    assert SchedulingSettings.from_section({"lock_file": "~/run/app.lock"}).lock_file == \
        os.path.expanduser("~/run/app.lock")
    assert SchedulingSettings.from_section({"lock_file": ""}).lock_file is None
    orch = DefaultOrchestrator(lock_file=Path("/run/app/scheduler.lock"))
    assert orch.settings.lock_file == "/run/app/scheduler.lock"


def test_constructor_arguments_are_validated_and_win_over_config() -> None:
    with pytest.raises(ConfigError, match=r"DefaultOrchestrator\.max_workers"):
        DefaultOrchestrator(max_workers=0)
    orch = DefaultOrchestrator(max_workers=2, misfire_grace_time=None)
    orch.bind(make_app({"max_workers": 16, "misfire_grace_time": 5, "coalesce": False}))
    assert (orch.settings.max_workers, orch.settings.misfire_grace_time) == (2, None)
    assert orch.settings.coalesce is False


def test_a_config_job_whose_function_cannot_be_imported() -> None:
    orch = DefaultOrchestrator()
    with pytest.raises(ConfigError, match="importable") as info:
        orch.bind(make_app({"jobs": {"j": {"func": "no_such_module_here:f", "every": 1}}}))
    assert info.value.key == "plugins.scheduling.jobs.j.func"


@pytest.mark.parametrize(("field", "names"), [
    ("*", "*"),
    ("0", "sun"),
    ("7", "sun"),
    ("1-5", "mon,tue,wed,thu,fri"),
    ("5-7", "fri,sat,sun"),
    ("*/2", "tue,thu,sat,sun"),
    ("1/3", "mon,thu"),
    ("sat,sun", "sat,sun"),
    ("MON-wed,6", "mon,tue,wed,sat"),
])
def test_crontab_weekday_numbers_count_from_sunday(field: str, names: str) -> None:
    assert crontab_day_of_week(field) == names


@pytest.mark.parametrize("field", ["8", "5-1", "*/0", "funday"])
def test_bad_crontab_weekdays(field: str) -> None:
    with pytest.raises(ValueError):
        crontab_day_of_week(field)


def test_schedule_declarations_fail_early() -> None:
    with pytest.raises(ValueError, match="5"):
        Cron("* * *")
    with pytest.raises(ValueError, match="not both"):
        Cron("0 * * * *", hour=3)
    with pytest.raises(ValueError, match="at least one"):
        Cron()
    with pytest.raises(ValueError, match="positive"):
        Every(seconds=-1)
    orch = DefaultOrchestrator()
    with pytest.raises(ValueError, match="'hours'"):
        orch.schedule_cron_task(print, {"hours": "*/1"})  # the field is "hour"
    with pytest.raises(TypeError, match="one string"):
        orch.add_job(print, Every(seconds=1), args="abc")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="not a schedule"):
        orch.add_job(print, object())  # type: ignore[arg-type]
    assert orch.list_jobs() == []


def test_every_field_and_shorthand_becomes_a_schedule() -> None:
    orch = DefaultOrchestrator(timezone="UTC")
    fields = {"year": "2030-2040", "month": "1-6", "day": "1", "week": "*", "day_of_week": "mon",
              "hour": "*/2", "minute": "15", "second": "30",
              "start_date": "2030-01-01", "end_date": "2040-01-01", "timezone": "Asia/Tokyo"}
    orch.schedule_cron_task(print, fields)
    info = orch.list_jobs()[0]
    assert info.next_run_time is not None and info.next_run_time.year >= 2030
    tokyo = info.next_run_time
    assert (tokyo.minute, tokyo.second, tokyo.hour % 2, tokyo.weekday()) == (15, 30, 0, 0)
    assert orch.add_job(print, 30, id="secs") == "secs"
    assert orch.add_job(print, timedelta(minutes=1), id="delta") == "delta"
    assert orch.add_job(print, datetime(2031, 1, 1, tzinfo=UTC), id="date") == "date"
    assert orch.add_job(print, "@daily", id="macro") == "macro"
    assert orch.get_job("macro").next_run_time.time().isoformat() == "00:00:00"  # type: ignore[union-attr]
    secs = orch.get_job("secs")
    assert secs is not None and secs.next_run_time is not None
    assert secs.next_run_time.second in (0, 30) and secs.next_run_time.microsecond == 0


def test_redis_table_url_alias_and_replica_ack() -> None:
    table = SchedulingSettings.from_section({"redis": {"mode": "sentinel", "sentinels": ["s1:26379"],
                                                       "service": "mymaster"}})
    assert table.redis is not None and (table.redis.mode, table.redis.service) == ("sentinel", "mymaster")
    alias = SchedulingSettings.from_section({"redis_url": "redis+cluster://n1:7000", "replica_ack": False})
    assert alias.redis is not None and alias.redis.mode == "cluster" and alias.replica_ack is False
    assert SchedulingSettings.from_section({}).redis is None
    with pytest.raises(ConfigError, match=r"plugins\.scheduling\.redis_url.*not both"):
        SchedulingSettings.from_section({"redis": "redis://a:6379/0", "redis_url": "redis://b:6379/0"})
    with pytest.raises(ConfigError, match=r"plugins\.scheduling\.redis\.service"):
        SchedulingSettings.from_section({"redis": {"mode": "sentinel", "sentinels": ["s1"]}})
    with pytest.raises(ConfigError, match=r"plugins\.scheduling\.replica_ack_timeout"):
        SchedulingSettings.from_section({"replica_ack_timeout": 0})


def test_replica_ack_is_refused_on_a_cluster() -> None:
    with pytest.raises(ConfigError, match=r"plugins\.scheduling\.replica_ack.*Cluster"):
        SchedulingSettings.from_section({"redis": "redis+cluster://n1:7000", "replica_ack": True})
