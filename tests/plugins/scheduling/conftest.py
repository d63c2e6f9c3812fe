"""Fixtures for the scheduling plugin's tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from areion_scheduling import DefaultOrchestrator

from tests.plugins.scheduling._scheduling_support import StandaloneApp, make_app


@pytest.fixture(autouse=True)
def private_runtime_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test's default lock files in a directory of its own (``$XDG_RUNTIME_DIR``, which the
    default path honours), so a server of this app elsewhere on the host never holds them."""
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    return runtime


@pytest.fixture
def app() -> StandaloneApp:
    return make_app()


@pytest.fixture
async def orchestrator(app: StandaloneApp) -> AsyncIterator[DefaultOrchestrator]:
    """An orchestrator started with a stand-in app and shut down after the test."""
    orch = DefaultOrchestrator(max_workers=4, shutdown_timeout=2)
    yield orch
    await orch.shutdown(app)
