"""The ``[plugins.request_id]`` section: defaults and validation."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from areion_core import ConfigError

SECTION = "plugins.request_id"
_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # an HTTP token (RFC 9110 §5.6.2)
_MIN_LENGTH, _MAX_LENGTH = 8, 1024


@dataclass(frozen=True, slots=True)
class RequestIdSettings:
    """Every option of ``[plugins.request_id]`` with its default.

    - ``header``: the header that carries the id, in requests and responses.
    - ``trust_incoming``: reuse a valid id sent by the client or a proxy; otherwise always
      make a new one.
    - ``max_length``: the longest incoming id accepted (8..1024).
    - ``timing``: add ``Server-Timing`` and ``X-Response-Time`` to routed responses.
    """

    header: str = "X-Request-ID"
    trust_incoming: bool = True
    max_length: int = 128
    timing: bool = True

    @classmethod
    def from_section(cls, section: Mapping[str, Any]) -> RequestIdSettings:
        """Validate a config section; raise ``ConfigError`` naming the key, the value and what was expected."""
        defaults = cls()
        known = {f.name for f in fields(cls)}
        for key, value in section.items():
            if key not in known:
                raise ConfigError(f"{SECTION}.{key}", value, f"one of {', '.join(sorted(known))}")
        header = section.get("header", defaults.header)
        if not isinstance(header, str) or _HEADER_NAME.fullmatch(header) is None:
            raise ConfigError(f"{SECTION}.header", header, "a header name such as 'X-Request-ID'")
        if header.lower() in ("server-timing", "x-response-time", "content-length", "set-cookie"):
            raise ConfigError(f"{SECTION}.header", header, "a header this plugin does not already manage")
        return cls(
            header=header,
            trust_incoming=_bool("trust_incoming", section.get("trust_incoming", defaults.trust_incoming)),
            max_length=_length(section.get("max_length", defaults.max_length)),
            timing=_bool("timing", section.get("timing", defaults.timing)),
        )


def _bool(key: str, value: Any) -> bool:
    # TOML has real booleans, but AREION_* variables and ${VAR} arrive as strings.
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "1", "yes", "on"):
        return True
    if isinstance(value, str) and value.lower() in ("false", "0", "no", "off"):
        return False
    raise ConfigError(f"{SECTION}.{key}", value, "true or false")


def _length(value: Any) -> int:
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not _MIN_LENGTH <= value <= _MAX_LENGTH:
        raise ConfigError(f"{SECTION}.max_length", value, f"a whole number from {_MIN_LENGTH} to {_MAX_LENGTH}")
    return value
