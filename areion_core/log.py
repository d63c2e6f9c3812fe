"""Areion's logging: ``DefaultLogger`` (Areion 1.x's API), the JSON format, and when Areion
attaches a handler of its own.

Areion logs through the standard ``logging`` module under the ``areion`` logger
(``areion.server``, ``areion.plugins``, ...; ``app.logger`` and ``request.log()`` are
``areion`` too). It attaches its own stderr handler to ``areion`` only when the application
has configured no logging: when neither the root logger nor ``areion`` has a handler that
Areion did not put there. ``setup_logging`` applies that rule when the app is built and again
when it starts, so logging configured after importing (or building) the app still counts: a
handler Areion attached at build time is taken off at startup. When the application has
configured logging, Areion's records propagate to its handlers and each line appears once.

The access log is not written through ``logging`` (see ``access_log.py``).
"""

from __future__ import annotations

import logging
import os
import sys
import time
from contextvars import ContextVar
from typing import Any

import orjson

_FORMAT = "%(asctime)s %(levelname)s [%(name)s] %(message)s"
#: The values of the ``log_format`` config key.
LOG_FORMATS = ("text", "json")
#: The id of the request being handled, for records that carry none of their own
#: (``extra={"request_id": ...}``): set it in a middleware or a plugin's request hook.
request_id_var: ContextVar[str | None] = ContextVar("areion_request_id", default=None)

# What the tag on a handler Areion made says it is (handlers without the tag are the application's).
_CONSOLE, _FILE = "console", "file"
_STDLIB_LAST_RESORT = logging.lastResort
#: The level setup_logging() last gave the ``areion`` logger (a level set since by someone
#: else is theirs and stays).
_level_set: int | None = None


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is now (test runners swap it), not what it was at setup."""

    @property
    def stream(self) -> object:
        return sys.stderr

    @stream.setter
    def stream(self, value: object) -> None:
        pass


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ``time`` (ISO 8601, UTC, to the millisecond), ``level``,
    ``logger``, ``message``, and ``request_id``, ``exception`` and ``stack`` when known.

    The request id is the record's own (``extra={"request_id": ...}``), else
    ``request_id_var``'s. Usable in a ``dictConfig`` file: ``"()": "areion_core.log.JsonFormatter"``.
    """

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None) or request_id_var.get()
        if request_id is not None:
            out["request_id"] = request_id
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            out["exception"] = record.exc_text
        if record.stack_info:
            out["stack"] = self.formatStack(record.stack_info)
        return orjson.dumps(out, default=str).decode()


def make_formatter(format: str, fmt: str = _FORMAT) -> logging.Formatter:
    """The formatter of Areion's handlers for a ``log_format`` ("text" or "json")."""
    if format not in LOG_FORMATS:
        raise ValueError(f"log format must be one of {', '.join(LOG_FORMATS)}, not {format!r}")
    return JsonFormatter() if format == "json" else logging.Formatter(fmt)


def _tag(handler: logging.Handler) -> str | None:
    tag = getattr(handler, "_areion", None)
    return tag if isinstance(tag, str) else None


def _owned(handler: logging.Handler, kind: str, formatter: logging.Formatter) -> logging.Handler:
    """``handler`` with ``formatter``, tagged as Areion's (``kind``: console or file)."""
    handler.setFormatter(formatter)
    handler._areion = kind  # type: ignore[attr-defined]
    return handler


def application_configured_logging() -> bool:
    """Whether the root logger or the ``areion`` logger has a handler Areion did not attach."""
    return bool(logging.getLogger().handlers) or any(
        _tag(h) is None for h in logging.getLogger("areion").handlers)


