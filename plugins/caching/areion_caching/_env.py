"""``${VAR}`` expansion for settings that may hold secrets (a Redis URL with a password)."""

from __future__ import annotations

import os
import re

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def expand_env(value: str) -> str:
    """Replace each ``${VAR}`` in ``value`` with the environment variable; raise if one is unset."""

    def sub(match: re.Match[str]) -> str:
        name = match.group(1)
        try:
            return os.environ[name]
        except KeyError:
            raise ValueError(
                f"environment variable {name!r} (used as ${{{name}}}) is not set"
            ) from None

    return _VAR.sub(sub, value)
