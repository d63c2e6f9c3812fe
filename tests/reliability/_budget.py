"""How hard the reliability suite pushes: a short run in CI, the long one under `make reliability`.

`make test` (and so CI) runs every reliability test with the short budget; `make reliability`
sets ``AREION_RELIABILITY=full`` and the same tests run with the long one. Tests take their
counts and durations from :func:`budget`, never from a hard-coded number, so both runs
exercise the same code.
"""

from __future__ import annotations

import os

FULL = os.environ.get("AREION_RELIABILITY", "").lower() == "full"


def budget(ci: float, full: float) -> float:
    """``full`` under ``make reliability``, else ``ci``."""
    return full if FULL else ci


def count(ci: int, full: int) -> int:
    """An integer budget (examples, requests, connections)."""
    return full if FULL else ci
