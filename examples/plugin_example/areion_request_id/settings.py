"""The ``[plugins.request_id]`` section: defaults and validation."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from areion_core.plugin_api import SettingsReader

SECTION = "plugins.request_id"
_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # an HTTP token (RFC 9110 §5.6.2)
_MANAGED = ("server-timing", "x-response-time", "content-length", "set-cookie")


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
        # The reader expands ${VAR}, refuses unknown keys and reads "64" or "true" as 64 or True.
        read = SettingsReader(SECTION, section, keys=[f.name for f in fields(cls)], strings=True)
        defaults = cls()
        header = read.text("header", defaults.header, pattern=_HEADER_NAME,
                           expected="a header name such as 'X-Request-ID'")
        if header.lower() in _MANAGED:
            raise read.error("header", header, "a header this plugin does not already manage")
        return cls(
            header=header,
            trust_incoming=read.boolean("trust_incoming", defaults.trust_incoming),
            max_length=read.integer("max_length", defaults.max_length, minimum=8, maximum=1024),
            timing=read.boolean("timing", defaults.timing),
        )
