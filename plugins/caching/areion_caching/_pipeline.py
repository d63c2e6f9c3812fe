"""Run the other plugins' ``response_ready`` impls on a response made outside a request.

A stale-while-revalidate refresh calls the route's handler in the background. For the
variant it stores to match what a live miss stores (compressed per encoding, headers added
by other plugins), the refreshed response goes through the route's compiled
``response_ready`` chain, minus the caching plugin's own links.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from areion_core.request import HttpRequest
    from areion_core.response import HttpResponse

Chain = Callable[["HttpRequest", "HttpResponse"], Awaitable["HttpResponse"]]


def response_ready_chain(
    own_name: str, first: Callable[[HttpRequest, HttpResponse], None]
) -> Chain:
    """A chain that calls ``first`` and then every other plugin's link on ``request.route``."""

    async def chain(request: HttpRequest, response: HttpResponse) -> HttpResponse:
        first(request, response)
        links = getattr(request.route, "response_chain", None) or ()
        for name, fn, is_async in links:
            if name == own_name:
                continue
            result = fn(request, response)
            if is_async or (result is not None and inspect.isawaitable(result)):
                result = await result
            if result is not None:
                response = result
        return response

    return chain
