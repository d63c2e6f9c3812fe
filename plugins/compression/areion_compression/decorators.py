"""The per-route opt-out: ``@no_compression``."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from areion_core import set_route_option

#: Route option set by ``@no_compression`` (``route.options[ROUTE_OPTION] is True``).
ROUTE_OPTION = "no_compression"

_F = TypeVar("_F", bound=Callable[..., object])


def no_compression(handler: _F) -> _F:
    """Never compress this route's responses (and do not add ``Vary: Accept-Encoding``).

    Use it where a response reflects user input next to a secret (a CSRF token, a session
    identifier): compressed length then leaks the secret a byte at a time (BREACH). Works
    above or below ``@router.get``::

        @router.get("/account")
        @no_compression
        async def account(request): ...
    """
    set_route_option(handler, ROUTE_OPTION, True)
    return handler
