"""Every error Areion sends is an RFC 9457 problem (application/problem+json), on real sockets.

The server's own early errors (before any app code), the dispatcher's 400/404/405, HttpError
and its subclasses, and the ASGI adapter's 413: each body exact, each content type checked.
"""

from __future__ import annotations

import json
import socket
import time

import httpx
import pytest

from areion_core import BadRequestError, HttpError, Router
from tests.core._core_support import exchange, make_server, status_of


def _router() -> Router:
    r = Router()

    @r.get("/json")
    async def json_(request):
        return {"ok": True}

    @r.post("/echo")
    async def echo(request):
        return bytes(request.body)

    @r.get("/bad")
    async def bad(request):
        raise BadRequestError("the widget is upside down")

    @r.put("/stream", max_body_bytes=1000)
    async def stream(request):
        return {"bytes": sum([len(chunk) async for chunk in request.stream()])}

    @r.get("/items/{item_id}")
    async def item(request, item_id: int):
        return {"id": item_id}

    @r.get("/custom")
    async def custom(request):
        raise HttpError("slow down", 429, headers={"Retry-After": "3"})

    return r


def _problem(status: int, title: str, detail: str) -> dict[str, object]:
    return {"type": "about:blank", "title": title, "status": status, "detail": detail, "error": detail}


def _split(out: bytes) -> tuple[int, dict[str, str], dict[str, object]]:
    head, _, body = out.partition(b"\r\n\r\n")
    headers = {}
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    assert int(headers["content-length"]) == len(body), out
    return status_of(out), headers, json.loads(body)


EARLY = [
    ("414", {"max_url_bytes": 100}, b"GET /" + b"a" * 200 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
     _problem(414, "URI Too Long", "request target too long")),
    ("431", {"max_header_bytes": 1024}, b"GET /json HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 2000 + b"\r\n\r\n",
     _problem(431, "Request Header Fields Too Large", "request header fields too large")),
    ("413", {"max_body_bytes": 1000}, b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n",
     _problem(413, "Content Too Large", "request body too large")),
    ("400", {}, b"FOO / HTTP/1.1\r\nHost: x\r\n\r\n", _problem(400, "Bad Request", "invalid method")),
]


@pytest.mark.parametrize("name,limits,data,expected", EARLY, ids=[e[0] for e in EARLY])
def test_server_early_errors_are_problems(live, name, limits, data, expected):
    srv = live(_router(), limits=limits)
    status, headers, body = _split(exchange(srv.port, data))
    assert status == expected["status"]
    assert headers["content-type"] == "application/problem+json"
    assert headers["connection"] == "close"
    assert body == expected


@pytest.mark.parametrize("data,status,title", [
    (b"GET / HTTP/9.9\r\nHost: x\r\n\r\n", 505, "HTTP Version Not Supported"),
    (b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501, "Not Implemented"),
    (b"GET /json HTTP/1.1\r\n\r\n", 400, "Bad Request"),
])
def test_server_protocol_errors_are_problems(live, data, status, title):
    srv = live(_router())
    got_status, headers, body = _split(exchange(srv.port, data))
    assert got_status == status and headers["content-type"] == "application/problem+json"
    assert body["type"] == "about:blank" and body["title"] == title and body["status"] == status
    assert isinstance(body["detail"], str) and body["detail"] and body["error"] == body["detail"]


def test_header_timeout_408_is_a_problem(live):
    srv = live(_router(), limits={"header_timeout": 1})
    status, headers, body = _split(exchange(srv.port, b"GET /json HTTP/1.1\r\nHost: x\r\n", timeout=5))
    assert status == 408 and headers["content-type"] == "application/problem+json"
    assert body == _problem(408, "Request Timeout", "timed out reading the request")


def test_shed_503_is_a_problem(live):
    srv = live(_router(), limits={"max_connections": 1})
    held = socket.create_connection(("127.0.0.1", srv.port))
    try:
        time.sleep(0.2)
        status, headers, body = _split(exchange(srv.port, b"GET /json HTTP/1.1\r\nHost: x\r\n\r\n"))
    finally:
        held.close()
    assert status == 503 and headers["retry-after"] == "1"
    assert headers["content-type"] == "application/problem+json"
    assert body == _problem(503, "Service Unavailable", "Service Unavailable")


def test_dispatch_and_http_errors_are_problems(live):
    srv = live(_router())
    with httpx.Client(base_url=srv.url) as c:
        missing = c.get("/nope")
        assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"
        assert missing.json() == _problem(404, "Not Found", "Not Found")
        wrong = c.delete("/json")
        assert wrong.status_code == 405 and wrong.headers["content-type"] == "application/problem+json"
        assert wrong.json() == _problem(405, "Method Not Allowed", "Method Not Allowed")
        assert "GET" in wrong.headers["allow"]
        bad = c.get("/bad")
        assert bad.status_code == 400 and bad.json() == _problem(400, "Bad Request", "the widget is upside down")
        custom = c.get("/custom", headers={"Accept": "application/json"})
        assert custom.status_code == 429 and custom.headers["retry-after"] == "3"
        assert custom.headers["content-type"] == "application/problem+json"
        assert custom.json() == _problem(429, "Too Many Requests", "slow down")
        nul = c.get("/js%00on")
        assert nul.status_code == 400 and nul.json() == _problem(400, "Bad Request", "NUL in the path")


async def test_asgi_413_is_a_problem():
    sent: list[dict[str, object]] = []
    server = make_server(_router(), limits={"max_body_bytes": 10})
    asgi = server.asgi
    messages = [{"type": "http.request", "body": b"x" * 20, "more_body": False}]

    async def receive():
        return messages.pop(0)

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
             "path": "/echo", "raw_path": b"/echo", "query_string": b"", "headers": [], "root_path": ""}
    await asgi(scope, receive, send)
    assert sent[0]["status"] == 413
    assert (b"content-type", b"application/problem+json") in sent[0]["headers"]
    assert json.loads(sent[1]["body"]) == _problem(413, "Content Too Large", "request body too large")


def test_titles_are_rfc_9110_names_on_every_path(live):
    """The server's early 413 and the handler-side ones (a chunked body crossing the route's limit,
    an HttpError) share RFC 9110's phrases, whatever Python's http.HTTPStatus calls them (3.11 and
    3.12 say "Request Entity Too Large", "Unprocessable Entity", "Requested Range Not Satisfiable")."""
    from areion_core.problem import problem_response

    srv = live(_router())
    with httpx.Client(base_url=srv.url) as c:
        crossed = c.put("/stream", content=iter([b"x" * 600, b"x" * 600]))  # chunked: crosses mid-body
        assert crossed.status_code == 413 and crossed.json()["title"] == "Content Too Large"
        invalid = c.get("/items/seven")
        assert invalid.status_code == 422 and invalid.json()["title"] == "Unprocessable Content"
        # The status line's reason phrase is RFC 9110's too (httpx keeps the one sent).
        assert crossed.reason_phrase == "Content Too Large"
        assert invalid.reason_phrase == "Unprocessable Content"
    for status, title in ((413, "Content Too Large"), (414, "URI Too Long"), (416, "Range Not Satisfiable"),
                          (422, "Unprocessable Content"), (404, "Not Found")):
        assert json.loads(problem_response(status).body)["title"] == title
        assert HttpError(status_code=status).message == title
