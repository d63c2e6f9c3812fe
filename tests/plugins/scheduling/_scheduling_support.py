"""Helpers for the scheduling plugin's tests: a stand-in app and a polling wait."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


class StandaloneConfig:
    """The one piece of ``AreionConfig`` the orchestrator uses: ``section(name)``."""

    def __init__(self, plugins: dict[str, dict[str, Any]] | None = None) -> None:
        self.plugins = plugins or {}

    def section(self, name: str) -> dict[str, Any]:
        return dict(self.plugins.get(name, {}))


@dataclass
class StandaloneApp:
    """A real object with the App attributes the orchestrator reads (the core's App has more)."""

    config: StandaloneConfig = field(default_factory=StandaloneConfig)
    worker_id: int = 0
    worker_count: int = 1
    logger: logging.Logger = field(default_factory=lambda: logging.getLogger("scheduling.test"))
    orchestrator: Any = None


def make_app(scheduling: dict[str, Any] | None = None, **attrs: Any) -> StandaloneApp:
    return StandaloneApp(config=StandaloneConfig({"scheduling": scheduling or {}}), **attrs)


async def wait_until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    """Poll ``predicate`` until it holds; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(0.01)


#: What ``record`` saw; a job declared in config by dotted path
#: (``func = "tests.plugins.scheduling._scheduling_support:record"``) appends here.
RECORDED: list[tuple[tuple[Any, ...], dict[str, Any]]] = []


def record(*args: Any, **kwargs: Any) -> None:
    RECORDED.append((args, kwargs))
