"""Helpers for the caching plugin's tests: build a real server with the plugin enabled."""

from __future__ import annotations

from typing import Any

from areion_core import AreionServer, AreionServerBuilder, Router


def build_server(
    router: Router,
    caching: dict[str, Any] | None = None,
    *,
    plugins: tuple[str, ...] = ("caching",),
    **sections: dict[str, Any],
) -> AreionServer:
    """A server with only ``plugins`` loaded (through their entry points) and these sections."""
    table: dict[str, Any] = {"enabled": list(plugins), "caching": dict(caching or {})}
    table.update(sections)
    return (
        AreionServerBuilder()
        .with_router(router)
        .without_config_file()
        .with_config({"plugins": table})
        .with_access_log(False)
        .build()
    )


class Counter:
    """Counts handler runs (what the cache is supposed to save)."""

    def __init__(self) -> None:
        self.n = 0

    def __call__(self) -> int:
        self.n += 1
        return self.n
