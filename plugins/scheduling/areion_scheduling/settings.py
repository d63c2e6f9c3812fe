"""The ``[plugins.scheduling]`` options: defaults, validation and the jobs declared in config.

Every option can come from the config section or from ``DefaultOrchestrator(...)`` keyword
arguments; the arguments win. A bad value stops startup with a ``ConfigError`` that names the
key, the value and what was expected.
"""

from __future__ import annotations

import enum
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, tzinfo
from typing import Any, Final, Literal, TypeAlias

from areion_redis import RedisSettings

from areion_core.plugin_api import EnvText, SettingsReader

from .triggers import At, Cron, Every, Trigger, parse_timezone

SECTION = "scheduling"
_PREFIX = f"plugins.{SECTION}"
_FUNC = re.compile(r"[\w.]+[:.]\w+(\.\w+)*")


class _Default(enum.Enum):
    DEFAULT = "default"


#: "Use the orchestrator's setting" for per-job options (``None`` already means "no limit").
DEFAULT: Final = _Default.DEFAULT
GraceTime: TypeAlias = int | None
OrDefault: TypeAlias = Literal[_Default.DEFAULT]


@dataclass(frozen=True)
class JobConfig:
    """One ``[plugins.scheduling.jobs.<id>]`` table, validated (``func`` not yet imported)."""

    id: str
    func: str
    trigger: Trigger
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    coalesce: bool | OrDefault = DEFAULT
    max_instances: int | OrDefault = DEFAULT
    misfire_grace_time: GraceTime | OrDefault = DEFAULT


@dataclass(frozen=True)
class SchedulingSettings:
    """Resolved options; see the plugin README for what each one does."""

    max_workers: int = 4
    max_coroutines: int = 100
    max_queued: int = 1000
    shutdown_timeout: float = 10.0
    timezone: tzinfo = UTC
    coalesce: bool = True
    max_instances: int = 1
    misfire_grace_time: GraceTime = 30
    #: Where the lease lives: a ``redis`` URL or table (``areion_redis``); ``redis_url`` is its alias.
    redis: RedisSettings | None = None
    redis_url: str | None = None
    #: Run a tick only once a replica acknowledged its claim (``WAIT 1``): on by default behind
    #: Sentinel, where a failover could otherwise lose the claim and run the tick twice.
    replica_ack: bool | None = None
    replica_ack_timeout: float = 0.5
    lease_ttl: float = 10.0
    heartbeat: float | None = None
    key_prefix: str = "areion:scheduling:"
    lock_file: str | None = None
    jobs: tuple[JobConfig, ...] = ()

    @property
    def heartbeat_interval(self) -> float:
        """How often the lease is renewed (or, by a follower, tried): a third of the TTL by default."""
        return self.heartbeat if self.heartbeat is not None else self.lease_ttl / 3

    @classmethod
    def from_section(
        cls, section: Mapping[str, Any], overrides: Mapping[str, Any] | None = None
    ) -> SchedulingSettings:
        """Validate a config section, then apply constructor ``overrides`` (validated too)."""
        keys = set(cls.__dataclass_fields__)
        values: dict[str, Any] = {}
        for read in (SettingsReader(_PREFIX, section, keys=keys),
                     SettingsReader("DefaultOrchestrator", overrides, keys=keys)):
            for key in read:
                values[key] = _OPTION_PARSERS[key](read, key)
        both = [k for k in ("redis", "redis_url") if k in section or k in (overrides or {})]
        if len(both) > 1:
            raise SettingsReader(_PREFIX, section).error(
                "redis_url", "...", f"either {_PREFIX}.redis or {_PREFIX}.redis_url (an alias), not both")
        if "redis_url" in values and values["redis_url"] is not None:
            values["redis"] = RedisSettings.from_config(values["redis_url"], f"{_PREFIX}.redis_url")
        settings = replace(cls(), **values)
        if settings.replica_ack and settings.redis is not None and settings.redis.mode == "cluster":
            raise SettingsReader(_PREFIX, section).error(
                "replica_ack", True, "false on a Cluster (a cluster pipeline cannot carry WAIT)")
        if settings.heartbeat is not None and settings.heartbeat >= settings.lease_ttl:
            raise SettingsReader(_PREFIX, section).error(
                "heartbeat", settings.heartbeat, f"less than lease_ttl ({settings.lease_ttl})")
        return settings


