"""Helpers for the scheduling plugin's tests: a stand-in app, polling waits, and real server
processes running ``scheduling_app`` (under ``areion run`` or uvicorn)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests._redis import free_port

HERE = Path(__file__).parent
ROOT = HERE.parents[2]  # the repository: the app is imported as tests.plugins.scheduling.scheduling_app
APP = "tests.plugins.scheduling.scheduling_app:server"


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


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    """``wait_until`` for synchronous tests."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)


class ServerProcess:
    """``scheduling_app`` served by a real process: ``areion run`` (``server="areion"``) or
    ``uvicorn ...:server.asgi``, with ``workers`` processes; output goes to ``log``."""

    def __init__(self, log: Path, env: Mapping[str, str], *, server: str = "areion",
                 workers: int = 1, cwd: Path = HERE) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        if server == "areion":
            cmd = [sys.executable, "-m", "areion_core", "run", APP, "--port", str(self.port),
                   "--no-access-log"]
        elif server == "uvicorn":
            cmd = [sys.executable, "-m", server, f"{APP}.asgi", "--port", str(self.port),
                   "--no-access-log"]
        elif server == "hypercorn":
            cmd = [sys.executable, "-m", server, APP.replace(":server", ":asgi"), "--bind",
                   f"127.0.0.1:{self.port}"]
        else:  # granian
            # Granian names the module after the packages around its working directory.
            cmd = [sys.executable, "-m", server, "--interface", "asgi", APP.replace(":server", ":asgi"),
                   "--port", str(self.port)]
            cwd = ROOT
        if workers > 1:
            cmd += ["--workers", str(workers)]
        full_env = {**os.environ, "AREION_PLUGINS": "scheduling", **env,
                    "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
        with open(log, "wb") as out:
            # A session of its own, so kill() reaches the workers too (by this process group).
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=full_env,
                                         cwd=cwd, start_new_session=True)
        self.pid = self.proc.pid

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def ready(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"server exited early:\n{self.output()}")
        try:
            return httpx.get(self.url + "/remember/ping", timeout=0.5).status_code == 200
        except httpx.TransportError:
            return False

    def terminate(self, timeout: float = 15) -> int:
        """SIGTERM, then wait for the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def kill(self) -> None:
        """SIGKILL to the server and any worker still in its process group."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGKILL)
        self.proc.wait(10)
