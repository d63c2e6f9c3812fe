"""Apps for the observability tests: a few routes, the plugin selected by name (through discovery)."""

from __future__ import annotations

import asyncio
from typing import Any

from opentelemetry import trace
from prometheus_client.parser import text_string_to_metric_families

from areion_core import AreionServer, AreionServerBuilder, HttpRequest, NotFoundError, Router


def make_router() -> Router:
    router = Router()

    @router.get("/json")
    async def json_route(request: HttpRequest) -> dict[str, str]:
        return {"message": "Hello, World!"}

    @router.get("/users/:id")
    async def user(request: HttpRequest, id: int) -> dict[str, int]:
        return {"id": id}

    @router.get("/missing")
    async def missing(request: HttpRequest) -> None:
        raise NotFoundError("no such thing")

    @router.get("/boom")
    async def boom(request: HttpRequest) -> None:
        raise RuntimeError("boom")

    @router.get("/slow")
    async def slow(request: HttpRequest) -> str:
        await asyncio.sleep(float(request.query_params.get("s", "0.5")))
        return "slow"

    @router.post("/echo")
    async def echo(request: HttpRequest) -> bytes:
        return await request.body()

    @router.get("/traced")
    async def traced(request: HttpRequest) -> dict[str, str]:
        # A span of the handler's own, through app.telemetry: a child of the request's span.
        with request.app.telemetry.span("inner.async", step="one"):
            await asyncio.sleep(0)
            inner = trace.get_current_span().get_span_context()
        return {"inner": format(inner.span_id, "016x")}

    @router.get("/traced-sync")
    def traced_sync(request: HttpRequest) -> dict[str, str]:
        # A plain def handler runs in the thread pool, in a copy of the request's context.
        with request.app.telemetry.span("inner.sync"):
            inner = trace.get_current_span().get_span_context()
        return {"inner": format(inner.span_id, "016x")}

    return router


def make_server(config: dict[str, Any] | None = None, *, plugins: tuple[str, ...] = ("observability",),
                objects: tuple[Any, ...] = (), sections: dict[str, Any] | None = None,
                **core: Any) -> AreionServer:
    """The test app with ``plugins`` selected; ``config``: [plugins.observability], ``sections``: others."""
    builder = (AreionServerBuilder().with_router(make_router()).without_config_file()
               .with_config(plugins=list(plugins), **{"access_log": False, **core}))
    tables = {**(sections or {}), "observability": config or {}}
    builder.with_config({"plugins": tables})
    return builder.with_plugins(*objects).build()


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of a scrape (parsed by prometheus-client's own parser): (name, labels) -> value."""
    out: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return out


def value(scrape: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    """One sample's value (0 when absent: a counter nobody incremented is not exposed)."""
    return scrape.get((name, frozenset(labels.items())), 0.0)
