"""The ``[plugins.compression]`` section: defaults, validation and the built codecs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from areion_core.plugin_api import SettingsReader

from .codecs import Codec, registered_codecs
from .content_types import DEFAULT_CONTENT_TYPES, ContentTypeFilter
from .negotiation import DEFAULT_PREFERENCE

SECTION = "plugins.compression"
_INT_RANGES: dict[str, tuple[int, int, int]] = {
    # key: (default, lowest, highest)
    "brotli_quality": (4, 0, 11),
    "gzip_level": (6, 1, 9),
    # Above 19 zstd's "ultra" levels use windows larger than browsers accept (8 MiB).
    "zstd_level": (3, 1, 19),
}
_SIZE_DEFAULTS: dict[str, int] = {"min_size": 500, "thread_min_size": 1024 * 1024}
_KNOWN_KEYS = frozenset(
    {"algorithms", "preference", "content_types", "not_acceptable_406"}
    | set(_INT_RANGES)
    | set(_SIZE_DEFAULTS)
)


@dataclass(frozen=True, slots=True)
class CompressionSettings:
    """Validated configuration of the compression plugin (see the README for each key)."""

    #: Enabled codings in server preference order (ties between equal client weights).
    preference: tuple[str, ...]
    brotli_quality: int
    gzip_level: int
    zstd_level: int
    min_size: int
    thread_min_size: int
    content_types: tuple[str, ...]
    not_acceptable_406: bool
    #: The built codecs by name, for exactly the names in ``preference``.
    codecs: Mapping[str, Codec]

    @classmethod
    def from_section(cls, section: Mapping[str, Any]) -> CompressionSettings:
        """Validate ``section``; raise ``ConfigError(key, value, expected)`` on the first bad key."""
        registry = registered_codecs()
        extra_keys = {key for entry in registry.values() for key in entry.config_keys}
        # strings=True: "5" and "true" are read as 5 and True, as they always were here.
        read = SettingsReader(SECTION, section, strings=True)
        for key in read:
            if key not in _KNOWN_KEYS and key not in extra_keys:
                raise read.error(key, section[key], "one of " + ", ".join(sorted(_KNOWN_KEYS)))

        # A codec registered by another package gets its own keys as given (${VAR} expanded).
        options: dict[str, Any] = {key: read.value(key) for key in read}
        for key, (default, low, high) in _INT_RANGES.items():
            options[key] = read.integer(key, default, minimum=low, maximum=high,
                                        expected=f"an integer from {low} to {high}")
        for key, size in _SIZE_DEFAULTS.items():
            options[key] = read.integer(key, size, minimum=0, expected="an integer >= 0")
        preference = _preference(read, registry)
        patterns = _content_types(read)
        not_acceptable = read.boolean("not_acceptable_406", False)

        codecs = {name: registry[name].factory(options) for name in preference}
        return cls(
            preference=preference,
            brotli_quality=options["brotli_quality"],
            gzip_level=options["gzip_level"],
            zstd_level=options["zstd_level"],
            min_size=options["min_size"],
            thread_min_size=options["thread_min_size"],
            content_types=patterns,
            not_acceptable_406=not_acceptable,
            codecs=codecs,
        )

    @classmethod
    def from_config(cls, section: Mapping[str, Any]) -> CompressionSettings:
        """The former name of ``from_section`` (``bench/`` still calls it)."""
        return cls.from_section(section)

    def content_type_filter(self) -> ContentTypeFilter:
        """A matcher for ``content_types``."""
        return ContentTypeFilter(self.content_types)


def _names(read: SettingsReader, key: str) -> tuple[str, ...]:
    value = read.value(key)
    if isinstance(value, str):  # "gzip, br" or "gzip br", written or from ${VAR}
        value = [part for part in value.replace(",", " ").split()]
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise read.error(key, value, "a list of algorithm names")
    registry = registered_codecs()
    names: list[str] = []
    for raw in value:
        name = raw.strip().lower()
        if name not in registry:
            expected = "one of " + ", ".join(sorted(registry))
            if name == "zstd":  # registered only when the optional zstandard is importable
                expected += " (zstd needs: pip install 'areion-compression[zstd]')"
            raise read.error(key, raw, expected)
        if name in names:
            raise read.error(key, value, "each algorithm at most once")
        names.append(name)
    return tuple(names)


def _preference(read: SettingsReader, registry: Mapping[str, object]) -> tuple[str, ...]:
    """Enabled codings in preference order.

    ``algorithms`` chooses the codings (default: every built-in that is installed) and its
    order is the preference; ``preference`` reorders: the codings it names come first, the
    other enabled ones follow in their ``algorithms`` order.
    """
    if "algorithms" in read:
        enabled = _names(read, "algorithms")
    else:
        enabled = tuple(name for name in DEFAULT_PREFERENCE if name in registry)
    if "preference" not in read:
        return enabled
    ordered = _names(read, "preference")
    for name in ordered:
        if name not in enabled:
            raise read.error("preference", name, "an algorithm that is enabled in algorithms")
    return ordered + tuple(name for name in enabled if name not in ordered)


def _content_types(read: SettingsReader) -> tuple[str, ...]:
    expected = 'a list of media types ("text/*", "application/json", "+json")'
    items = read.items("content_types", list(DEFAULT_CONTENT_TYPES), expected=expected,
                       item=lambda key, value: read.as_text(key, value, empty=True, expected=expected))
    patterns: list[str] = []
    for raw in items:
        pattern = raw.strip().lower()
        if pattern.startswith("+") and len(pattern) > 1:
            patterns.append(pattern)
            continue
        major, slash, minor = pattern.partition("/")
        if major == "*" and minor.startswith("*+") and len(minor) > 2:
            patterns.append(minor[1:])  # "*/*+json" is the suffix pattern "+json"
            continue
        if not slash or not major or not minor or ";" in pattern or (major == "*" and minor != "*"):
            raise read.error("content_types", raw, expected)
        patterns.append(pattern)
    return tuple(patterns)
