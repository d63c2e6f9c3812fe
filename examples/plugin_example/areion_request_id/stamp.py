"""Putting the id and the timing headers on a response."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from .ids import is_valid_request_id, new_request_id
from .settings import RequestIdSettings

if TYPE_CHECKING:
    from areion_core import HttpRequest, HttpResponse

#: Keys in ``request.state`` (namespaced: other plugins share the dict).
STATE_ID = "request_id"
STATE_START = "request_id.start"
#: Our metric in ``Server-Timing`` (https://www.w3.org/TR/server-timing/).
METRIC = "app"


def get_request_id(request: HttpRequest) -> str | None:
    """The id of ``request``, for handlers and other plugins (None on a route that skips ids)."""
    state = request.state
    return state.get(STATE_ID) if state else None


class RequestIdStamper:
    """Picks a request's id when it arrives and stamps it, and the time taken, on its response."""

    __slots__ = ("settings",)

    def __init__(self, settings: RequestIdSettings) -> None:
        self.settings = settings

    def begin(self, request: HttpRequest) -> None:
        """Record the id and the start time in ``request.state`` (before any handler runs).

        The id also goes to ``request.request_id``, where the core's access log finds it.
        """
        state = request.state
        if state is None:
            state = request.state = {}
        state[STATE_ID] = request.request_id = self._pick(request)
        state[STATE_START] = time.perf_counter()

    def finish(self, request: HttpRequest, response: HttpResponse) -> None:
        """Set the id header and, for a request ``begin`` saw, the timing headers."""
        state = request.state
        if state is None:
            state = request.state = {}
        request_id = state.get(STATE_ID)
        if request_id is None:
            # Unmatched requests (404, 405) skip request_received but still get an id.
            request_id = state[STATE_ID] = request.request_id = self._pick(request)
        headers = response.headers
        # Set, never add: a response replayed from a cache already carries an older id.
        headers[self.settings.header] = request_id
        start = state.get(STATE_START)
        if start is not None and self.settings.timing:
            # Whole microseconds, written as milliseconds with three decimals: integer digits
            # cost a fraction of formatting a float, on every response.
            us = int((time.perf_counter() - start) * 1e6 + 0.5)
            ms = f"{us // 1000}.{us % 1000:03d}"
            existing = headers.get("server-timing")
            headers["server-timing"] = f"{METRIC};dur={ms}" if not existing else _with_metric(existing, ms)
            headers["x-response-time"] = ms + "ms"

    def _pick(self, request: HttpRequest) -> str:
        if self.settings.trust_incoming:
            incoming = request.headers.get(self.settings.header)
            if is_valid_request_id(incoming, self.settings.max_length):
                return incoming  # type: ignore[return-value]  # checked non-None above
        return new_request_id()


def _with_metric(existing: str, ms: str) -> str:
    """``existing`` Server-Timing metrics from other plugins, with ours replaced or added."""
    ours = f"{METRIC};dur={ms}"
    others = [m.strip() for m in existing.split(",") if m.strip() and m.split(";")[0].strip() != METRIC]
    return ", ".join([*others, ours])
