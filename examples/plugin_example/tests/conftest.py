"""Fixtures for the request-id plugin's tests.

Every test here reaches the plugin the way a user's app does: through its installed entry
point, selected by configuration. Install it first: ``pip install -e examples/plugin_example``.
"""

from __future__ import annotations

from typing import Any

import pytest

from areion_core import AreionServer, Router
from areion_core.plugins import discover
from examples.plugin_example.tests._request_id_support import AREION_VARIABLES, Build, Calls, build_server, make_router


@pytest.fixture(scope="session", autouse=True)
def _plugin_installed() -> None:
    if "request_id" not in discover():
        pytest.fail("the areion-request-id distribution is not installed: "
                    "run `pip install -e examples/plugin_example` (make test does)")


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The runner's own AREION_* variables must not choose plugins for these tests."""
    for name in AREION_VARIABLES:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def calls() -> Calls:
    return Calls()


@pytest.fixture
def router(calls: Calls) -> Router:
    return make_router(calls)


@pytest.fixture
def build(router: Router) -> Build:
    """``build(*direct_plugins, config=None, select=("request_id",))``."""

    def make(*plugins: Any, **kwargs: Any) -> AreionServer:
        return build_server(router, *plugins, **kwargs)

    return make
