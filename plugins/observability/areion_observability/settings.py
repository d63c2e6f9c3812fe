"""The ``[plugins.observability]`` section: metrics, tracing and health, each a table of its own.

```toml
[plugins.observability.metrics]
enabled = true
path = "/metrics"
port = 0                 # 0: served by the app on its own port; else a port of its own
allow = []               # client addresses or networks allowed to scrape; empty: anyone

[plugins.observability.tracing]
enabled = false
sampling = 1.0
exporter = "console"     # "console", "otlp" or "none"

[plugins.observability.health]
enabled = true
liveness_path = "/healthz"
readiness_path = "/readyz"
```
"""

from __future__ import annotations

import ipaddress
import itertools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from areion_core.plugin_api import SettingsReader

SECTION = "plugins.observability"
EXPORTERS = ("console", "otlp", "none")
_PATH = re.compile(r"/[^\s?#]*")
_PATH_EXPECTED = "an absolute path such as '/metrics'"

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class MetricsSettings:
    """``[plugins.observability.metrics]``: the Prometheus endpoint and the HTTP metrics."""

    enabled: bool = True
    path: str = "/metrics"
    #: 0: the app serves ``path`` on its own port; otherwise a second listener on this port.
    port: int = 0
    #: The host the metrics port listens on (only with ``port``).
    host: str = "127.0.0.1"
    #: Networks whose clients may scrape; empty: everyone.
    allow: tuple[Network, ...] = ()
    #: Record the health endpoints in the HTTP metrics too (off: probes would drown the rates).
    include_health: bool = False
    #: Duration histogram bucket bounds (seconds).
    duration_buckets: tuple[float, ...] = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
                                           2.5, 5.0, 10.0)
    #: Response size histogram bucket bounds (bytes).
    size_buckets: tuple[float, ...] = (100.0, 1000.0, 10_000.0, 100_000.0, 1_000_000.0, 10_000_000.0)


@dataclass(frozen=True, slots=True)
class TracingSettings:
    """``[plugins.observability.tracing]``: OpenTelemetry server spans and their export."""

    enabled: bool = False
    #: The share of new traces recorded (a parent's decision is followed: ParentBased).
    sampling: float = 1.0
    exporter: str = "console"
    service_name: str = "areion"
    #: OTLP/HTTP endpoint (only for ``exporter = "otlp"``; empty: the OTEL_EXPORTER_OTLP_* variables).
    otlp_endpoint: str = ""


@dataclass(frozen=True, slots=True)
class HealthSettings:
    """``[plugins.observability.health]``: liveness and readiness endpoints."""

    enabled: bool = True
    liveness_path: str = "/healthz"
    readiness_path: str = "/readyz"
    #: Seconds a readiness check of Redis may take before it counts as down.
    check_timeout: float = 1.0
    #: Write the health endpoints' requests to the access log (off: one probe a second is noise).
    access_log: bool = False


@dataclass(frozen=True, slots=True)
class ObservabilitySettings:
    """The validated section (see the README for every key)."""

    metrics: MetricsSettings = field(default_factory=MetricsSettings)
    tracing: TracingSettings = field(default_factory=TracingSettings)
    health: HealthSettings = field(default_factory=HealthSettings)

    @classmethod
    def from_section(cls, section: Mapping[str, Any]) -> ObservabilitySettings:
        """Validate ``section``; raise ``ConfigError`` naming the key on the first bad value."""
        read = SettingsReader(SECTION, section, keys=[f.name for f in fields(cls)], strings=True)
        settings = cls(
            metrics=_metrics(read.table("metrics", keys=[f.name for f in fields(MetricsSettings)])),
            tracing=_tracing(read.table("tracing", keys=[f.name for f in fields(TracingSettings)])),
            health=_health(read.table("health", keys=[f.name for f in fields(HealthSettings)])),
        )
        paths = [p for p, on in ((settings.metrics.path, settings.metrics.enabled and not settings.metrics.port),
                                 (settings.health.liveness_path, settings.health.enabled),
                                 (settings.health.readiness_path, settings.health.enabled)) if on]
        if len(set(paths)) != len(paths):
            raise read.error("health", section.get("health"), "paths that differ from each other and from "
                             "metrics.path")
        return settings


def _metrics(read: SettingsReader) -> MetricsSettings:
    d = MetricsSettings()
    return MetricsSettings(
        enabled=read.boolean("enabled", d.enabled),
        path=read.text("path", d.path, pattern=_PATH, expected=_PATH_EXPECTED),
        port=read.integer("port", d.port, minimum=0, maximum=65535),
        host=read.text("host", d.host),
        allow=tuple(read.items("allow", (), item=lambda key, value: _network(read, key, value),
                               expected="a list of addresses or networks ('10.0.0.0/8', '::1')")),
        include_health=read.boolean("include_health", d.include_health),
        duration_buckets=_buckets(read, "duration_buckets", d.duration_buckets),
        size_buckets=_buckets(read, "size_buckets", d.size_buckets),
    )


def _tracing(read: SettingsReader) -> TracingSettings:
    d = TracingSettings()
    return TracingSettings(
        enabled=read.boolean("enabled", d.enabled),
        sampling=read.number("sampling", d.sampling, minimum=0.0, maximum=1.0),
        exporter=read.choice("exporter", d.exporter, EXPORTERS),
        service_name=read.text("service_name", d.service_name),
        otlp_endpoint=read.text("otlp_endpoint", d.otlp_endpoint, empty=True),
    )


def _health(read: SettingsReader) -> HealthSettings:
    d = HealthSettings()
    return HealthSettings(
        enabled=read.boolean("enabled", d.enabled),
        liveness_path=read.text("liveness_path", d.liveness_path, pattern=_PATH, expected=_PATH_EXPECTED),
        readiness_path=read.text("readiness_path", d.readiness_path, pattern=_PATH, expected=_PATH_EXPECTED),
        check_timeout=read.seconds("check_timeout", d.check_timeout),
        access_log=read.boolean("access_log", d.access_log),
    )


def _network(read: SettingsReader, key: str, value: Any) -> Network:
    text = read.as_text(key, value, expected="an address or network ('10.0.0.0/8', '::1')")
    try:
        return ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        raise read.error(key, value, "an address or network ('10.0.0.0/8', '::1')") from None


def _buckets(read: SettingsReader, key: str, default: tuple[float, ...]) -> tuple[float, ...]:
    expected = "a list of increasing numbers > 0"
    values = tuple(read.items(key, default, expected=expected,
                              item=lambda k, v: read.as_number(k, v, minimum=0.0, expected=expected)))
    if not values or any(b <= a for a, b in itertools.pairwise(values)) or values[0] <= 0:
        raise read.error(key, list(values), expected)
    return values
