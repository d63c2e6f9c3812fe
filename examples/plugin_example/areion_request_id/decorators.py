"""Per-route switches, set by decorators on handlers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from areion_core import set_route_option

F = TypeVar("F", bound=Callable[..., Any])

#: The route option the plugin reads; ``False`` turns the plugin off for that route.
ROUTE_OPTION = "request_id"


def skip_request_id(func: F) -> F:
    """Send no request-id or timing headers on this route (health checks, static assets).

    Works above or below ``@router.get(...)``; the same as ``router.add_route(..., request_id=False)``.
    """
    set_route_option(func, ROUTE_OPTION, False)
    return func
