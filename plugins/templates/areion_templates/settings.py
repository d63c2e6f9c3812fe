"""The ``[plugins.templates]`` options: defaults, validation and precedence.

Every option can come from the config section or from ``DefaultEngine(...)`` keyword
arguments; the arguments win. Options left at ``None`` follow the app's mode when the engine
starts (``auto_reload``, ``strict_undefined`` and ``error_page`` on in development,
``bytecode_cache`` on in production). A bad value stops startup with a ``ConfigError`` that
names the key, the value and what was expected.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

from areion_core import ConfigError
from areion_core.plugin_api import EnvText, SettingsReader

SECTION = "templates"
_PREFIX = f"plugins.{SECTION}"

#: Suffixes whose templates are autoescaped unless configured otherwise.
DEFAULT_AUTOESCAPE: tuple[str, ...] = ("html", "htm", "xhtml", "xml", "svg", "rss", "atom")
DEFAULT_PACKAGE_DIR = "templates"


@dataclass(frozen=True)
class PackageTemplates:
    """Templates shipped inside an importable package: ``package`` and its ``path`` folder."""

    package: str
    path: str = DEFAULT_PACKAGE_DIR

    @classmethod
    def parse(cls, key: str, value: Any) -> PackageTemplates:
        """``"pkg"`` (folder ``templates``) or ``"pkg:folder"``; a ``(pkg, folder)`` pair also works."""
        if isinstance(value, PackageTemplates):
            return value
        if isinstance(value, (tuple, list)) and len(value) == 2 and all(isinstance(v, str) for v in value):
            package, path = value
        elif isinstance(value, str):
            package, _, path = value.partition(":")
            path = path or DEFAULT_PACKAGE_DIR
        else:
            raise ConfigError(key, value, "'package' or 'package:folder'")
        if not package or not all(part.isidentifier() for part in package.split(".")):
            raise ConfigError(key, value, "an importable package name, e.g. 'myapp' or 'myapp.ui:tpl'")
        return cls(package, path.strip("/") or DEFAULT_PACKAGE_DIR)


@dataclass(frozen=True)
class TemplatesSettings:
    """Resolved options; see the plugin README for what each one does."""

    directories: tuple[str, ...] = ("templates",)
    packages: tuple[PackageTemplates, ...] = ()
    auto_reload: bool | None = None
    strict_undefined: bool | None = None
    error_page: bool | None = None
    bytecode_cache: bool | None = None
    bytecode_cache_dir: str | None = None
    autoescape: bool | tuple[str, ...] = DEFAULT_AUTOESCAPE
    cache_size: int = 400
    stream_chunk_size: int = 16384
    trim_blocks: bool = False
    lstrip_blocks: bool = False
    extensions: tuple[str, ...] = ()

    @classmethod
    def from_section(cls, section: Mapping[str, Any], prefix: str = _PREFIX) -> TemplatesSettings:
        """Validate a ``[plugins.templates]`` table."""
        return cls(**validate_options(section, prefix))

    def override(self, explicit: Mapping[str, Any]) -> TemplatesSettings:
        """These settings with ``explicit`` (already validated) values on top."""
        return replace(self, **explicit) if explicit else self

    def resolved(self, development: bool) -> TemplatesSettings:
        """Replace the mode-dependent ``None`` options by what ``development`` implies."""
        return replace(
            self,
            auto_reload=development if self.auto_reload is None else self.auto_reload,
            strict_undefined=development if self.strict_undefined is None else self.strict_undefined,
            error_page=development if self.error_page is None else self.error_page,
            # A bytecode cache pays off when many processes start from the same templates; in
            # development templates change all the time, so it stays off unless asked for.
            bytecode_cache=not development if self.bytecode_cache is None else self.bytecode_cache,
        )


def validate_options(options: Mapping[str, Any], prefix: str = _PREFIX) -> dict[str, Any]:
    """Check each option's name and value; the validated values by name (``prefix`` names the source)."""
    read = SettingsReader(prefix, options, keys=[f.name for f in fields(TemplatesSettings)])
    return {name: _validate(read, name) for name in read}


def _validate(read: SettingsReader, name: str) -> Any:
    value = read.value(name)
    if name == "directories":
        expected = "a directory path or a list of them"
        items = read.as_items(name, [value] if isinstance(value, os.PathLike) else value, single=True,
                              expected=expected)
        if not all(isinstance(v, (str, os.PathLike)) for v in items):
            raise read.error(name, value, expected)
        return tuple(os.fspath(v) for v in items)
    if name == "packages":
        items = read.as_items(name, value, single=True, expected="a list of 'package' or 'package:folder' strings")
        return tuple(PackageTemplates.parse(read.key(name), v) for v in items)
    if name in ("auto_reload", "strict_undefined", "error_page", "bytecode_cache"):
        return None if value is None else read.as_boolean(name, value)
    if name in ("trim_blocks", "lstrip_blocks"):
        return read.as_boolean(name, value)
    if name == "bytecode_cache_dir":
        if value is None:
            return None
        if not isinstance(value, (str, os.PathLike)) or not os.fspath(value):
            raise read.error(name, value, "a directory path")
        return os.fspath(value)
    if name == "autoescape":
        if isinstance(value, bool) or (isinstance(value, EnvText) and value.lower() in ("true", "false")):
            return read.as_boolean(name, value)
        expected = "true, false or a list of file suffixes such as ['html', 'xml']"
        items = read.as_items(name, value, single=True, expected=expected)
        if not all(isinstance(v, str) and v.strip(".") for v in items):
            raise read.error(name, value, expected)
        return tuple(v.strip(".").lower() for v in items)
    if name in ("cache_size", "stream_chunk_size"):
        # cache_size follows Jinja2: -1 keeps every template, 0 disables the cache.
        low = -1 if name == "cache_size" else 1
        return read.as_integer(name, value, minimum=low, expected=f"an integer >= {low}")
    if name == "extensions":
        expected = "a list of Jinja2 extension import paths"
        items = read.as_items(name, value, single=True, expected=expected)
        if not all(isinstance(v, str) for v in items):
            raise read.error(name, value, expected)
        return tuple(str(v) for v in items)
    raise AssertionError(name)  # pragma: no cover - validate_options checked the name
