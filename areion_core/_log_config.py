"""``--log-config FILE`` and ``log_config``: a ``logging.config.dictConfig`` file in TOML, JSON or YAML.

The file holds the dictionary ``dictConfig`` takes (``version = 1``, ``formatters``,
``handlers``, ``loggers``, ``root``), chosen by its extension. Unless the file says otherwise,
``disable_existing_loggers`` is false: Areion's loggers (``areion.server``, ...) exist before
the file is read, and Python's default (true) would silence every one of them.
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .exceptions import ConfigError

#: The extensions a log configuration file may have.
SUFFIXES = (".toml", ".json", ".yaml", ".yml")
_applied: set[str] = set()


class LogConfigError(ConfigError):
    """A log configuration file that cannot be read or applied: names the file and what is wrong."""

    def __init__(self, path: str | os.PathLike[str], problem: str) -> None:
        super().__init__("log_config", os.fspath(path), problem)
        self.args = (f"log config {os.fspath(path)}: {problem}",)


def load_log_config(path: str | os.PathLike[str]) -> None:
    """Read ``path`` (.toml, .json, .yaml or .yml) and apply it with ``logging.config.dictConfig``.

    Raises ``LogConfigError`` (a ``ConfigError``) naming the file and what is wrong: a missing
    file, an unknown extension, a parse error, PyYAML not installed, or what ``dictConfig``
    refused.
    """
    file = Path(path)
    config = _read(file)
    if not isinstance(config, dict):
        raise LogConfigError(file, f"expected a table of logging settings at the top, got {type(config).__name__}")
    config.setdefault("disable_existing_loggers", False)
    import logging.config  # here, not at import: 1.2 MB (socketserver, …) few servers use
    try:
        logging.config.dictConfig(config)
    except (ValueError, TypeError, AttributeError, ImportError) as exc:
        cause = f" ({exc.__cause__})" if exc.__cause__ is not None else ""
        raise LogConfigError(file, f"logging.config.dictConfig refused it: {exc}{cause}") from None


def load_log_config_once(path: str | os.PathLike[str]) -> None:
    """``load_log_config`` unless this process (or the one it was forked from) already applied ``path``."""
    key = os.path.abspath(path)
    if key not in _applied:
        load_log_config(path)
        _applied.add(key)


def _read(file: Path) -> Any:
    suffix = file.suffix.lower()
    if suffix not in SUFFIXES:
        raise LogConfigError(file, f"expected a {', '.join(SUFFIXES[:-1])} or {SUFFIXES[-1]} file, "
                                   f"not {suffix or 'a name without an extension'}")
    parse: Callable[[bytes], Any] = json.loads
    if suffix == ".toml":
        parse = _toml_loads
    elif suffix in (".yaml", ".yml"):
        parse = _yaml_parser(file)
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise LogConfigError(file, f"cannot be read ({exc.strerror or exc})") from None
    try:
        return parse(data)
    except ValueError as exc:  # TOMLDecodeError, JSONDecodeError, UnicodeDecodeError, YAMLError (below)
        raise LogConfigError(file, f"is not valid {suffix[1:].upper()} ({' '.join(str(exc).split())})") from None


def _toml_loads(data: bytes) -> Any:
    return tomllib.loads(data.decode("utf-8"))


def _yaml_parser(file: Path) -> Callable[[bytes], Any]:
    try:
        import yaml  # type: ignore[import-untyped,unused-ignore]
    except ImportError:
        raise LogConfigError(file, "reading YAML needs PyYAML, which is not installed: pip install pyyaml") from None

    def parse(data: bytes) -> Any:
        try:
            return yaml.safe_load(data)
        except yaml.YAMLError as exc:
            raise ValueError(str(exc)) from None

    return parse
