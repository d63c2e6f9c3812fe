"""The ``[plugins.scheduling]`` options: defaults, validation and the jobs declared in config.

Every option can come from the config section or from ``DefaultOrchestrator(...)`` keyword
arguments; the arguments win. A bad value stops startup with a ``ConfigError`` that names the
key, the value and what was expected.
"""

from __future__ import annotations

import enum
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, tzinfo
from typing import Any, Final, Literal, TypeAlias

from .triggers import At, Cron, Every, Trigger, parse_timezone

SECTION = "scheduling"
_PREFIX = f"plugins.{SECTION}"
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class _Default(enum.Enum):
    DEFAULT = "default"


#: "Use the orchestrator's setting" for per-job options (``None`` already means "no limit").
DEFAULT: Final = _Default.DEFAULT
GraceTime: TypeAlias = int | None
OrDefault: TypeAlias = Literal[_Default.DEFAULT]


def config_error(key: str, value: Any, expected: str) -> Exception:
    """The core's ``ConfigError``, imported late: ``areion_core`` re-exports our
    ``DefaultOrchestrator`` and imports this package while it initialises, so importing it
    back at module level would hand ``areion_core`` a half-initialised package."""
    from areion_core.exceptions import ConfigError

    return ConfigError(key, value, expected)


def expand_env(key: str, value: str) -> str:
    """Replace ``${VAR}`` with the environment variable (the core does it too; this covers
    values passed to the constructor). An unset variable is a config error, never ``""``."""

    def one(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in os.environ:
            raise config_error(key, value, f"environment variable {name} to be set")
        return os.environ[name]

    return _VAR.sub(one, value)


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
    redis_url: str | None = None
    lease_ttl: float = 10.0
    heartbeat: float | None = None
    key_prefix: str = "areion:scheduling:"
    jobs: tuple[JobConfig, ...] = ()

    @property
    def heartbeat_interval(self) -> float:
        """How often the lease is renewed (or, by a follower, tried): a third of the TTL by default."""
        return self.heartbeat if self.heartbeat is not None else self.lease_ttl / 3

    @classmethod
    def from_mapping(
        cls, section: Mapping[str, Any], overrides: Mapping[str, Any] | None = None
    ) -> SchedulingSettings:
        """Validate a config section, then apply constructor ``overrides`` (validated too)."""
        known = {f for f in cls.__dataclass_fields__}
        unknown = sorted(set(section) - known)
        if unknown:
            raise config_error(f"{_PREFIX}.{unknown[0]}", section[unknown[0]],
                              f"one of the keys {', '.join(sorted(known))}")
        values: dict[str, Any] = {}
        for source, prefix in ((section, _PREFIX), (overrides or {}, "DefaultOrchestrator")):
            for key, value in source.items():
                values[key] = _OPTION_PARSERS[key](f"{prefix}.{key}", value)
        settings = replace(cls(), **values)
        if settings.heartbeat is not None and settings.heartbeat >= settings.lease_ttl:
            raise config_error(f"{_PREFIX}.heartbeat", settings.heartbeat,
                              f"less than lease_ttl ({settings.lease_ttl})")
        return settings


# --- validators: (key, value) -> parsed value, or ConfigError ------------------------------


def _int(minimum: int) -> Any:
    def parse(key: str, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise config_error(key, value, f"an integer >= {minimum}")
        return value

    return parse


def _seconds(positive: bool) -> Any:
    def parse(key: str, value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0 or (
            positive and value == 0
        ):
            raise config_error(key, value, "a positive number of seconds" if positive
                              else "a number of seconds >= 0")
        return float(value)

    return parse


def _optional_seconds(key: str, value: Any) -> float | None:
    return None if value is None else _seconds(True)(key, value)


def _bool(key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise config_error(key, value, "true or false")
    return value


def _grace(key: str, value: Any) -> GraceTime:
    # APScheduler 3.x only takes a positive int (or None for "however late").
    if value is None or value == "unlimited":
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise config_error(key, value, 'a whole number of seconds >= 1, or "unlimited"')
    return value


def _zone(key: str, value: Any) -> tzinfo:
    if not isinstance(value, str | tzinfo):
        raise config_error(key, value, 'an IANA time zone name such as "UTC" or "Europe/Paris"')
    try:
        return parse_timezone(value)
    except ValueError:
        raise config_error(key, value, 'an IANA time zone name such as "UTC" or "Europe/Paris"') from None


def _redis_url(key: str, value: Any) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise config_error(key, value, "a redis:// or rediss:// URL")
    url = expand_env(key, value)
    if not url.startswith(("redis://", "rediss://", "unix://")):
        raise config_error(key, value, "a redis://, rediss:// or unix:// URL")
    return url


def _prefix(key: str, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise config_error(key, value, "a non-empty string")
    return value


def _jobs(key: str, value: Any) -> tuple[JobConfig, ...]:
    if isinstance(value, tuple) and all(isinstance(j, JobConfig) for j in value):
        return value
    if not isinstance(value, Mapping):
        raise config_error(key, value, "a table of job tables ([plugins.scheduling.jobs.<id>])")
    return tuple(parse_job(f"{key}.{job_id}", job_id, spec) for job_id, spec in value.items())


_JOB_KEYS = frozenset({"func", "cron", "every", "at", "args", "kwargs", "coalesce",
                       "max_instances", "misfire_grace_time", "timezone", "start_date", "end_date"})
_TRIGGER_KEYS = ("cron", "every", "at")


def parse_job(key: str, job_id: str, spec: Any) -> JobConfig:
    """Validate one job table: ``func`` plus exactly one of ``cron``, ``every`` or ``at``."""
    if not isinstance(spec, Mapping):
        raise config_error(key, spec, "a table with func and one of cron, every or at")
    unknown = sorted(set(spec) - _JOB_KEYS)
    if unknown:
        raise config_error(f"{key}.{unknown[0]}", spec[unknown[0]],
                          f"one of the keys {', '.join(sorted(_JOB_KEYS))}")
    func = spec.get("func")
    if not isinstance(func, str) or not re.fullmatch(r"[\w.]+[:.]\w+(\.\w+)*", func):
        raise config_error(f"{key}.func", func, 'a dotted path such as "myapp.tasks:cleanup"')
    given = [t for t in _TRIGGER_KEYS if t in spec]
    if len(given) != 1:
        raise config_error(key, {k: spec[k] for k in given} or None,
                          "exactly one trigger: cron, every or at")
    args = spec.get("args", [])
    if not isinstance(args, list | tuple):
        # A lone string here would become one argument per character; say so instead.
        raise config_error(f"{key}.args", args, 'a list, e.g. args = ["one string"]')
    kwargs = spec.get("kwargs", {})
    if not isinstance(kwargs, Mapping) or not all(isinstance(k, str) for k in kwargs):
        raise config_error(f"{key}.kwargs", kwargs, "a table of keyword arguments")
    return JobConfig(
        id=job_id,
        func=func,
        trigger=_job_trigger(key, given[0], spec),
        args=tuple(args),
        kwargs=dict(kwargs),
        coalesce=_bool(f"{key}.coalesce", spec["coalesce"]) if "coalesce" in spec else DEFAULT,
        max_instances=(_int(1)(f"{key}.max_instances", spec["max_instances"])
                       if "max_instances" in spec else DEFAULT),
        misfire_grace_time=(_grace(f"{key}.misfire_grace_time", spec["misfire_grace_time"])
                            if "misfire_grace_time" in spec else DEFAULT),
    )


def _job_trigger(key: str, kind: str, spec: Mapping[str, Any]) -> Trigger:
    value = spec[kind]
    extras = {k: spec[k] for k in ("timezone", "start_date", "end_date") if k in spec}
    try:
        if kind == "cron":
            if isinstance(value, str):
                return Cron(value, **extras)
            if isinstance(value, Mapping):
                return Cron.from_fields({**value, **extras})
            raise TypeError("not a crontab string or a table of cron fields")
        if kind == "every":
            if isinstance(value, Mapping):
                return Every.from_spec({**value, **extras})
            return Every.from_spec({"seconds": value, **extras}) if isinstance(
                value, int | float) and not isinstance(value, bool) else Every.from_spec(value)
        if set(extras) - {"timezone"}:
            raise ValueError("a one-off job takes no start_date or end_date")
        if not isinstance(value, str | datetime):
            raise TypeError("not a date")
        return At(value, **extras)
    except (ValueError, TypeError) as exc:
        expected = {
            "cron": 'a crontab string ("*/5 * * * *") or a table of cron fields',
            "every": "seconds, or a table of seconds/minutes/hours/days/weeks",
            "at": "an ISO 8601 date-time",
        }[kind]
        raise config_error(f"{key}.{kind}", value, f"{expected} ({exc})") from None


_OPTION_PARSERS: dict[str, Any] = {
    "max_workers": _int(1),
    "max_coroutines": _int(1),
    "max_queued": _int(0),
    "shutdown_timeout": _seconds(False),
    "timezone": _zone,
    "coalesce": _bool,
    "max_instances": _int(1),
    "misfire_grace_time": _grace,
    "redis_url": _redis_url,
    "lease_ttl": _seconds(True),
    "heartbeat": _optional_seconds,
    "key_prefix": _prefix,
    "jobs": _jobs,
}
