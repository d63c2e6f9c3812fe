"""Server spans, as an in-memory exporter sees them: names, attributes, parents, the caller's trace."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from areion_core.testing import LiveServer
from tests.plugins.observability._observability_support import make_server

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
PARENT_ID = "b7ad6b7169203331"


class Traced:
    """A live server with tracing on and an in-memory exporter behind the plugin's provider."""

    def __init__(self, sampling: float = 1.0) -> None:
        self.server = make_server({"tracing": {"enabled": True, "exporter": "none", "sampling": sampling}})
        self.exporter = InMemorySpanExporter()
        plugin = self.server.app.get_plugin("observability")
        plugin.tracer.provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.live = LiveServer(self.server)

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return httpx.get(self.live.url + path, **kw)

    def spans(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())


@pytest.fixture
def traced() -> Iterator[Traced]:
    made = Traced()
    with made.live:
        yield made


def only_server_span(traced: Traced) -> ReadableSpan:
    servers = [s for s in traced.spans() if s.kind == SpanKind.SERVER]
    assert len(servers) == 1, traced.spans()
    return servers[0]


def test_a_server_span_per_request_with_the_http_semantic_conventions(traced: Traced) -> None:
    r = traced.get("/users/7?x=1", headers={"User-Agent": "probe/1"})
    assert r.status_code == 200
    span = only_server_span(traced)
    assert span.name == "GET /users/{id}"
    assert span.parent is None  # no traceparent: a new trace
    attrs = dict(span.attributes or {})
    assert attrs["http.request.method"] == "GET"
    assert attrs["http.route"] == "/users/{id}"
    assert attrs["http.response.status_code"] == 200
    assert attrs["url.path"] == "/users/7"
    assert attrs["url.query"] == "x=1"
    assert attrs["url.scheme"] == "http"
    assert attrs["client.address"] == "127.0.0.1"
    assert attrs["server.address"] == "127.0.0.1"
    assert attrs["server.port"] == traced.live.port
    assert attrs["user_agent.original"] == "probe/1"
    assert span.status.status_code == StatusCode.UNSET
    assert span.resource.attributes["service.name"] == "areion"


def test_the_incoming_traceparent_is_continued(traced: Traced) -> None:
    traced.get("/json", headers={"traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01"})
    span = only_server_span(traced)
    assert format(span.context.trace_id, "032x") == TRACE_ID
    assert span.parent is not None and format(span.parent.span_id, "016x") == PARENT_ID
    assert span.parent.is_remote


@pytest.mark.parametrize("path", ["/traced", "/traced-sync"])
def test_spans_opened_in_handlers_are_children_of_the_request_span(traced: Traced, path: str) -> None:
    r = traced.get(path, headers={"traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01"})
    assert r.status_code == 200
    server = only_server_span(traced)
    inner = [s for s in traced.spans() if s.kind == SpanKind.INTERNAL]
    assert [s.name for s in inner] == ["inner.async" if path == "/traced" else "inner.sync"]
    assert inner[0].parent is not None and inner[0].parent.span_id == server.context.span_id
    assert inner[0].context.trace_id == server.context.trace_id == int(TRACE_ID, 16)
    assert r.json()["inner"] == format(inner[0].context.span_id, "016x")
    if path == "/traced":
        assert dict(inner[0].attributes or {}) == {"step": "one"}


def test_errors_and_unmatched_requests(traced: Traced) -> None:
    assert traced.get("/boom").status_code == 500
    assert traced.get("/nowhere").status_code == 404
    boom, nowhere = sorted((s for s in traced.spans()), key=lambda s: s.start_time or 0)
    assert boom.name == "GET /boom" and boom.status.status_code == StatusCode.ERROR
    assert dict(boom.attributes or {})["http.response.status_code"] == 500
    assert nowhere.name == "GET"  # no route: the method alone (no raw path in span names)
    assert "http.route" not in dict(nowhere.attributes or {})
    assert dict(nowhere.attributes or {})["http.response.status_code"] == 404
    assert nowhere.status.status_code == StatusCode.UNSET  # a 4xx is the client's error


def test_health_probes_are_not_traced(traced: Traced) -> None:
    traced.get("/healthz")
    traced.get("/readyz")
    assert traced.spans() == []


def test_sampling_zero_records_only_what_a_sampled_caller_asks_for() -> None:
    made = Traced(sampling=0.0)
    with made.live:
        made.get("/json")
        made.get("/json", headers={"traceparent": f"00-{TRACE_ID}-{PARENT_ID}-00"})  # caller did not sample
        assert made.spans() == []
        made.get("/json", headers={"traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01"})
        assert [format(s.context.trace_id, "032x") for s in made.spans()] == [TRACE_ID]


class StartCounter(SpanProcessor):
    """Counts every span the SDK starts, sampled or not (on_start sees non-recording ones too)."""

    def __init__(self) -> None:
        self.started: list[str] = []

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        self.started.append(span.name)


def test_sampling_zero_starts_no_span_without_an_incoming_traceparent() -> None:
    made = Traced(sampling=0.0)
    counter = StartCounter()
    plugin = made.server.app.get_plugin("observability")
    plugin.tracer.provider.add_span_processor(counter)
    with made.live:
        for path in ("/json", "/users/3", "/nowhere"):
            made.get(path, headers={"X-Trace": "traceparent"})  # the name only as a value
        assert counter.started == []
        # Still honoured: a sampled caller's trace (header name in any case) gets its server span.
        made.get("/json", headers={"TraceParent": f"00-{TRACE_ID}-{PARENT_ID}-01"})
        assert counter.started == ["GET /json"]
    assert [format(s.context.trace_id, "032x") for s in made.spans()] == [TRACE_ID]


def test_an_app_with_tracing_off_never_imports_opentelemetry() -> None:
    # A fresh interpreter: serve a request with the plugin on (metrics, health) and tracing
    # off, then look at what was imported.
    code = textwrap.dedent("""
        import sys
        import httpx
        from areion_core import AreionServerBuilder, Router
        from areion_core.testing import LiveServer
        router = Router()
        router.add_route("/json", lambda request: {"ok": True}, methods=["GET"])
        server = (AreionServerBuilder().with_router(router).without_config_file()
                  .with_config(plugins=["observability"], access_log=False).build())
        with LiveServer(server) as live:
            assert httpx.get(live.url + "/json").status_code == 200
            assert httpx.get(live.url + "/metrics").status_code == 200
        print(sorted(name for name in sys.modules if name.split(".")[0] == "opentelemetry"))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout


def test_tracing_off_installs_no_tracer() -> None:
    server = make_server()
    plugin = server.app.get_plugin("observability")
    assert plugin.tracer is None
    assert server.app.telemetry.tracing is False
    with server.app.telemetry.span("anything") as span:
        assert span is None
