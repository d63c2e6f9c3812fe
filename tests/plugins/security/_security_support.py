"""Shared helpers: apps that select the security plugin by name (through its entry point)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from areion_core import AreionServer, AreionServerBuilder, Router


def build_server(
    router: Router,
    security: Mapping[str, Any],
    *,
    select: Iterable[str] = ("security",),
    plugins: Mapping[str, Any] | None = None,
    plugin_objects: Iterable[Any] = (),
    **config: Any,
) -> AreionServer:
    """An app with ``[plugins.security]`` = ``security``; ``plugins`` adds other plugins' sections."""
    sections: dict[str, Any] = {"enabled": list(select), "security": dict(security)}
    sections.update(plugins or {})
    return (AreionServerBuilder().with_router(router).without_config_file()
            .with_config({"plugins": sections, "access_log": False, **config})
            .with_plugins(*plugin_objects).build())


class Calls:
    """Counts handler calls, to prove a refused request never reached the handler."""

    def __init__(self) -> None:
        self.count = 0

    def hit(self) -> None:
        self.count += 1
