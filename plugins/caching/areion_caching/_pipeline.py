"""Run the other plugins' ``response_ready`` impls on a response made outside a request.

A stale-while-revalidate refresh calls the route's handler in the background. For the
variant it stores to match what a live miss stores (compressed per encoding, headers added
by other plugins), the refreshed response goes through the route's compiled
``response_ready`` chain, minus the caching plugin's own links.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from areion_core.plugin_api import run_response_ready

if TYPE_CHECKING:
    from areion_core import HttpRequest, HttpResponse

Chain = Callable[["HttpRequest", "HttpResponse"], Awaitable["HttpResponse"]]


def response_ready_chain(
    own_name: str, first: Callable[[HttpRequest, HttpResponse], None]
) -> Chain:
    """A chain that calls ``first`` and then every other plugin's link on ``request.route``."""

    async def chain(request: HttpRequest, response: HttpResponse) -> HttpResponse:
        first(request, response)
        return await run_response_ready(request, response, skip=(own_name,))

    return chain