def setup_logging(*, level: str | int = "INFO", format: str = "text", log_file: str | None = None,
                  own: bool = True) -> None:
    """Apply the rule of this module's docstring to the ``areion`` logger; safe to call again.

    ``own``: the app was given no logger of its own choosing (``with_logger``), so Areion
    picks the level (``level``, unless someone else set one since) and its handlers: a stderr
    handler when the application configured no logging, a file handler for ``log_file``,
    both in ``format``, and Python's last-resort handler (which prints the warnings of
    loggers nobody configured) in the same format. Without ``own`` (a ``DefaultLogger`` the
    app made) Areion only takes its stderr handler off when the application configured
    logging, and switches its handlers to JSON for ``format = "json"``.
    """
    logger = logging.getLogger("areion")
    configured = application_configured_logging()
    formatter = make_formatter(format)
    if not own:
        for handler in list(logger.handlers):
            if _tag(handler) == _CONSOLE and configured:
                logger.removeHandler(handler)
            elif _tag(handler) is not None and format == "json":
                handler.setFormatter(formatter)
        return
    if logger.level in (logging.NOTSET, _level_set):
        logger.setLevel(level if isinstance(level, int) else level.upper())
        _remember_level(logger.level)
    wanted = {_CONSOLE: not configured, _FILE: bool(log_file)}
    for handler in list(logger.handlers):
        kind = _tag(handler)
        if kind is None:
            continue
        if wanted.get(kind) and (kind == _CONSOLE or getattr(handler, "baseFilename", None) == _path(log_file)):
            wanted[kind] = False  # already there: keep it, in this format
            handler.setFormatter(formatter)
        else:
            logger.removeHandler(handler)
            handler.close()
    if wanted[_CONSOLE]:
        logger.addHandler(_owned(_StderrHandler(), _CONSOLE, formatter))
    if wanted[_FILE]:
        logger.addHandler(_owned(logging.FileHandler(str(log_file), encoding="utf-8"), _FILE, formatter))
    logger.propagate = True  # pytest's caplog and the application's root handlers see every record
    _set_last_resort(None if configured else formatter)


def _remember_level(level: int) -> None:
    global _level_set
    _level_set = level


def _path(log_file: str | None) -> str | None:
    return os.path.abspath(log_file) if log_file else None


def _set_last_resort(formatter: logging.Formatter | None) -> None:
    """Python's last-resort handler in Areion's format (None: the standard one back, if Areion replaced it)."""
    current = logging.lastResort
    ours = current is not None and _tag(current) == _CONSOLE
    if formatter is None:
        if ours:
            logging.lastResort = _STDLIB_LAST_RESORT
    elif ours or current is _STDLIB_LAST_RESORT:
        handler = _owned(_StderrHandler(), _CONSOLE, formatter)
        handler.setLevel(logging.WARNING)  # the standard last resort's level
        logging.lastResort = handler


class DefaultLogger:
    """Logs to the console and, optionally, a file.

    ``DefaultLogger(log_file="server.log", log_level="INFO")`` configures the ``areion`` logger
    (or ``name``). Its console handler is Areion's own: when the app starts and the
    application has configured logging (handlers on the root logger), it is taken off and the
    records go to the application's handlers instead. ``log_format = "json"`` switches its
    handlers to JSON.
    """

    def __init__(
        self,
        log_file: str | None = None,
        log_level: str | int = "INFO",
        console: bool = True,
        fmt: str = _FORMAT,
        name: str = "areion",
    ) -> None:
        self.logger = logging.getLogger(name)
        level = log_level if isinstance(log_level, int) else logging.getLevelName(str(log_level).upper())
        if not isinstance(level, int):
            raise ValueError(f"unknown log level {log_level!r}")
        self.logger.setLevel(level)
        if name == "areion":
            _remember_level(level)  # Areion's choice: a later app's log_level may replace it
        formatter = logging.Formatter(fmt)
        # Replace our own handlers (a second DefaultLogger must not double every line).
        for handler in list(self.logger.handlers):
            if _tag(handler) is not None:
                self.logger.removeHandler(handler)
                handler.close()
        if console:
            self.logger.addHandler(_owned(_StderrHandler(), _CONSOLE, formatter))
        if log_file:
            self.logger.addHandler(_owned(logging.FileHandler(log_file, encoding="utf-8"), _FILE, formatter))
        self.logger.propagate = True  # pytest caplog and user handlers on the root still see records

    def debug(self, message: str, *args: Any) -> None:
        self.logger.debug(message, *args)

    def info(self, message: str, *args: Any) -> None:
        self.logger.info(message, *args)

    def warning(self, message: str, *args: Any) -> None:
        self.logger.warning(message, *args)

    def error(self, message: str, *args: Any) -> None:
        self.logger.error(message, *args)

    def critical(self, message: str, *args: Any) -> None:
        self.logger.critical(message, *args)

    def exception(self, message: str, *args: Any) -> None:
        self.logger.exception(message, *args)

    def log(self, level: int, message: str, *args: Any) -> None:
        self.logger.log(level, message, *args)
