"""areion-observability: Prometheus metrics, OpenTelemetry traces and health endpoints for Areion."""

from .exposition import MetricsEndpoint
from .health import Health
from .hooks import ObservabilityPlugin
from .http_metrics import DURATION, IN_FLIGHT, REQUESTS, SIZE, UNMATCHED, HttpMetrics
from .recorder import ObservabilityTelemetry
from .settings import HealthSettings, MetricsSettings, ObservabilitySettings, TracingSettings
from .tracing import RequestTracer

__all__ = [
    "DURATION",
    "IN_FLIGHT",
    "REQUESTS",
    "SIZE",
    "UNMATCHED",
    "Health",
    "HealthSettings",
    "HttpMetrics",
    "MetricsEndpoint",
    "MetricsSettings",
    "ObservabilityPlugin",
    "ObservabilitySettings",
    "ObservabilityTelemetry",
    "RequestTracer",
    "TracingSettings",
]
