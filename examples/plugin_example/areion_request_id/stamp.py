"""Putting the id and the timing headers on a response."""

from __future__ import annotations

from typing import TYPE_CHECKING

from areion_core.plugin_api import HeaderStamp, elapsed_ms, raw_header

from . import ids
from .ids import is_valid_request_id
from .settings import RequestIdSettings

if TYPE_CHECKING:
    from areion_core import HttpRequest, HttpResponse

#: Our metric in ``Server-Timing`` (https://www.w3.org/TR/server-timing/).
METRIC = "app"
_DURATION = f"{METRIC};dur="


def get_request_id(request: HttpRequest) -> str | None:
    """The id of ``request``, for handlers and other plugins (None on a route that skips ids)."""
    return request.request_id


class RequestIdStamper:
    """Picks a request's id when it arrives and stamps it, and the time taken, on its response.

    Per request, the cheap way: the id goes to ``request.request_id`` (a slot of the request,
    where the core's access log finds it), the time runs from ``request.received_ns`` (the
    core's one clock read per request), the settings are read once, here, into plain
    attributes, and the three response headers are set by one ``HeaderStamp`` call (one check
    and one copy for the three).
    """

    __slots__ = ("header", "max_length", "settings", "stamp", "timing", "wanted")

    def __init__(self, settings: RequestIdSettings) -> None:
        self.apply(settings)

    def apply(self, settings: RequestIdSettings) -> None:
        """Take these settings (at configure time; the hooks keep pointing at this object)."""
        self.settings = settings
        self.header = settings.header
        self.timing = settings.timing
        self.max_length = settings.max_length
        #: The header's name as the raw request headers are compared with; None: never trusted.
        self.wanted = settings.header.lower().encode("latin-1") if settings.trust_incoming else None
        #: The id and the two timing headers, set together on a response that has none of them.
        self.stamp = HeaderStamp({settings.header: "{0}", "Server-Timing": f"{METRIC};dur={{1}}",
                                  "X-Response-Time": "{1}ms"})

    def begin(self, request: HttpRequest) -> None:
        """Pick the id (before any handler runs)."""
        wanted = self.wanted
        if wanted is None or raw_header(request.raw_headers, wanted) is None:
            request.request_id = ids.next_id()  # the usual case: no id came with the request
        else:
            request.request_id = self._pick(request)

    def finish(self, request: HttpRequest, response: HttpResponse) -> None:
        """Set the id header and, for a request ``begin`` saw, the timing headers."""
        request_id = request.request_id
        headers = response.headers
        if request_id is None or not self.timing:
            # Unmatched requests (404, 405) skip request_received but still get an id. Set,
            # never add: a response replayed from a cache already carries an older id.
            if request_id is None:
                request_id = request.request_id = self._pick(request)
            headers[self.header] = request_id
            return
        # The time since the request was read, as milliseconds with three decimals ("0.114").
        ms = elapsed_ms(request.received_ns)
        if not self.stamp.set(headers, request_id, ms):
            # One of the three is there already: a replayed response's (an older id and time)
            # or another plugin's Server-Timing, whose metrics we keep.
            headers[self.header] = request_id
            existing = headers.get("server-timing")
            headers["server-timing"] = _DURATION + ms if existing is None else _with_metric(existing, ms)
            headers["x-response-time"] = ms + "ms"

    def _pick(self, request: HttpRequest) -> str:
        wanted = self.wanted
        # The raw pairs, scanned for the one name: cheaper than request.headers, which builds
        # a view of them all.
        value = raw_header(request.raw_headers, wanted) if wanted is not None else None
        if value is not None:
            incoming = value.decode("latin-1")
            if is_valid_request_id(incoming, self.max_length):
                return incoming
        return ids.next_id()


def _with_metric(existing: str, ms: str) -> str:
    """``existing`` Server-Timing metrics from other plugins, with ours replaced or added."""
    ours = _DURATION + ms
    others = [m.strip() for m in existing.split(",") if m.strip() and m.split(";")[0].strip() != METRIC]
    return ", ".join([*others, ours])
