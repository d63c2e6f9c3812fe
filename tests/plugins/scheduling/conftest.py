"""Fixtures for the scheduling plugin's tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from areion_scheduling import DefaultOrchestrator

from tests.plugins.scheduling._scheduling_support import StandaloneApp, make_app


@pytest.fixture
def app() -> StandaloneApp:
    return make_app()


@pytest.fixture
async def orchestrator(app: StandaloneApp) -> AsyncIterator[DefaultOrchestrator]:
    """An orchestrator started with a stand-in app and shut down after the test."""
    orch = DefaultOrchestrator(max_workers=4, shutdown_timeout=2)
    yield orch
    await orch.shutdown(app)
