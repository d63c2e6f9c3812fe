"""Fixtures of the security plugin's tests."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _clean_plugin_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # The runner's environment must not change which plugins the test apps load.
    for name in ("AREION_PLUGINS", "AREION_DISABLE_PLUGINS", "AREION_TRACE_PLUGINS"):
        monkeypatch.delenv(name, raising=False)
