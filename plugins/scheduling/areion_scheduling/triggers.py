"""When a job runs: ``Cron``, ``Every`` and ``At``, our own trigger types over APScheduler's.

Users describe schedules with these three frozen dataclasses (or with a crontab string, or a
mapping of cron fields); :meth:`build` turns one into the APScheduler 3.x trigger that the
engine runs. Nothing outside this package needs to import APScheduler.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import KW_ONLY, dataclass, fields
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any, TypeAlias, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.base import BaseTrigger  # type: ignore[import-untyped]
from apscheduler.triggers.cron import CronTrigger  # type: ignore[import-untyped]
from apscheduler.triggers.date import DateTrigger  # type: ignore[import-untyped]
from apscheduler.triggers.interval import IntervalTrigger  # type: ignore[import-untyped]

#: Every cron field APScheduler understands, from the largest unit to the smallest.
CRON_FIELDS = ("year", "month", "day", "week", "day_of_week", "hour", "minute", "second")
#: Keys a cron mapping may hold besides the fields.
CRON_EXTRAS = ("start_date", "end_date", "timezone")

#: Interval jobs are aligned to this instant unless given a ``start_date``, so every process
#: (and every host) computes the same fire times: ``Every(hours=1)`` fires on the hour. The
#: tick guard keys on the fire time, so equal fire times are what make "once per tick" hold.
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

_MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
# crontab numbers days from Sunday (0 and 7); APScheduler 3.x numbers them from Monday.
_CRONTAB_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")

CronValue: TypeAlias = int | str
DateValue: TypeAlias = datetime | str
ZoneValue: TypeAlias = str | tzinfo


def _crontab_day(token: str) -> int:
    token = token.strip().lower()
    if token in _CRONTAB_DAYS:
        return _CRONTAB_DAYS.index(token)
    if not token.isdigit() or int(token) > 7:
        raise ValueError(f"bad day of week {token!r} in crontab (expected 0-7 or sun-sat)")
    return int(token)


def crontab_day_of_week(field: str) -> str:
    """Translate a crontab day-of-week field (0 or 7 = Sunday) into APScheduler's day names.

    APScheduler 3.x reads ``0`` as Monday (its own documented historical mistake), so
    ``CronTrigger.from_crontab("0 9 * * 1-5")`` would run Tuesday to Saturday. We expand the
    field to the set of days it names and hand APScheduler names, which are unambiguous.
    """
    if field == "*":
        return "*"
    days: set[int] = set()
    for item in field.split(","):
        span, _, step_text = item.partition("/")
        step = int(step_text) if step_text else 1
        if step < 1:
            raise ValueError(f"bad step in day-of-week field {field!r}")
        if span == "*":
            low, high = 0, 6
        elif "-" in span:
            first, last = span.split("-", 1)
            low, high = _crontab_day(first), _crontab_day(last)
            if low > high:
                raise ValueError(f"backwards range {span!r} in day-of-week field {field!r}")
        else:
            low = _crontab_day(span)
            high = 6 if step_text else low
        days.update(day % 7 for day in range(low, high + 1, step))
    # Monday first, as APScheduler lists them; the order does not change the schedule.
    return ",".join(_CRONTAB_DAYS[d] for d in sorted(days, key=lambda d: (d - 1) % 7))


def parse_crontab(expression: str) -> dict[str, str]:
    """Split a five-field crontab expression (or an ``@daily``-style macro) into cron fields."""
    text = _MACROS.get(expression.strip().lower(), expression)
    parts = text.split()
    if len(parts) != 5:
        raise ValueError(
            f"crontab expression {expression!r} has {len(parts)} fields, expected 5 "
            "(minute hour day-of-month month day-of-week) or a macro such as @daily"
        )
    minute, hour, day, month, day_of_week = parts
    return {
        "minute": minute,
        "hour": hour,
        "day": day,
        "month": month,
        "day_of_week": crontab_day_of_week(day_of_week),
    }


def parse_timezone(value: ZoneValue) -> tzinfo:
    """An IANA zone name (``"Europe/Paris"``), ``"UTC"``, ``"local"`` or a ``tzinfo``."""
    if isinstance(value, tzinfo):
        return value
    if value.upper() == "UTC":
        return UTC
    if value == "local":
        from tzlocal import get_localzone  # APScheduler's own dependency

        return cast(tzinfo, get_localzone())
    try:
        return ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {value!r}") from exc


def _zone(value: ZoneValue | None, default: tzinfo) -> tzinfo:
    return default if value is None else parse_timezone(value)


@dataclass(frozen=True)
class Cron:
    """Run on a calendar schedule, like cron.

    Give either a crontab ``expression`` (``"*/5 * * * *"``, ``"@daily"``; day of week 0 or 7
    is Sunday, as in crontab) or keyword fields with APScheduler's meaning (``second`` to
    ``year``, ``week``, ``day_of_week`` where ``0`` is Monday and names like ``"mon-fri"`` are
    clearest). Fields you leave out that are smaller than the smallest one you give are their
    minimum (``Cron(hour="*/1")`` fires at minute 0, second 0 of every hour); larger ones are
    ``*``. ``start_date``/``end_date`` bound the schedule; ``timezone`` defaults to the
    orchestrator's.
    """

    expression: str | None = None
    _: KW_ONLY
    year: CronValue | None = None
    month: CronValue | None = None
    day: CronValue | None = None
    week: CronValue | None = None
    day_of_week: CronValue | None = None
    hour: CronValue | None = None
    minute: CronValue | None = None
    second: CronValue | None = None
    start_date: DateValue | None = None
    end_date: DateValue | None = None
    timezone: ZoneValue | None = None

    def __post_init__(self) -> None:
        given = [name for name in CRON_FIELDS if getattr(self, name) is not None]
        if self.expression is not None and any(name != "second" for name in given):
            raise ValueError("give a crontab expression or cron fields, not both (second is allowed)")
        if self.expression is None and not given:
            raise ValueError("Cron needs a crontab expression or at least one cron field")
        self.build(UTC)  # fail at declaration time, not at the first tick

    @classmethod
    def from_fields(cls, spec: str | Mapping[str, Any]) -> Cron:
        """Build from a crontab string or a mapping of cron fields (unknown keys are an error)."""
        if isinstance(spec, str):
            return cls(spec)
        unknown = sorted(set(spec) - set(CRON_FIELDS) - set(CRON_EXTRAS))
        if unknown:
            raise ValueError(
                f"unknown cron field(s) {', '.join(map(repr, unknown))}; "
                f"expected some of {', '.join(CRON_FIELDS + CRON_EXTRAS)}"
            )
        return cls(**dict(spec))

    def fields(self) -> dict[str, CronValue]:
        """The cron fields that were given, crontab expression expanded."""
        out: dict[str, CronValue] = dict(parse_crontab(self.expression)) if self.expression else {}
        for name in CRON_FIELDS:
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        return out

    def build(self, default_timezone: tzinfo) -> BaseTrigger:
        """The APScheduler trigger for this schedule."""
        return CronTrigger(
            **self.fields(),
            start_date=self.start_date,
            end_date=self.end_date,
            timezone=_zone(self.timezone, default_timezone),
        )

    def __str__(self) -> str:
        if self.expression and self.second is None:
            return f"cron[{self.expression}]"
        return "cron[" + ", ".join(f"{k}={v!r}" for k, v in self.fields().items()) + "]"


@dataclass(frozen=True)
class Every:
    """Run at a fixed interval (fractions of a second are fine).

    Fire times are multiples of the interval counted from ``start_date``, which defaults to
    1970-01-01 00:00 UTC: ``Every(minutes=5)`` fires at :00, :05, :10 ... on every process and
    host alike. Give ``start_date`` to anchor the grid elsewhere.
    """

    seconds: float = 0
    minutes: float = 0
    hours: float = 0
    days: float = 0
    weeks: float = 0
    _: KW_ONLY
    start_date: DateValue | None = None
    end_date: DateValue | None = None
    timezone: ZoneValue | None = None

    def __post_init__(self) -> None:
        if self.interval <= timedelta(0):
            raise ValueError(f"interval must be positive, got {self.interval}")
        self.build(UTC)

    @classmethod
    def from_spec(cls, spec: float | timedelta | Mapping[str, Any]) -> Every:
        """Build from seconds, a ``timedelta`` or a mapping of ``seconds``..``weeks`` and dates."""
        if isinstance(spec, timedelta):
            return cls(seconds=spec.total_seconds())
        if isinstance(spec, Mapping):
            allowed = {f.name for f in fields(cls)} - {"_"}
            unknown = sorted(set(spec) - allowed)
            if unknown:
                raise ValueError(
                    f"unknown interval key(s) {', '.join(map(repr, unknown))}; "
                    f"expected some of {', '.join(sorted(allowed))}"
                )
            return cls(**dict(spec))
        if isinstance(spec, bool) or not isinstance(spec, int | float):
            raise TypeError(f"interval must be seconds, a timedelta or a mapping, got {spec!r}")
        return cls(seconds=spec)

    @property
    def interval(self) -> timedelta:
        """The interval as a ``timedelta``."""
        return timedelta(
            seconds=self.seconds,
            minutes=self.minutes,
            hours=self.hours,
            days=self.days,
            weeks=self.weeks,
        )

    def build(self, default_timezone: tzinfo) -> BaseTrigger:
        """The APScheduler trigger for this schedule."""
        return IntervalTrigger(
            seconds=self.interval.total_seconds(),
            start_date=self.start_date if self.start_date is not None else EPOCH,
            end_date=self.end_date,
            timezone=_zone(self.timezone, default_timezone),
        )

    def __str__(self) -> str:
        return f"every[{self.interval.total_seconds():g}s]"


@dataclass(frozen=True)
class At:
    """Run once, at ``run_date`` (a ``datetime`` or ISO 8601 string; naive means ``timezone``)."""

    run_date: DateValue
    _: KW_ONLY
    timezone: ZoneValue | None = None

    def __post_init__(self) -> None:
        self.build(UTC)

    def build(self, default_timezone: tzinfo) -> BaseTrigger:
        """The APScheduler trigger for this schedule."""
        return DateTrigger(run_date=self.run_date, timezone=_zone(self.timezone, default_timezone))

    def __str__(self) -> str:
        return f"at[{self.run_date}]"


Trigger: TypeAlias = Cron | Every | At
