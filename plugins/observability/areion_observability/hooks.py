"""The plugin's hook implementations: wiring only; the logic lives in the named modules."""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry

from areion_core import hookimpl

from .exposition import MetricsEndpoint
from .health import Health
from .http_metrics import HttpMetrics
from .listener import MetricsListener
from .multiprocess import MultiprocessMode, process_stopped
from .observer import IDLE, request_observers
from .recorder import ObservabilityTelemetry
from .settings import ObservabilitySettings
from .tracing import RequestTracer

if TYPE_CHECKING:
    from areion_core import App, AreionConfig, HttpRequest, HttpResponse, Route, Router


class ObservabilityPlugin:
    """Prometheus metrics, OpenTelemetry traces and health endpoints (``[plugins.observability]``)."""

    name = "observability"

    def __init__(self) -> None:
        self.settings = ObservabilitySettings()
        self.registry: CollectorRegistry | None = None
        self.telemetry: ObservabilityTelemetry | None = None
        self.http: HttpMetrics | None = None
        self.tracer: RequestTracer | None = None
        self.health: Health | None = None
        self.endpoint: MetricsEndpoint | None = None
        self.listener: MetricsListener | None = None
        self.multiprocess: MultiprocessMode | None = None
        #: The health routes, kept out of the metrics and traces (found in route_added).
        self.excluded: set[Route] = set()
        self.on_started, self.on_sent = IDLE

    @hookimpl
    def configure(self, app: App, config: AreionConfig) -> None:
        settings = self.settings = ObservabilitySettings.from_section(config.section(self.name))
        registry = self.registry = CollectorRegistry() if settings.metrics.enabled else None
        if settings.tracing.enabled:
            self.tracer = RequestTracer(settings.tracing)
        self.multiprocess = MultiprocessMode(app)
        app.telemetry = self.telemetry = ObservabilityTelemetry(
            registry, self.tracer.tracer if self.tracer is not None else None, self.multiprocess.ensure)
        if registry is not None:
            self.endpoint = MetricsEndpoint(settings.metrics, lambda: self.registry)
        if settings.health.enabled:
            self.health = Health(app, settings.health)
        if registry is not None:  # its prometheus-client metrics are made at startup
            self.http = HttpMetrics.unbound(settings.metrics, () if settings.metrics.include_health else self.excluded)
        # The two hot hooks, bound to the objects doing the work: the compiled chains call
        # these (read when the app is built), with no call through this class in between.
        self.on_started, self.on_sent = request_observers(self.http, self.tracer)
        self.request_started = self.on_started  # type: ignore[method-assign, assignment]
        self.response_sent = self.on_sent  # type: ignore[method-assign, assignment]

    @hookimpl
    def register_routes(self, app: App, router: Router) -> None:
        metrics, health = self.settings.metrics, self.settings.health
        if self.endpoint is not None and not metrics.port:
            router.add_route(metrics.path, self.endpoint.scrape, methods=["GET"], name="observability.metrics",
                             include_in_schema=False)
        if self.health is not None:
            router.add_route(health.liveness_path, self.health.liveness, methods=["GET"],
                             name="observability.healthz", include_in_schema=False, access_log=health.access_log)
            router.add_route(health.readiness_path, self.health.readiness, methods=["GET"],
                             name="observability.readyz", include_in_schema=False, access_log=health.access_log)

    @hookimpl
    def route_added(self, app: App, route: Route) -> None:
        health = self.health
        if health is not None and route.handler in (health.liveness, health.readiness):
            self.excluded.add(route)

    @hookimpl
    def hot_hooks_for_route(self, app: App, route: Route) -> Collection[str] | None:
        # Probes stay out of the numbers (unless include_health); with metrics and tracing off,
        # no route pays for this plugin.
        if self.registry is None and self.tracer is None:
            return ()
        if route in self.excluded and not self.settings.metrics.include_health:
            return ()
        return None

    @hookimpl(tryfirst=True)
    async def startup(self, app: App) -> None:
        # tryfirst: the multiprocess switch must precede every metric any plugin creates.
        directory = self.multiprocess.ensure() if self.multiprocess is not None and self.registry is not None else None
        if self.endpoint is not None:
            self.endpoint.multiprocess_dir = directory
        if self.http is not None and not self.http.bound:
            self.http.bind(self.registry)
        if self.http is not None:
            if self.endpoint is not None:
                self.endpoint.before_scrape = self.http.flush
            if directory is not None:  # other workers answer scrapes too: keep the files fresh
                self.http.start_flushing(asyncio.get_running_loop())
        if self.tracer is not None:
            self.tracer.excluded = frozenset(self.excluded)
        if self.endpoint is not None and self.settings.metrics.port:
            self.listener = MetricsListener(self.settings.metrics, self.endpoint.scrape)
            await self.listener.start(shared=app.worker_count > 1)
        if self.health is not None:
            self.health.start()

    @hookimpl
    async def shutdown(self, app: App) -> None:
        if self.http is not None:
            self.http.stop_flushing()
        if self.listener is not None:
            await self.listener.stop()
            self.listener = None
        if self.health is not None:
            await self.health.close()
        if self.tracer is not None:
            self.tracer.shutdown()
        if self.endpoint is not None and self.endpoint.multiprocess_dir is not None:
            process_stopped(self.endpoint.multiprocess_dir)

    # --- hot hooks ------------------------------------------------------------------------
    # What pluggy registers. The compiled chains call the functions ``configure`` binds to
    # these names on the instance (see above); these forward to them for any other caller.
    @hookimpl(tryfirst=True)
    def request_started(self, request: HttpRequest) -> None:
        # tryfirst: the clock and the server span start before any plugin may answer.
        self.on_started(request)

    @hookimpl
    def response_sent(self, request: HttpRequest, response: HttpResponse) -> None:
        self.on_sent(request, response)
