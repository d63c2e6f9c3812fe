"""Who may scrape: an allow-list of addresses, or a port of its own."""

from __future__ import annotations

import socket

import httpx
import pytest

from areion_core import ConfigError
from areion_core.testing import LiveServer
from tests.plugins.observability._observability_support import make_server, samples, value


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_an_allow_list_refuses_other_addresses_with_a_problem() -> None:
    with LiveServer(make_server({"metrics": {"allow": ["10.0.0.0/8", "::1"]}})) as live:
        refused = httpx.get(live.url + "/metrics")
        assert httpx.get(live.url + "/json").status_code == 200
    assert refused.status_code == 403
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["status"] == 403


def test_an_allow_list_admits_the_listed_network() -> None:
    with LiveServer(make_server({"metrics": {"allow": ["127.0.0.0/8"]}})) as live:
        assert httpx.get(live.url + "/metrics").status_code == 200


def test_behind_a_trusted_proxy_the_forwarded_client_is_checked() -> None:
    server = make_server({"metrics": {"allow": ["10.1.2.3"]}}, forwarded_allow_ips=["127.0.0.1"])
    with LiveServer(server) as live:
        admitted = httpx.get(live.url + "/metrics", headers={"X-Forwarded-For": "10.1.2.3"})
        refused = httpx.get(live.url + "/metrics", headers={"X-Forwarded-For": "192.0.2.1"})
    assert (admitted.status_code, refused.status_code) == (200, 403)


def test_metrics_on_a_port_of_their_own() -> None:
    port = free_port()
    with LiveServer(make_server({"metrics": {"port": port}})) as live:
        assert httpx.get(live.url + "/json").status_code == 200
        assert httpx.get(live.url + "/metrics").status_code == 404  # not on the app's port
        scrape = httpx.get(f"http://127.0.0.1:{port}/metrics")
        assert scrape.status_code == 200
        s = samples(scrape.text)
        assert value(s, "areion_http_requests_total", method="GET", route="/json", status_class="2xx") == 1
        # The app's 404 for /metrics is an app request; the metrics port's own scrape is not.
        assert value(s, "areion_http_requests_total", method="GET", route="unmatched", status_class="4xx") == 1
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/metrics")  # closed with the app


def test_metrics_off_serves_nothing_and_records_nothing() -> None:
    server = make_server({"metrics": {"enabled": False}})
    assert server.app.telemetry.enabled is False
    with LiveServer(server) as live:
        assert httpx.get(live.url + "/metrics").status_code == 404
        assert httpx.get(live.url + "/healthz").status_code == 200


@pytest.mark.parametrize(("config", "key"), [
    ({"metrics": {"path": "metrics"}}, "plugins.observability.metrics.path"),
    ({"metrics": {"port": 70000}}, "plugins.observability.metrics.port"),
    ({"metrics": {"allow": ["not an address"]}}, "plugins.observability.metrics.allow"),
    ({"metrics": {"duration_buckets": [0.5, 0.1]}}, "plugins.observability.metrics.duration_buckets"),
    ({"metrics": {"enabeld": True}}, "plugins.observability.metrics.enabeld"),
    ({"tracing": {"sampling": 1.5}}, "plugins.observability.tracing.sampling"),
    ({"tracing": {"exporter": "jaeger"}}, "plugins.observability.tracing.exporter"),
    ({"health": {"readiness_path": "/healthz"}}, "plugins.observability.health"),
    ({"metrics": "yes"}, "plugins.observability.metrics"),
])
def test_bad_configuration_stops_startup_naming_the_key(config: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        make_server(config)
    assert caught.value.key.startswith(key), caught.value


def test_otlp_without_the_exporter_installed_names_the_extra() -> None:
    try:
        import opentelemetry.exporter.otlp.proto.http.trace_exporter  # noqa: F401
    except ImportError:
        with pytest.raises(ConfigError, match=r"areion-observability\[otlp\]"):
            make_server({"tracing": {"enabled": True, "exporter": "otlp"}})
    else:
        pytest.skip("the OTLP exporter is installed here")


def test_values_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACE_SAMPLING", "0.25")
    server = make_server({"tracing": {"enabled": True, "exporter": "none", "sampling": "${TRACE_SAMPLING}"}})
    assert server.app.get_plugin("observability").settings.tracing.sampling == 0.25
