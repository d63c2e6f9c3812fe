"""OpenTelemetry: one server span per request, following the HTTP semantic conventions.

The span starts in ``request_started`` — as a child of the caller's span when the request
carries a W3C ``traceparent`` — and is made the current span of the request's context (each
request runs in a context of its own), so spans opened in the handler, by
``app.telemetry.span`` or with ``opentelemetry.trace`` directly are its children. It ends in
``response_sent`` with the status code.

OpenTelemetry is imported when a tracer is made (tracing on), not with this module: an app
with tracing off never loads the SDK.

At sampling 0 (``ParentBased(TraceIdRatioBased(0))``) only a caller's sampled trace is
recorded, so a request without a ``traceparent`` header is let go after a scan of its raw
header names: no span object, no context attach, no propagator (:meth:`RequestTracer.started`).

Each app has its own ``TracerProvider`` (``service.name``, the sampler, the exporter); it is
made the global one unless the application set one already, so ``trace.get_tracer(...)`` in a
handler records into it too.
"""

from __future__ import annotations

import importlib
import logging
from typing import TYPE_CHECKING, Any

from areion_core import ConfigError, HttpRequest, HttpResponse
from areion_core.plugin_api import raw_header

from .settings import SECTION, TracingSettings

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import SpanProcessor

logger = logging.getLogger("areion.observability")
#: ``request.state`` key of the request's server span.
SPAN_KEY = "observability.span"
#: The W3C Trace Context header a caller's trace arrives in (compared in lower case).
_TRACEPARENT = b"traceparent"
class RequestTracer:
    """Opens and ends the server span of each request (only installed when tracing is on)."""

    def __init__(self, settings: TracingSettings, excluded: frozenset[Any] = frozenset()) -> None:
        from opentelemetry import context, trace
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
        from opentelemetry.trace import SpanKind, Status, StatusCode
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        self.settings = settings
        self.provider = TracerProvider(
            resource=Resource.create({"service.name": settings.service_name}),
            sampler=ParentBased(TraceIdRatioBased(settings.sampling)),
        )
        processor = _processor(settings)
        if processor is not None:
            self.provider.add_span_processor(processor)
        self.tracer = self.provider.get_tracer("areion_observability")
        self.excluded = excluded
        #: Sampling 0 starts no trace of its own: a request without a traceparent costs a scan.
        self.never_samples = settings.sampling == 0.0
        self._attach = context.attach
        self._in_context = trace.set_span_in_context
        self._server = SpanKind.SERVER
        self._error = Status(StatusCode.ERROR)
        self._propagator = TraceContextTextMapPropagator()
        if isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
            trace.set_tracer_provider(self.provider)

    def started(self, request: HttpRequest) -> None:
        """``request_started``: the server span, current for the rest of the request."""
        # Never sampling, only a caller's trace can be: look for its header among the raw pairs
        # (the core's scan, a loop in C; no header index) and stop here without one.
        if self.never_samples and raw_header(request.raw_headers, _TRACEPARENT) is None:
            return
        route = request.route
        if route in self.excluded:
            return
        headers = request.headers
        parent = self._propagator.extract(headers)
        method = request.method
        attributes: dict[str, Any] = {
            "http.request.method": method,
            "url.path": request.path,
            "url.scheme": request.scheme,
            "network.protocol.version": request.http_version,
        }
        if request.query_string:
            attributes["url.query"] = request.query_string
        if route is not None:
            attributes["http.route"] = route.path
        client = request.client
        if client is not None:
            attributes["client.address"] = client[0]
            if client[1]:
                attributes["client.port"] = client[1]
        host = request.host
        if host:
            name, _, port = host.rpartition(":") if host.rpartition(":")[2].isdigit() else (host, "", "")
            attributes["server.address"] = name.strip("[]")
            if port:
                attributes["server.port"] = int(port)
        agent = headers.get("user-agent")
        if agent:
            attributes["user_agent.original"] = agent
        span = self.tracer.start_span(f"{method} {route.path}" if route is not None else method, context=parent,
                                      kind=self._server, attributes=attributes)
        state = request.state
        if state is None:
            state = request.state = {}
        state[SPAN_KEY] = span
        # The request's context is its own copy: what is attached here is gone with the request.
        self._attach(self._in_context(span, parent))

    def sent(self, request: HttpRequest, response: HttpResponse) -> None:
        """``response_sent``: the status, then the span's end."""
        state = request.state
        span = state.pop(SPAN_KEY, None) if state is not None else None
        if span is None:
            return
        status = response.status_code
        span.set_attribute("http.response.status_code", status)
        if status >= 500:
            span.set_status(self._error)
            span.set_attribute("error.type", str(status))
        span.end()

    def shutdown(self) -> None:
        """Export what is waiting and stop the exporters."""
        self.provider.shutdown()


def _processor(settings: TracingSettings) -> SpanProcessor | None:
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SimpleSpanProcessor

    if settings.exporter == "none":
        return None
    if settings.exporter == "console":
        return SimpleSpanProcessor(ConsoleSpanExporter())
    try:
        otlp = importlib.import_module("opentelemetry.exporter.otlp.proto.http.trace_exporter")
    except ImportError:
        raise ConfigError(f"{SECTION}.tracing.exporter", "otlp",
                          "an installed OTLP exporter: pip install 'areion-observability[otlp]'") from None
    exporter = otlp.OTLPSpanExporter(endpoint=settings.otlp_endpoint or None)
    return BatchSpanProcessor(exporter)
