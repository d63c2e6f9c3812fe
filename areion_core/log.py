"""``DefaultLogger``: Areion 1.x's logger, a thin layer over the standard ``logging`` module."""

from __future__ import annotations

import logging
import sys
from typing import Any

_FORMAT = "%(asctime)s %(levelname)s [%(name)s] %(message)s"


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is now (test runners swap it), not what it was at setup."""

    @property
    def stream(self) -> object:
        return sys.stderr

    @stream.setter
    def stream(self, value: object) -> None:
        pass


class DefaultLogger:
    """Logs to the console and, optionally, a file.

    ``DefaultLogger(log_file="server.log", log_level="INFO")``. Configures the ``areion``
    logger hierarchy (``areion.access`` is the access log; switch it off with
    ``access_log = false``).
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
        formatter = logging.Formatter(fmt)
        # Replace our own handlers (a second DefaultLogger must not double every line).
        for handler in list(self.logger.handlers):
            if getattr(handler, "_areion", False):
                self.logger.removeHandler(handler)
                handler.close()
        handlers: list[logging.Handler] = []
        if console:
            handlers.append(_StderrHandler())
        if log_file:
            handlers.append(logging.FileHandler(log_file, encoding="utf-8"))
        for handler in handlers:
            handler.setFormatter(formatter)
            handler._areion = True  # type: ignore[attr-defined]
            self.logger.addHandler(handler)
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
