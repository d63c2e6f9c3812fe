"""What the other plugins report through app.telemetry reaches /metrics and the traces."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
from areion_scheduling import DefaultOrchestrator
from areion_templates import DefaultEngine
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from areion_core import AreionServerBuilder, HttpRequest, Router
from areion_core.testing import LiveServer
from tests.plugins.observability._observability_support import samples, value

TEXT = "All work and no play makes Jack a dull boy.\n" * 200


def reporting_app(tmp_path: Path, plugins: list[str], orchestrator: DefaultOrchestrator | None = None,
                  **sections: object) -> AreionServerBuilder:
    (tmp_path / "page.html").write_text("<p>{{ name }}</p>")
    router = Router()

    @router.get("/cached/:id", cache=60)
    async def cached(request: HttpRequest, id: int) -> dict[str, int]:
        return {"id": id}

    @router.get("/text")
    async def text(request: HttpRequest) -> str:
        return TEXT

    @router.get("/page")
    async def page(request: HttpRequest) -> object:
        return request.render_template("page.html", {"name": "Ada"})

    builder = (AreionServerBuilder().with_router(router).without_config_file()
               .with_config(plugins=plugins, access_log=False)
               .with_config({"plugins": {"observability": {"tracing": {"enabled": True, "exporter": "none"}},
                                         **sections}})
               .with_engine(DefaultEngine(templates_dir=str(tmp_path))))
    if orchestrator is not None:
        builder.with_orchestrator(orchestrator)
    return builder


def test_cache_lookups_by_route_and_result_and_their_spans(tmp_path: Path) -> None:
    server = reporting_app(tmp_path, ["observability", "caching"]).build()
    exporter = InMemorySpanExporter()
    server.app.get_plugin("observability").tracer.provider.add_span_processor(SimpleSpanProcessor(exporter))
    with LiveServer(server) as live, httpx.Client(base_url=live.url) as client:
        for _ in range(3):
            assert client.get("/cached/1").status_code == 200
        assert client.get("/cached/2").status_code == 200
        s = samples(client.get("/metrics").text)
    assert value(s, "areion_cache_lookups_total", route="/cached/{id}", result="miss") == 2
    assert value(s, "areion_cache_lookups_total", route="/cached/{id}", result="hit") == 2
    lookups = [span for span in exporter.get_finished_spans() if span.name == "cache.lookup"]
    servers = {span.context.span_id: span for span in exporter.get_finished_spans() if span.name.startswith("GET")}
    assert lookups, "the misses looked the store up inside a span"
    for lookup in lookups:
        assert lookup.parent is not None and lookup.parent.span_id in servers
        assert dict(lookup.attributes or {}) == {"route": "/cached/{id}"}


def test_compression_saved_bytes_by_encoding(tmp_path: Path) -> None:
    server = reporting_app(tmp_path, ["observability", "compression"]).build()
    with LiveServer(server) as live, httpx.Client(base_url=live.url) as client:
        r = client.get("/text", headers={"Accept-Encoding": "gzip"})
        sent = int(r.headers["content-length"])
        assert r.headers["content-encoding"] == "gzip" and r.text == TEXT  # httpx decoded it
        s = samples(client.get("/metrics", headers={"Accept-Encoding": "identity"}).text)
    assert value(s, "areion_compression_saved_bytes_total", encoding="gzip") == len(TEXT) - sent


def test_template_render_span_is_a_child_of_the_request(tmp_path: Path) -> None:
    server = reporting_app(tmp_path, ["observability", "templates"]).build()
    exporter = InMemorySpanExporter()
    server.app.get_plugin("observability").tracer.provider.add_span_processor(SimpleSpanProcessor(exporter))
    with LiveServer(server) as live:
        assert httpx.get(live.url + "/page").text == "<p>Ada</p>"
    spans = {span.name: span for span in exporter.get_finished_spans()}
    render, request = spans["template.render"], spans["GET /page"]
    assert render.parent is not None and render.parent.span_id == request.context.span_id
    assert dict(render.attributes or {}) == {"template": "page.html"}


def test_job_runs_durations_and_the_lease(tmp_path: Path) -> None:
    orchestrator = DefaultOrchestrator()
    runs: list[float] = []

    @orchestrator.every(seconds=0.1, id="tick")
    def tick() -> None:
        runs.append(time.monotonic())
        if len(runs) == 2:
            raise RuntimeError("the second run fails")

    server = reporting_app(tmp_path, ["observability", "scheduling"], orchestrator,
                           scheduling={"lock_file": str(tmp_path / "jobs.lock")}).build()
    exporter = InMemorySpanExporter()
    server.app.get_plugin("observability").tracer.provider.add_span_processor(SimpleSpanProcessor(exporter))
    with LiveServer(server) as live:
        deadline = time.monotonic() + 5
        while len(runs) < 4 and time.monotonic() < deadline:
            time.sleep(0.05)
        s = samples(httpx.get(live.url + "/metrics").text)
    done = value(s, "areion_job_runs_total", job="tick", outcome="success")
    assert value(s, "areion_job_runs_total", job="tick", outcome="failure") == 1
    assert done >= 2
    assert value(s, "areion_job_duration_seconds_count", job="tick") == done + 1
    assert value(s, "areion_job_lease_held") == 1
    job_spans = [span for span in exporter.get_finished_spans() if span.name == "job.run"]
    assert len(job_spans) >= 3 and all(dict(span.attributes or {})["job"] == "tick" for span in job_spans)