# --- validators: (reader, key) -> parsed value, or ConfigError -----------------------------

_Parser = Callable[[SettingsReader, str], Any]


def _int(minimum: int) -> _Parser:
    def parse(read: SettingsReader, key: str) -> int:
        return read.as_integer(key, read.value(key), minimum=minimum, expected=f"an integer >= {minimum}")

    return parse


def _seconds(positive: bool) -> _Parser:
    def parse(read: SettingsReader, key: str) -> float:
        expected = "a positive number of seconds" if positive else "a number of seconds >= 0"
        return read.as_seconds(key, read.value(key), zero=not positive, expected=expected)

    return parse


def _optional_seconds(read: SettingsReader, key: str) -> float | None:
    return None if read.value(key) is None else _seconds(True)(read, key)


def _bool(read: SettingsReader, key: str) -> bool:
    return read.as_boolean(key, read.value(key))


def _grace(read: SettingsReader, key: str) -> GraceTime:
    # APScheduler 3.x only takes a positive int (or None for "however late").
    value = read.value(key)
    if value is None or value == "unlimited":
        return None
    return read.as_integer(key, value, minimum=1, expected='a whole number of seconds >= 1, or "unlimited"')


def _zone(read: SettingsReader, key: str) -> tzinfo:
    value = read.value(key)
    expected = 'an IANA time zone name such as "UTC" or "Europe/Paris"'
    if not isinstance(value, str | tzinfo):
        raise read.error(key, value, expected)
    try:
        return parse_timezone(value)
    except ValueError:
        raise read.error(key, value, expected) from None


def _redis(read: SettingsReader, key: str) -> RedisSettings | None:
    value = read.value(key)
    if value is None or value == "":
        return None
    return RedisSettings.from_config(value, f"{_PREFIX}.{key}")


def _optional_bool(read: SettingsReader, key: str) -> bool | None:
    return None if read.value(key) is None else _bool(read, key)


def _redis_url(read: SettingsReader, key: str) -> str | None:
    value = read.value(key)  # ${VAR} expanded: an unset variable is a ConfigError, never ""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise read.error(key, value, "a redis:// or rediss:// URL")
    if not value.startswith(("redis://", "rediss://", "unix://", "redis+", "rediss+")):
        raise read.error(key, value, "a redis://, rediss://, unix://, redis+sentinel:// or redis+cluster:// URL")
    return str(value)


def _prefix(read: SettingsReader, key: str) -> str:
    return read.as_text(key, read.value(key))


def _lock_file(read: SettingsReader, key: str) -> str | None:
    # The file itself is opened at startup; one that cannot be is a ConfigError then.
    value = read.value(key)
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if value is None or value == "":
        return None
    path = read.as_text(key, value, expected="the path of a lock file")
    return os.path.expanduser(path)


def _jobs(read: SettingsReader, key: str) -> tuple[JobConfig, ...]:
    value = read.section[key]
    if isinstance(value, tuple) and all(isinstance(j, JobConfig) for j in value):
        return value
    if not isinstance(value, Mapping):
        raise read.error(key, value, "a table of job tables ([plugins.scheduling.jobs.<id>])")
    jobs = read.table(key)
    return tuple(_job(jobs, str(job_id)) for job_id in jobs)


_JOB_KEYS = frozenset({"func", "cron", "every", "at", "args", "kwargs", "coalesce",
                       "max_instances", "misfire_grace_time", "timezone", "start_date", "end_date"})
_TRIGGER_KEYS = ("cron", "every", "at")
_TRIGGER_EXPECTED = {
    "cron": 'a crontab string ("*/5 * * * *") or a table of cron fields',
    "every": "seconds, or a table of seconds/minutes/hours/days/weeks",
    "at": "an ISO 8601 date-time",
}


