"""``app.telemetry``: the null recorder by default, replaceable by a plugin, reported to by name."""

from __future__ import annotations

import pytest

from areion_core import AreionServerBuilder, Metric, Router, StandardMetrics, Telemetry, hookimpl
from areion_core.testing import TestClient

HITS = Metric("test_hits_total", "counter", "Hits.", ("route",))


class ListRecorder(Telemetry):
    enabled = True

    def __init__(self) -> None:
        self.events: list[tuple[str, str, float, dict[str, str]]] = []

    def inc(self, metric, amount=1.0, **labels):
        self.events.append(("inc", metric.name, amount, labels))


class Recording:
    name = "recording"

    def __init__(self) -> None:
        self.recorder = ListRecorder()

    @hookimpl
    def configure(self, app, config):
        app.telemetry = self.recorder


class Reporter:
    name = "reporter"

    def __init__(self) -> None:
        self.app = None

    @hookimpl
    def configure(self, app, config):
        self.app = app

    @hookimpl
    def response_ready(self, request, response):
        # Read app.telemetry when reporting: the recorder may be installed after our configure.
        self.app.telemetry.inc(HITS, route=request.route.path)


def _server(*plugins):
    r = Router()

    @r.get("/items/:id")
    async def item(request, id: int):
        return {"id": id}

    return (AreionServerBuilder().with_router(r).without_config_file().with_config(plugins=[])
            .with_access_log(False).with_plugins(*plugins).build())


def test_the_default_recorder_records_nothing_and_costs_no_error():
    server = _server(Reporter())
    telemetry = server.app.telemetry
    assert type(telemetry) is Telemetry and not telemetry.enabled and not telemetry.tracing
    with telemetry.span("x", a=1) as span:
        assert span is None
    with TestClient(server) as c:
        assert c.get("/items/3").json() == {"id": 3}


@pytest.mark.parametrize("order", ["recorder_first", "reporter_first"])
def test_a_plugin_installs_a_recorder_others_report_to(order):
    recording, reporter = Recording(), Reporter()
    plugins = (recording, reporter) if order == "recorder_first" else (reporter, recording)
    with TestClient(_server(*plugins)) as c:
        c.get("/items/1")
        c.get("/items/2")
    assert recording.recorder.events == [("inc", "test_hits_total", 1.0, {"route": "/items/{id}"})] * 2


def test_standard_metrics_follow_prometheus_naming():
    metrics = [v for k, v in vars(StandardMetrics).items() if isinstance(v, Metric)]
    assert len(metrics) == 8
    for metric in metrics:
        assert metric.name.startswith("areion_")
        assert metric.name.endswith("_total") == (metric.kind == "counter")
