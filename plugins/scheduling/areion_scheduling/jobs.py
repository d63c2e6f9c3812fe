"""Scheduled job declarations: what a job is, its id, and how config names a function."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from areion_core import ConfigError

from .settings import DEFAULT, GraceTime, OrDefault
from .tasks import task_name
from .triggers import At, Cron, Every, Trigger


@dataclass(frozen=True)
class JobInfo:
    """A scheduled job as ``list_jobs()`` and ``areion jobs`` show it."""

    id: str
    func: str
    trigger: str
    next_run_time: datetime | None
    source: str  # "code" or "config"


@dataclass
class JobSpec:
    """One job as declared, before (or besides) APScheduler's copy of it."""

    id: str
    func: Callable[..., Any]
    trigger: Trigger
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    coalesce: bool | OrDefault = DEFAULT
    max_instances: int | OrDefault = DEFAULT
    misfire_grace_time: GraceTime | OrDefault = DEFAULT
    source: str = "code"


def default_job_id(func: Callable[..., Any]) -> str:
    """``module.qualname``: stable across restarts and deploys, so a redeploy replaces the job."""
    return task_name(func)


def coerce_trigger(trigger: Any) -> Trigger:
    """Accept a ``Cron``/``Every``/``At``, a crontab string, a mapping of cron fields, a number
    of seconds or a ``timedelta`` (interval), or a ``datetime`` (one-off)."""
    if isinstance(trigger, Cron | Every | At):
        return trigger
    if isinstance(trigger, str | Mapping):
        return Cron.from_fields(trigger)
    if isinstance(trigger, timedelta) or (
        isinstance(trigger, int | float) and not isinstance(trigger, bool)
    ):
        return Every.from_spec(trigger)
    if isinstance(trigger, datetime):
        return At(trigger)
    raise TypeError(
        f"not a schedule: {trigger!r} (expected Cron, Every, At, a crontab string, a mapping of "
        "cron fields, seconds, a timedelta or a datetime)"
    )


def check_args(args: Any) -> tuple[Any, ...]:
    """Job arguments as a tuple; a bare string is refused rather than split into characters."""
    if isinstance(args, str | bytes) or not isinstance(args, tuple | list):
        raise TypeError(
            f"args must be a tuple or list, got {args!r}; for one string write ({args!r},)"
        )
    return tuple(args)


def resolve_callable(key: str, path: str) -> Callable[..., Any]:
    """Import ``"package.module:function"`` (or ``"package.module.function"``)."""
    module_name, sep, attr_path = path.partition(":")
    if not sep:
        module_name, _, attr_path = path.rpartition(".")
    try:
        target: Any = importlib.import_module(module_name)
        for part in attr_path.split("."):
            target = getattr(target, part)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(key, path, f"an importable function ({exc})") from None
    if not callable(target):
        raise ConfigError(key, path, f"a callable, found {type(target).__name__}")
    return target  # type: ignore[no-any-return]
