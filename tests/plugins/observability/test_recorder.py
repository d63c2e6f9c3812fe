"""app.telemetry as the plugin installs it: metrics made from their description on first report."""

from __future__ import annotations

import httpx
import pytest
from areion_observability import ObservabilityTelemetry

from areion_core import Metric, StandardMetrics, Telemetry
from areion_core.testing import LiveServer
from tests.plugins.observability._observability_support import make_server, samples, value

LATENCY = Metric("test_backend_latency_seconds", "histogram", "Backend latency.", ("backend",), buckets=(0.1, 1.0))
QUEUE = Metric("test_queue_depth", "gauge", "Jobs waiting.")


def test_reports_of_every_kind_reach_the_scrape() -> None:
    server = make_server()
    telemetry = server.app.telemetry
    assert isinstance(telemetry, ObservabilityTelemetry) and telemetry.enabled
    with LiveServer(server) as live:
        telemetry.inc(StandardMetrics.rate_limited, route="/json")
        telemetry.inc(StandardMetrics.rate_limited, 2, route="/json")
        telemetry.inc(StandardMetrics.websockets_open, route="/ws")
        telemetry.inc(StandardMetrics.websockets_open, route="/ws")
        telemetry.dec(StandardMetrics.websockets_open, route="/ws")
        telemetry.set(QUEUE, 7)
        for seconds in (0.05, 0.5, 5.0):
            telemetry.observe(LATENCY, seconds, backend="db")
        s = samples(httpx.get(live.url + "/metrics").text)
    assert value(s, "areion_rate_limited_total", route="/json") == 3
    assert value(s, "areion_websockets_open", route="/ws") == 1
    assert value(s, "test_queue_depth") == 7
    assert value(s, "test_backend_latency_seconds_bucket", backend="db", le="0.1") == 1
    assert value(s, "test_backend_latency_seconds_bucket", backend="db", le="1.0") == 2
    assert value(s, "test_backend_latency_seconds_bucket", backend="db", le="+Inf") == 3
    assert value(s, "test_backend_latency_seconds_sum", backend="db") == pytest.approx(5.55)


@pytest.mark.parametrize("labels", [{}, {"route": "/x", "extra": "y"}, {"path": "/x"}])
def test_wrong_labels_are_refused_naming_the_metric(labels: dict[str, str]) -> None:
    telemetry = make_server().app.telemetry
    with pytest.raises(ValueError, match="areion_rate_limited_total"):
        telemetry.inc(StandardMetrics.rate_limited, **labels)


def test_with_metrics_off_reports_are_dropped() -> None:
    telemetry = make_server({"metrics": {"enabled": False}}).app.telemetry
    assert isinstance(telemetry, Telemetry) and not telemetry.enabled
    telemetry.inc(StandardMetrics.rate_limited, route="/json")  # no error, nothing recorded
