"""Fixtures of the integration tests: one headless Chromium per module, a recorded page per test."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from tests.integration._browser import PageRecorder, launch_chromium

if TYPE_CHECKING:
    from playwright.sync_api import Browser


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, headless (skipped without it, failed without it when CI is set)."""
    yield from launch_chromium()


@pytest.fixture
def recorder(browser: Browser) -> Iterator[PageRecorder]:
    """A fresh context and page that records requests, responses, console messages and CSP reports."""
    rec = PageRecorder(browser)
    try:
        yield rec
    finally:
        rec.close()
