"""openapi.json documents what goes on the wire beyond annotations: text/html for a handler that
renders HTML (or a route's media_type=), raw request bodies a route declares, binary uploads,
the 413 of max_body_bytes= and the 503 of timeout=."""

from __future__ import annotations

from areion_core import Router, create_html_response
from areion_core.testing import TestClient
from tests.plugins.openapi._openapi_support import build_server, valid

PROBLEM_REF = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Error"}}}


def _router() -> Router:
    r = Router()

    @r.get("/page")
    async def page(request) -> object:
        return create_html_response("<h1>hi</h1>")

    @r.get("/rendered")
    async def rendered(request):
        return request.render_template("x.html", {})

    @r.get("/csv", media_type="text/csv")
    async def csv(request) -> str:
        return "a,b\n"

    @r.get("/data")
    async def data(request) -> dict[str, int]:
        return {"a": 1}

    @r.post("/echo", request_body={"content": {"application/json": {"schema": {"type": "object"}}},
                                   "required": True})
    async def echo(request) -> object:
        return request.get_parsed_body()

    @r.put("/upload", max_body_bytes=1024)
    async def upload(request) -> dict[str, int]:
        return {"bytes": sum([len(c) async for c in request.stream()])}

    @r.post("/form")
    async def form(request) -> dict[str, int]:
        return {"fields": len(await request.form())}

    @r.get("/slow", timeout=1.5)
    async def slow(request) -> dict[str, int]:
        return {}

    return r


def _document() -> dict:
    with TestClient(build_server(_router())) as client:
        return valid(client.get("/openapi.json").json())


def test_html_handlers_and_declared_media_types():
    paths = _document()["paths"]
    assert paths["/page"]["get"]["responses"]["200"]["content"] == {"text/html": {"schema": {"type": "string"}}}
    assert paths["/rendered"]["get"]["responses"]["200"]["content"] == {"text/html": {"schema": {"type": "string"}}}
    assert paths["/csv"]["get"]["responses"]["200"]["content"] == {"text/csv": {"schema": {"type": "string"}}}
    assert list(paths["/data"]["get"]["responses"]["200"]["content"]) == ["application/json"]


def test_declared_raw_request_body():
    body = _document()["paths"]["/echo"]["post"]["requestBody"]
    assert body == {"content": {"application/json": {"schema": {"type": "object"}}}, "required": True}


def test_core_errors_of_route_options():
    paths = _document()["paths"]
    upload = paths["/upload"]["put"]["responses"]["413"]
    assert upload["content"] == PROBLEM_REF and "1024 bytes" in upload["description"]
    slow = paths["/slow"]["get"]["responses"]["503"]
    assert slow["content"] == PROBLEM_REF and "1.5 s" in slow["description"]
    assert "413" not in paths["/slow"]["get"]["responses"] and "503" not in paths["/upload"]["put"]["responses"]
    assert {"400", "413", "415"} <= set(paths["/form"]["post"]["responses"])


def test_binary_request_body():
    from areion_openapi import request_body

    r = Router()

    @r.put("/blob")
    @request_body(bytes, content_type="application/octet-stream")
    async def blob(request) -> dict[str, int]:
        return {}

    with TestClient(build_server(r)) as client:
        doc = valid(client.get("/openapi.json").json())
    content = doc["paths"]["/blob"]["put"]["requestBody"]["content"]
    assert content == {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}
