"""The HTTP metrics, scraped over a real socket and parsed by prometheus-client's parser."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from areion_core.testing import LiveServer
from tests.plugins.observability._observability_support import make_server, samples, value

REQ = "areion_http_requests_total"
DUR = "areion_http_request_duration_seconds"
SIZE = "areion_http_response_size_bytes"


@pytest.fixture
def live() -> Iterator[LiveServer]:
    with LiveServer(make_server()) as server:
        yield server


def scrape(live: LiveServer, **kw: object) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    r = httpx.get(live.url + "/metrics", **kw)  # type: ignore[arg-type]
    assert r.status_code == 200, r.text
    return samples(r.text)


def test_known_traffic_gives_exact_counts_by_method_route_template_and_status_class(live: LiveServer) -> None:
    with httpx.Client(base_url=live.url) as client:
        for _ in range(3):
            assert client.get("/json").status_code == 200
        for user in (1, 2, 3, 4):
            assert client.get(f"/users/{user}").status_code == 200
        assert client.get("/users/abc").status_code == 422  # matched the template, refused the value
        assert client.get("/missing").status_code == 404
        assert client.get("/boom").status_code == 500
        assert client.get("/nowhere").status_code == 404
        assert client.get("/nowhere/else").status_code == 404
        assert client.post("/json").status_code == 405
        assert client.post("/echo", content=b"x" * 5000).status_code == 200
        assert client.head("/json").status_code == 200
    s = scrape(live)
    assert value(s, REQ, method="GET", route="/json", status_class="2xx") == 3
    # The template, never the raw path: four users are one series.
    assert value(s, REQ, method="GET", route="/users/{id}", status_class="2xx") == 4
    assert value(s, REQ, method="GET", route="/users/{id}", status_class="4xx") == 1
    assert value(s, REQ, method="GET", route="/missing", status_class="4xx") == 1
    assert value(s, REQ, method="GET", route="/boom", status_class="5xx") == 1
    assert value(s, REQ, method="GET", route="unmatched", status_class="4xx") == 2
    assert value(s, REQ, method="POST", route="unmatched", status_class="4xx") == 1  # the 405
    assert value(s, REQ, method="POST", route="/echo", status_class="2xx") == 1
    assert value(s, REQ, method="HEAD", route="/json", status_class="2xx") == 1
    assert not any(name == REQ and ("route", "/users/1") in labels for name, labels in s)
    # The histogram counted the same requests; every duration is in a finite bucket.
    assert value(s, DUR + "_count", method="GET", route="/json", status_class="2xx") == 3
    assert value(s, DUR + "_bucket", method="GET", route="/json", status_class="2xx", le="10.0") == 3
    assert value(s, DUR + "_sum", method="GET", route="/json", status_class="2xx") > 0
    # Sizes: the echo's response is over 5000 bytes (head included), the JSON ones under 1000.
    assert value(s, SIZE + "_bucket", method="POST", route="/echo", status_class="2xx", le="1000.0") == 0
    assert value(s, SIZE + "_bucket", method="POST", route="/echo", status_class="2xx", le="10000.0") == 1
    assert value(s, SIZE + "_bucket", method="GET", route="/json", status_class="2xx", le="1000.0") == 3
    assert value(s, SIZE + "_sum", method="POST", route="/echo", status_class="2xx") > 5000
    # Nothing is in flight but the scrape itself, which is counted before its answer is made.
    assert value(s, "areion_http_requests_in_flight") == 1


def test_scrapes_are_counted_and_health_probes_are_not(live: LiveServer) -> None:
    for _ in range(3):
        assert httpx.get(live.url + "/healthz").status_code == 200
        assert httpx.get(live.url + "/readyz").status_code == 200
    scrape(live)
    s = scrape(live)
    assert value(s, REQ, method="GET", route="/metrics", status_class="2xx") == 1
    assert not any(("route", "/healthz") in labels or ("route", "/readyz") in labels for _, labels in s)


def test_in_flight_counts_requests_being_answered(live: LiveServer) -> None:
    import threading

    threads = [threading.Thread(target=httpx.get, args=(live.url + "/slow?s=0.6",)) for _ in range(3)]
    for thread in threads:
        thread.start()
    try:
        import time

        deadline = time.monotonic() + 3
        while True:
            s = scrape(live)
            if value(s, "areion_http_requests_in_flight") == 4 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert value(s, "areion_http_requests_in_flight") == 4  # three slow ones and the scrape
    finally:
        for thread in threads:
            thread.join()
    assert value(scrape(live), "areion_http_requests_in_flight") == 1
    assert value(scrape(live), REQ, method="GET", route="/slow", status_class="2xx") == 3


def test_openmetrics_when_the_scraper_asks_for_it(live: LiveServer) -> None:
    httpx.get(live.url + "/json")
    text = httpx.get(live.url + "/metrics").headers["content-type"]
    assert text.startswith("text/plain; version=0.0.4")
    r = httpx.get(live.url + "/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"})
    assert r.headers["content-type"].startswith("application/openmetrics-text; version=1.0.0")
    assert r.text.endswith("# EOF\n")
    from prometheus_client.openmetrics.parser import text_string_to_metric_families

    families = {f.name: f for f in text_string_to_metric_families(r.text)}
    requests = families["areion_http_requests"]
    assert requests.type == "counter"
    assert any(s.labels == {"method": "GET", "route": "/json", "status_class": "2xx"} and s.value == 1
               for s in requests.samples if s.name == "areion_http_requests_total")


def test_a_duration_runs_from_the_request_being_read_and_lands_in_its_bucket() -> None:
    # HttpMetrics alone, on a request read 30 ms ago (the core's received_ns): the duration is
    # counted in seconds against the buckets' bounds (kept in nanoseconds), up to the bound
    # that holds it ("le") and no lower.
    import time
    from types import SimpleNamespace

    from prometheus_client import CollectorRegistry

    from areion_observability.http_metrics import HttpMetrics
    from areion_observability.settings import MetricsSettings

    registry = CollectorRegistry()
    metrics = HttpMetrics(registry, MetricsSettings())
    conn = SimpleNamespace(bytes_written=1000)
    class Route:  # hashable, as the core's routes are
        path = "/slow"

    route = Route()
    request = SimpleNamespace(route=route, conn=conn, state=None, method="GET",
                              received_ns=time.perf_counter_ns() - 30_000_000)
    metrics.started(request)  # type: ignore[arg-type]
    assert metrics.active == 1
    conn.bytes_written += 250
    metrics.sent(request, SimpleNamespace(status_code=200))  # type: ignore[arg-type]
    metrics.flush()
    labels = {"method": "GET", "route": "/slow", "status_class": "2xx"}

    def sample(name: str, **extra: str) -> float | None:
        return registry.get_sample_value(name, {**labels, **extra})

    assert sample(DUR + "_bucket", le="0.025") == 0
    assert sample(DUR + "_bucket", le="0.05") == 1
    assert 0.030 <= sample(DUR + "_sum") < 0.030 + 5  # type: ignore[operator]
    assert sample(SIZE + "_bucket", le="100.0") == 0 and sample(SIZE + "_bucket", le="1000.0") == 1
    assert sample(SIZE + "_sum") == 250
    assert metrics.active == 0 and request.state == {}


@pytest.mark.parametrize("tracing", [False, True])
def test_the_hot_hooks_are_bound_to_the_objects_doing_the_work(tracing: bool) -> None:
    # No call through the plugin class per request: the compiled chains hold HttpMetrics' own
    # methods (metrics only), or the one function calling metrics and tracer (both on).
    from areion_core.plugin_api import route_chain
    from areion_observability.http_metrics import HttpMetrics

    config = {"tracing": {"enabled": True, "exporter": "none"}} if tracing else {}
    server = make_server(config)
    plugin = server.app.get_plugin("observability")
    assert isinstance(plugin.http, HttpMetrics) and not plugin.http.bound  # its metrics come at startup
    route = next(r for r in server.app.routes if r.path == "/json")
    sent = [fn for name, fn, _ in route_chain(route, "response_sent") if name == "observability"]
    started = [fn for name, fn, _ in server.app.dispatcher.started_chain if name == "observability"]
    if tracing:
        assert sent == [plugin.response_sent] and started == [plugin.request_started]
        assert getattr(sent[0], "__self__", None) is None  # the function made for both, not a method
    else:
        assert sent == [plugin.http.sent] and started == [plugin.http.started]
    with LiveServer(server) as live:
        assert plugin.http.bound
        assert httpx.get(live.url + "/json").status_code == 200
        s = scrape(live)
    assert value(s, REQ, method="GET", route="/json", status_class="2xx") == 1
