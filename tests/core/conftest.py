"""Fixtures for core tests (the helpers themselves live in _core_support.py)."""

from _core_support import live

__all__ = ["live"]