def _job(jobs: SettingsReader, job_id: str) -> JobConfig:
    """Validate one job table: ``func`` plus exactly one of ``cron``, ``every`` or ``at``."""
    spec = jobs.section[job_id]
    if not isinstance(spec, Mapping):
        raise jobs.error(job_id, spec, "a table with func and one of cron, every or at")
    job = jobs.table(job_id, keys=_JOB_KEYS)
    func_expected = 'a dotted path such as "myapp.tasks:cleanup"'
    if "func" not in job:
        raise job.error("func", None, func_expected)
    func = job.as_text("func", job.value("func"), pattern=_FUNC, expected=func_expected)
    given = [t for t in _TRIGGER_KEYS if t in job]
    if len(given) != 1:
        raise jobs.error(job_id, {k: spec[k] for k in given} or None, "exactly one trigger: cron, every or at")
    # A lone string here would become one argument per character; say so instead.
    args = job.items("args", [], expected='a list, e.g. args = ["one string"]')
    kwargs = job.value("kwargs", {})
    if not isinstance(kwargs, Mapping) or not all(isinstance(k, str) for k in kwargs):
        raise job.error("kwargs", kwargs, "a table of keyword arguments")
    return JobConfig(
        id=job_id,
        func=func,
        trigger=_job_trigger(job, given[0]),
        args=tuple(args),
        kwargs=dict(kwargs),
        coalesce=_bool(job, "coalesce") if "coalesce" in job else DEFAULT,
        max_instances=_int(1)(job, "max_instances") if "max_instances" in job else DEFAULT,
        misfire_grace_time=_grace(job, "misfire_grace_time") if "misfire_grace_time" in job else DEFAULT,
    )


def _job_trigger(job: SettingsReader, kind: str) -> Trigger:
    value = job.value(kind)
    extras = {k: job.value(k) for k in ("timezone", "start_date", "end_date") if k in job}
    try:
        if kind == "cron":
            if isinstance(value, str):
                return Cron(value, **extras)
            if isinstance(value, Mapping):
                return Cron.from_fields({**value, **extras})
            raise TypeError("not a crontab string or a table of cron fields")
        if kind == "every":
            return _every(job, value, extras)
        if set(extras) - {"timezone"}:
            raise ValueError("a one-off job takes no start_date or end_date")
        if not isinstance(value, str | datetime):
            raise TypeError("not a date")
        return At(value, **extras)
    except (ValueError, TypeError) as exc:
        raise job.error(kind, value, f"{_TRIGGER_EXPECTED[kind]} ({exc})") from None


def _every(job: SettingsReader, value: Any, extras: Mapping[str, Any]) -> Every:
    # Numbers from ${VAR} arrive as text: every = "${TICK:-10}", every = {minutes = "${M}"}.
    expected = _TRIGGER_EXPECTED["every"]
    if isinstance(value, EnvText):
        value = job.as_number("every", value, expected=expected)
    if isinstance(value, Mapping):
        units = {unit: job.as_number(f"every.{unit}", amount, expected=expected)
                 if isinstance(amount, EnvText) else amount for unit, amount in value.items()}
        return Every.from_spec({**units, **extras})
    if isinstance(value, int | float) and not isinstance(value, bool):
        return Every.from_spec({"seconds": value, **extras})
    return Every.from_spec(value)


_OPTION_PARSERS: dict[str, _Parser] = {
    "max_workers": _int(1),
    "max_coroutines": _int(1),
    "max_queued": _int(0),
    "shutdown_timeout": _seconds(False),
    "timezone": _zone,
    "coalesce": _bool,
    "max_instances": _int(1),
    "misfire_grace_time": _grace,
    "redis": _redis,
    "redis_url": _redis_url,
    "replica_ack": _optional_bool,
    "replica_ack_timeout": _seconds(True),
    "lease_ttl": _seconds(True),
    "heartbeat": _optional_seconds,
    "key_prefix": _prefix,
    "lock_file": _lock_file,
    "jobs": _jobs,
}
