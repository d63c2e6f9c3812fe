"""Reading configuration values: ``${VAR}`` expansion and typed coercion, for the core and plugins.

``expand_env`` is the one expander: ``${VAR}`` is the environment variable ``VAR`` (unset is a
``ConfigError`` naming the key), ``${VAR:-default}`` is ``default`` when ``VAR`` is unset or
empty, as in a POSIX shell. What it produces is ``EnvText``: a ``str`` that remembers the value
as written, so a reader can tell text that came from the environment, which is read as the
type the key expects (``"10"`` as 10, ``"true"`` as True, ``"a,b"`` as a list), from a literal
string in the file.

``SettingsReader`` reads one section (``[plugins.<name>]``, or a table inside one) with that
expansion and coercion; every error is a ``ConfigError`` whose key is ``<prefix>.<key>``.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
from collections.abc import Callable, Collection, Iterator, Mapping
from typing import Any, TypeVar

from .exceptions import ConfigError

__all__ = ["EnvText", "SettingsReader", "expand_env"]

_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_INTEGER = re.compile(r"[+-]?\d+")
_TRUE, _FALSE = "true", "false"

T = TypeVar("T")


class EnvText(str):
    """Text that ``${VAR}`` expansion produced; ``template`` is the value as written.

    Typed readers parse it as the type the key expects; a literal string where a number, a
    boolean or a list is expected is refused unless a reader is told to accept one.
    """

    template: str

    def __new__(cls, text: str, template: str) -> EnvText:
        made = super().__new__(cls, text)
        made.template = template
        return made

    def __reduce__(self) -> tuple[Any, ...]:
        return (EnvText, (str(self), self.template))


def expand_env(value: Any, key: str = "") -> Any:
    """``value`` with ``${VAR}`` / ``${VAR:-default}`` replaced from the environment.

    Strings are expanded (the result is an ``EnvText`` when it held a reference), tables and
    lists recursively; anything else is returned as it is. ``key`` names the value in the
    ``ConfigError`` raised for a variable that is unset and has no default. Expanding twice
    is safe: ``EnvText`` is not expanded again.
    """
    if isinstance(value, str):
        if isinstance(value, EnvText) or "${" not in value:
            return value

        def replace(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            got = os.environ.get(name)
            if default is not None and not got:
                return default
            if got is None:
                raise ConfigError(key or name, value, f"environment variable {name} to be set")
            return got

        text, count = _REFERENCE.subn(replace, value)
        return EnvText(text, value) if count else value
    if isinstance(value, Mapping):
        return {k: expand_env(v, f"{key}.{k}" if key else str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [expand_env(v, f"{key}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, tuple):
        return tuple(expand_env(v, f"{key}[{i}]") for i, v in enumerate(value))
    return value


def _from(value: Any) -> str:
    """`` (from ${VAR})`` for text the environment gave, so an error shows where it came from."""
    return f" (from {value.template})" if isinstance(value, EnvText) else ""


def _range(minimum: float | None, maximum: float | None) -> str:
    if minimum is not None and maximum is not None:
        return f" from {minimum:g} to {maximum:g}"
    if minimum is not None:
        return f" >= {minimum:g}"
    if maximum is not None:
        return f" <= {maximum:g}"
    return ""


class SettingsReader:
    """Reads one configuration section: each value ``${VAR}``-expanded, checked and coerced.

    ``prefix`` names the section in errors (``"plugins.caching"``); ``keys``, when given, are
    the only keys the section may hold (an unknown one is a ``ConfigError`` listing them).
    ``strings=True`` also reads literal strings as numbers and booleans (``"5"``, ``"true"``);
    by default only text from ``${VAR}`` is. Each ``read`` method returns ``default`` when the
    key is absent, and raises ``ConfigError(<prefix>.<key>, value, expected)`` for a bad value.
    """

    __slots__ = ("prefix", "section", "strings")

    def __init__(
        self,
        prefix: str,
        section: Mapping[str, Any] | None,
        *,
        keys: Collection[str] | None = None,
        strings: bool = False,
    ) -> None:
        self.prefix = prefix
        self.section: Mapping[str, Any] = section or {}
        self.strings = strings
        if keys is not None:
            self.check_keys(keys)

    # --- the section ------------------------------------------------------------------------
    def key(self, name: str) -> str:
        """The full key of ``name``: ``<prefix>.<name>``."""
        return f"{self.prefix}.{name}" if self.prefix else name

    def error(self, name: str, value: Any, expected: str, *, source: Any = None) -> ConfigError:
        """A ``ConfigError`` for ``name``, saying which ``${VAR}`` gave ``value`` (or ``source``, when
        ``value`` is what it was converted to)."""
        return ConfigError(self.key(name), value, expected + _from(value if source is None else source))

    def check_keys(self, keys: Collection[str]) -> None:
        """Refuse a key not in ``keys``, naming it and listing the known ones."""
        for name, value in self.section.items():
            if name not in keys:
                raise ConfigError(self.key(str(name)), value, f"one of {', '.join(sorted(keys))}")

    def __contains__(self, name: object) -> bool:
        return name in self.section

    def __iter__(self) -> Iterator[str]:
        return iter(self.section)

    def value(self, name: str, default: Any = None) -> Any:
        """The value of ``name`` with ``${VAR}`` expanded (recursively), or ``default``."""
        if name not in self.section:
            return default
        return expand_env(self.section[name], self.key(name))

    def table(self, name: str, *, keys: Collection[str] | None = None) -> SettingsReader:
        """A reader for the table ``name`` (empty when absent); its keys are ``<prefix>.<name>.*``."""
        value = self.section.get(name, {})
        if not isinstance(value, Mapping):
            raise self.error(name, value, "a table")
        return SettingsReader(self.key(name), value, keys=keys, strings=self.strings)

    # --- typed values -----------------------------------------------------------------------
    def text(
        self, name: str, default: T, *, empty: bool = False, pattern: re.Pattern[str] | None = None,
        expected: str | None = None,
    ) -> str | T:
        """A string (non-empty unless ``empty``; matching ``pattern`` when given)."""
        if name not in self.section:
            return default
        return self.as_text(name, self.value(name), empty=empty, pattern=pattern, expected=expected)

    def integer(
        self, name: str, default: T, *, minimum: int | None = None, maximum: int | None = None,
        expected: str | None = None,
    ) -> int | T:
        """A whole number (never a boolean) within ``minimum``..``maximum``."""
        if name not in self.section:
            return default
        return self.as_integer(name, self.value(name), minimum=minimum, maximum=maximum, expected=expected)

    def number(
        self, name: str, default: T, *, minimum: float | None = None, maximum: float | None = None,
        expected: str | None = None,
    ) -> float | T:
        """A finite number within ``minimum``..``maximum``, as a float."""
        if name not in self.section:
            return default
        return self.as_number(name, self.value(name), minimum=minimum, maximum=maximum, expected=expected)

    def seconds(self, name: str, default: T, *, zero: bool = False, expected: str | None = None) -> float | T:
        """A duration in seconds: a finite number > 0 (>= 0 with ``zero``)."""
        if name not in self.section:
            return default
        return self.as_seconds(name, self.value(name), zero=zero, expected=expected)

    def boolean(self, name: str, default: T, *, expected: str | None = None) -> bool | T:
        """``true`` or ``false``."""
        if name not in self.section:
            return default
        return self.as_boolean(name, self.value(name), expected=expected)

    def choice(self, name: str, default: T, choices: Collection[str], *, expected: str | None = None) -> str | T:
        """One of ``choices``."""
        if name not in self.section:
            return default
        value = self.value(name)
        if not isinstance(value, str) or value not in choices:
            raise self.error(name, value, expected or f"one of {', '.join(choices)}")
        return str(value)

    def items(
        self, name: str, default: T, *, item: Callable[[str, Any], Any] | None = None, single: bool = False,
        expected: str | None = None,
    ) -> list[Any] | T:
        """A list: a TOML array, or one ``${VAR}`` of comma-separated items.

        ``item(name, value)`` converts and checks each item (``reader.as_integer`` and friends
        fit); ``single`` reads a literal string as a list of that one string.
        """
        if name not in self.section:
            return default
        return self.as_items(name, self.value(name), item=item, single=single, expected=expected)

    def strings_list(
        self, name: str, default: T, *, single: bool = False, expected: str | None = None
    ) -> list[str] | T:
        """A list of strings (see ``items``)."""
        if name not in self.section:
            return default
        return self.as_items(name, self.value(name), item=self._as_text_item, single=single,
                             expected=expected or "a list of strings")

    # --- conversions of a value already in hand (items, nested tables) ------------------------
    def _text_ok(self, value: Any) -> bool:
        return isinstance(value, str) and (self.strings or isinstance(value, EnvText))

    def as_text(
        self, name: str, value: Any, *, empty: bool = False, pattern: re.Pattern[str] | None = None,
        expected: str | None = None,
    ) -> str:
        """``value`` checked as a string for ``name`` (see ``text``)."""
        if not isinstance(value, str) or (not empty and not value) or (
            pattern is not None and pattern.fullmatch(value) is None
        ):
            raise self.error(name, value, expected or ("a string" if empty else "a non-empty string"))
        return str(value)

    def _as_text_item(self, name: str, value: Any) -> str:
        # An item of a list of strings (empty items are refused).
        return self.as_text(name, value, expected="a list of strings")

    def as_integer(
        self, name: str, value: Any, *, minimum: int | None = None, maximum: int | None = None,
        expected: str | None = None,
    ) -> int:
        """``value`` checked as a whole number for ``name`` (see ``integer``)."""
        original = value
        if self._text_ok(value) and _INTEGER.fullmatch(value.strip()):
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or (
            minimum is not None and value < minimum
        ) or (maximum is not None and value > maximum):
            raise self.error(name, value, expected or "a whole number" + _range(minimum, maximum), source=original)
        return value

    def as_number(
        self, name: str, value: Any, *, minimum: float | None = None, maximum: float | None = None,
        expected: str | None = None,
    ) -> float:
        """``value`` checked as a finite number for ``name`` (see ``number``)."""
        original = value
        if self._text_ok(value):
            with contextlib.suppress(ValueError):
                value = float(value)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or (
            minimum is not None and value < minimum
        ) or (maximum is not None and value > maximum):
            raise self.error(name, original, expected or "a number" + _range(minimum, maximum))
        return float(value)

    def as_seconds(self, name: str, value: Any, *, zero: bool = False, expected: str | None = None) -> float:
        """``value`` checked as a duration for ``name`` (see ``seconds``)."""
        seconds = self.as_number(name, value, minimum=0, expected=expected or _seconds_expected(zero))
        if seconds == 0 and not zero:
            raise self.error(name, value, expected or _seconds_expected(zero))
        return seconds

    def as_boolean(self, name: str, value: Any, *, expected: str | None = None) -> bool:
        """``value`` checked as a boolean for ``name``: ``true``/``false``, any case, as text."""
        if isinstance(value, bool):
            return value
        if self._text_ok(value) and value.strip().lower() in (_TRUE, _FALSE):
            return bool(value.strip().lower() == _TRUE)
        raise self.error(name, value, expected or "true or false")

    def as_items(
        self, name: str, value: Any, *, item: Callable[[str, Any], Any] | None = None, single: bool = False,
        expected: str | None = None,
    ) -> list[Any]:
        """``value`` checked as a list for ``name`` (see ``items``)."""
        if isinstance(value, EnvText):
            parts: list[Any] = [EnvText(part.strip(), value.template) for part in value.split(",") if part.strip()]
        elif isinstance(value, str) and single:
            parts = [value]
        elif isinstance(value, (list, tuple)):
            parts = list(value)
        else:
            raise self.error(name, value, expected or "a list")
        return [item(name, part) for part in parts] if item is not None else parts


def _seconds_expected(zero: bool) -> str:
    return "a number of seconds >= 0" if zero else "a number of seconds > 0"
