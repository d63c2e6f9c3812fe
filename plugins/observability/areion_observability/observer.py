"""What the plugin's two hot hooks call, chosen once at configure time from what is switched on.

With metrics only (the default) each hook is one call into :class:`HttpMetrics`; with tracing
only, into :class:`RequestTracer`; with both, one function calls the two in the order that
keeps the server span around everything measured.
"""

from __future__ import annotations

from collections.abc import Callable

from areion_core import HttpRequest, HttpResponse

from .http_metrics import HttpMetrics
from .tracing import RequestTracer

Started = Callable[[HttpRequest], None]
Sent = Callable[[HttpRequest, HttpResponse], None]


def _started_nothing(request: HttpRequest) -> None:
    return None


def _sent_nothing(request: HttpRequest, response: HttpResponse) -> None:
    return None


#: Before startup, and with metrics and tracing both off.
IDLE: tuple[Started, Sent] = (_started_nothing, _sent_nothing)


def request_observers(http: HttpMetrics | None, tracer: RequestTracer | None) -> tuple[Started, Sent]:
    """The ``request_started`` and ``response_sent`` functions for this combination."""
    if http is not None and tracer is not None:
        trace_started, trace_sent = tracer.started, tracer.sent
        http_started, http_sent = http.started, http.sent

        def started(request: HttpRequest) -> None:
            trace_started(request)
            http_started(request)

        def sent(request: HttpRequest, response: HttpResponse) -> None:
            http_sent(request, response)
            trace_sent(request, response)

        return started, sent
    if http is not None:
        return http.started, http.sent
    if tracer is not None:
        return tracer.started, tracer.sent
    return IDLE
