"""Fixtures for core tests (the helpers themselves live in _core_support.py)."""

from tests.core._core_support import live

__all__ = ["live"]
