"""Requests and responses as handlers see them: headers, query, bodies, cookies, conversions, errors."""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import time
from http import HTTPStatus

import httpx
import pytest

from areion_core import (
    BadRequestError,
    ForbiddenError,
    HttpError,
    HttpRequest,
    HttpResponse,
    InternalServerError,
    MethodNotAllowedError,
    NotFoundError,
    Router,
    StreamingResponse,
    UnauthorizedError,
    create_empty_response,
    create_error_response,
    create_html_response,
    create_json_response,
    create_redirect_response,
    create_text_response,
)
from areion_core.headers import MutableHeaders
from areion_core.plugin_api import elapsed_ms, raw_header, raw_header_values
from areion_core.testing import TestClient
from tests.core._core_support import exchange, make_server

#: Part of the smoke suite run on every supported Python (scripts/smoke.sh).
pytestmark = pytest.mark.smoke


def _problem(status, title, detail):
    """The RFC 9457 body Areion sends, with the 1.x ``error`` member beside ``detail``."""
    return {"type": "about:blank", "title": title, "status": status, "detail": detail, "error": detail}


def client_for(router: Router, **config) -> TestClient:
    return TestClient(make_server(router, **config))


def test_headers_are_case_insensitive_and_multi_valued(live):
    r = Router()

    @r.get("/h")
    async def h(request):
        return {
            "accept": request.headers["ACCEPT"],
            "get_header": request.get_header("x-multi"),
            "all": request.headers.get_all("X-Multi"),
            "missing": request.get_header("x-none"),
        }

    srv = live(r)
    out = exchange(srv.port, b"GET /h HTTP/1.1\r\nHost: x\r\nAccept: text/plain\r\nX-Multi: 1\r\n"
                   b"x-multi: 2\r\nConnection: close\r\n\r\n")
    import json

    assert json.loads(out.partition(b"\r\n\r\n")[2]) == {
        "accept": "text/plain", "get_header": "1", "all": ["1", "2"], "missing": None}


def test_header_lookups_agree_in_any_case_before_and_after_the_index_is_built(live):
    # The first lookups scan the raw pairs (with the asked names' bytes cached across requests),
    # later ones use the index: every spelling of a name answers the same on either path.
    r = Router()

    @r.get("/h")
    async def h(request):
        names = ("X-Trace", "x-trace", "X-TRACE", "x-none", "X-Trace", "x-Trace")
        return [request.headers.get(name, "-") for name in names]

    srv = live(r)
    for value in (b"a1", b"b2"):
        out = exchange(srv.port, b"GET /h HTTP/1.1\r\nHost: x\r\nx-TRACE: " + value + b"\r\nX-Trace: later\r\n"
                       b"Connection: close\r\n\r\n")
        import json

        v = value.decode()
        assert json.loads(out.partition(b"\r\n\r\n")[2]) == [v, v, v, "-", v, v]


def test_elapsed_ms_is_the_time_since_a_reading_as_milliseconds_with_three_decimals():
    # Below a millisecond, below and above a second (the whole milliseconds looked up, then
    # formatted), with the call's own time (and a slow machine's pause) on top.
    for elapsed_us in (0, 114, 2_000, 999_250, 999_999, 1_000_000, 61_234_500):
        text = elapsed_ms(time.perf_counter_ns() - elapsed_us * 1000)
        assert re.fullmatch(r"(0|[1-9]\d*)\.\d{3}", text), text
        assert elapsed_us <= float(text) * 1000 + 0.5 < elapsed_us + 500_000, (elapsed_us, text)
    # A reading from the future (another clock) is no time at all, not a negative one.
    assert elapsed_ms(time.perf_counter_ns() + 10**9) == "0.000"
    # Readings beyond 64 bits and int subclasses take the Python arithmetic (the compiled
    # build's C path takes exact ints of 64 bits): the same text either way.
    now = time.perf_counter_ns()
    assert elapsed_ms(now + 2**70) == "0.000"
    far = elapsed_ms(now - 2**70)
    assert far.startswith(str(2**70 // 10**6)[:12]) and far[-4] == "."
    assert float(elapsed_ms(-(2**63))) >= (2**63 + now) / 1e6
    assert re.fullmatch(r"\d+\.\d{3}", elapsed_ms(True))


def test_raw_header_finds_the_first_value_of_a_name_in_any_case(live):
    r = Router()

    @r.get("/h")
    async def h(request):
        names = (b"x-trace", b"x-none", b"host", b"x-tracer")
        return [None if (v := raw_header(request.raw_headers, name)) is None else v.decode() for name in names]

    srv = live(r)
    out = exchange(srv.port, b"GET /h HTTP/1.1\r\nHost: x\r\nX-Tracer: no\r\nx-TRACE: a1\r\nX-Trace: later\r\n"
                   b"Connection: close\r\n\r\n")
    import json

    assert json.loads(out.partition(b"\r\n\r\n")[2]) == ["a1", None, "x", "no"]


def test_raw_header_values_finds_the_first_value_of_each_name_in_one_pass(live):
    r = Router()

    @r.get("/h")
    async def h(request):
        names = (b"x-trace", b"x-none", b"host", b"x-tracer", b"x-~trace")
        return [None if v is None else v.decode() for v in raw_header_values(request.raw_headers, names)]

    srv = live(r)
    # "X-^TRACE" differs from "x-~trace" by case and by the 0x20 bit of "^": not a letter, so
    # not the same name.
    out = exchange(srv.port, b"GET /h HTTP/1.1\r\nHost: x\r\nX-Tracer: no\r\nx-TRACE: a1\r\nX-Trace: later\r\n"
                   b"X-^TRACE: caret\r\nConnection: close\r\n\r\n")
    assert json.loads(out.partition(b"\r\n\r\n")[2]) == ["a1", None, "x", "no", None]
    assert raw_header_values([], (b"host",)) == (None,)
    assert raw_header_values([(b"Host", b"h")], ()) == ()
    with pytest.raises(TypeError):
        raw_header_values([(b"host",)], (b"host",))
    with pytest.raises(TypeError):
        raw_header_values([(b"host", b"h")], ("host",))


def test_received_ns_is_the_clock_read_when_the_request_was_made():
    before = time.perf_counter_ns()
    request = HttpRequest("GET", "/", "", [])
    after = time.perf_counter_ns()
    assert before <= request.received_ns <= after


def test_repeated_query_keys_are_kept():
    r = Router()

    @r.get("/q")
    async def q(request):
        return {
            "first": request.get_query_param("tag"),
            "all": request.get_query_params("tag"),
            "parsed": request.get_parsed_query_params(),
            "raw": request.get_raw_query_params(),
        }

    with client_for(r) as c:
        assert c.get("/q?tag=a&tag=b&x=%20y").json() == {
            "first": "a", "all": ["a", "b"], "parsed": {"tag": ["a", "b"], "x": " y"}, "raw": "tag=a&tag=b&x=%20y"}


def test_json_urlencoded_and_multipart_bodies():
    r = Router()

    @r.post("/parse")
    async def parse(request):
        body = request.get_parsed_body()
        if "file" in body:
            f = body["file"]
            return {"name": body["name"], "filename": f.filename, "type": f.content_type, "data": f.data.decode()}
        return body

    with client_for(r) as c:
        assert c.post("/parse", json={"a": [1, 2]}).json() == {"a": [1, 2]}
        assert c.post("/parse", data={"a": "1", "b": ["2", "3"]}).json() == {"a": "1", "b": ["2", "3"]}
        boundary = "XyZ"
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\nAda\r\n"
                f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\n"
                f"Content-Type: text/plain\r\n\r\nhello\r\n--{boundary}--\r\n")
        got = c.post("/parse", content=body, headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
        assert got.json() == {"name": "Ada", "filename": "a.txt", "type": "text/plain", "data": "hello"}
        bad = c.post("/parse", content="{not json", headers={"Content-Type": "application/json"})
        assert bad.status_code == 400 and "not valid JSON" in bad.json()["error"]
        bad_mp = c.post("/parse", content="garbage", headers={"Content-Type": "multipart/form-data; boundary=q"})
        assert bad_mp.status_code == 400


def test_await_request_body_and_stream():
    r = Router()

    @r.post("/b")
    async def b(request):
        data = await request.body()
        chunks = [c async for c in request.stream()]
        return {"body": data.decode(), "same": data == request.body, "chunks": len(chunks)}

    with client_for(r) as c:
        assert c.post("/b", content="abc").json() == {"body": "abc", "same": True, "chunks": 1}


def test_cookies_in_and_out(live):
    r = Router()

    @r.get("/c")
    async def c(request):
        resp = HttpResponse({"seen": request.cookies})
        resp.set_cookie("session", "abc123", max_age=3600, path="/", domain="example.com", secure=True,
                        httponly=True, samesite="strict")
        resp.set_cookie("theme", "dark", expires=60)
        resp.delete_cookie("old")
        return resp

    srv = live(r)
    response = httpx.get(srv.url + "/c", headers={"Cookie": "a=1; b=\"two\"; a=3"})
    assert response.json() == {"seen": {"a": "1", "b": "two"}}
    lines = response.headers.get_list("set-cookie")
    assert lines[0] == "session=abc123; Max-Age=3600; Path=/; Domain=example.com; Secure; HttpOnly; SameSite=Strict"
    assert lines[1].startswith("theme=dark; Expires=") and lines[1].endswith("GMT; Path=/; SameSite=Lax")
    assert lines[2].startswith("old=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT")


def test_cookie_values_that_need_encoding_are_refused():
    with pytest.raises(ValueError, match="invalid cookie value"):
        HttpResponse("x").set_cookie("a", "b;c")
    with pytest.raises(ValueError, match="requires secure"):
        HttpResponse("x").set_cookie("a", "b", samesite="none")


@dataclasses.dataclass
class Item:
    id: int
    name: str


@pytest.mark.parametrize("value,status,ctype,body", [
    ("text", 200, "text/plain; charset=utf-8", b"text"),
    ({"a": 1}, 200, "application/json", b'{"a":1}'),
    ([1, 2], 200, "application/json", b"[1,2]"),
    (Item(1, "x"), 200, "application/json", b'{"id":1,"name":"x"}'),
    (b"\x00\x01", 200, "application/octet-stream", b"\x00\x01"),
    (None, 204, None, b""),
])
def test_return_values_are_converted(value, status, ctype, body):
    r = Router()
    r.add_route("/v", lambda request: value, inline=True)
    with client_for(r) as c:
        got = c.get("/v")
    assert got.status_code == status
    assert got.headers.get("content-type") == ctype
    assert got.content == body
    if status == 204:
        assert "content-length" not in got.headers


def test_a_dataclass_class_is_recognised_once_and_each_of_its_values_still_sent_as_itself():
    @dataclasses.dataclass
    class Point:
        x: int
        y: int

    class Plain:  # not JSON: never remembered as JSON
        def __str__(self) -> str:
            return "plain"

    r = Router()
    r.add_route("/p/:x", lambda request, x: Point(int(x), -int(x)), inline=True)
    r.add_route("/plain", lambda request: Plain(), inline=True)
    with client_for(r) as c:
        got = [c.get(f"/p/{i}") for i in (1, 2, 3)]
        plain = [c.get("/plain") for _ in range(2)]
    assert [g.json() for g in got] == [{"x": 1, "y": -1}, {"x": 2, "y": -2}, {"x": 3, "y": -3}]
    assert {g.headers["content-type"] for g in got} == {"application/json"}
    assert [g.status_code for g in plain] == [500, 500]  # an unsupported value, as before


def test_async_iterator_return_is_streamed():
    r = Router()

    @r.get("/s")
    async def s(request):
        async def gen():
            yield "a"
            yield b"b"
        return gen()

    with client_for(r) as c:
        got = c.get("/s")
    assert got.headers["transfer-encoding"] == "chunked"
    assert got.chunks == [b"a", b"b"]


def test_response_helpers():
    assert create_json_response({"a": 1}).body == b'{"a":1}'
    assert create_text_response("hi", 201).status_code == 201
    assert create_html_response("<b>").headers["content-type"] == "text/html; charset=utf-8"
    redirect = create_redirect_response("/there")
    assert redirect.status_code == 302 and redirect.headers["Location"] == "/there"
    with pytest.raises(ValueError, match="redirect status must be"):
        create_redirect_response("/x", 200)
    teapot = create_error_response(418, "teapot")
    assert teapot.body == (b'{"type":"about:blank","title":"I\'m a Teapot","status":418,'
                           b'"detail":"teapot","error":"teapot"}')
    assert teapot.headers["content-type"] == "application/problem+json"
    assert create_error_response(302, "old").body == b'{"error":"old"}'  # no problem status: 1.x body
    empty = create_empty_response(headers={"X-A": "1"})
    assert empty.status_code == 204 and empty.body == b""


def test_response_headers_reject_crlf_and_nul():
    response = HttpResponse("x")
    for bad in ("a\r\nb", "a\nb", "a\rb", "a\x00b"):
        with pytest.raises(ValueError, match="invalid character in response header 'X-Test'"):
            response.set_header("X-Test", bad)
    with pytest.raises(ValueError, match="invalid response header name 'Bad Name'"):
        response.set_header("Bad Name", "v")
    with pytest.raises(ValueError, match="invalid character in response header 'X-A'"):
        HttpResponse("x", headers={"X-A": "1\r\nX-B: 2"})
    headers = MutableHeaders({"Vary": "Cookie"})
    headers.add_vary("Accept-Encoding", "cookie")
    assert headers["vary"] == "Cookie, Accept-Encoding"


@pytest.mark.parametrize("exc,status", [
    (BadRequestError, 400), (UnauthorizedError, 401), (ForbiddenError, 403), (NotFoundError, 404),
    (MethodNotAllowedError, 405), (InternalServerError, 500),
])
def test_http_errors_become_their_status(exc, status):
    r = Router()

    @r.get("/e")
    async def e(request):
        raise exc("custom message")

    with client_for(r) as c:
        got = c.get("/e")
    assert got.status_code == status
    assert got.headers["content-type"] == "application/problem+json"
    assert got.json() == _problem(status, HTTPStatus(status).phrase, "custom message")


def test_custom_http_error_subclass():
    class TeapotError(HttpError):
        status_code = 418

    r = Router()

    @r.get("/t")
    async def t(request):
        raise TeapotError(headers={"X-Tea": "earl grey"})

    with client_for(r) as c:
        got = c.get("/t")
    assert got.status_code == 418
    assert got.headers["x-tea"] == "earl grey"
    assert got.headers["content-type"] == "application/problem+json"
    assert got.json() == _problem(418, "I'm a Teapot", "I'm a Teapot")


def test_unhandled_exception_is_500_that_leaks_nothing(caplog):
    r = Router()

    @r.get("/boom")
    async def boom(request):
        raise RuntimeError("database password is hunter2")

    with caplog.at_level(logging.ERROR, logger="areion"), client_for(r) as c:
        got = c.get("/boom")
    assert got.status_code == 500
    assert got.json() == _problem(500, "Internal Server Error", "Internal Server Error")
    assert "hunter2" not in got.text
    assert "hunter2" in caplog.text and "Traceback" in caplog.text


def test_development_mode_shows_a_traceback_page():
    r = Router()

    @r.get("/boom")
    async def boom(request):
        raise RuntimeError("<script>x</script>")

    with client_for(r, development=True) as c:
        got = c.get("/boom")
    assert got.status_code == 500
    assert got.headers["content-type"].startswith("text/html")
    assert "RuntimeError" in got.text and "Traceback" in got.text
    assert "<script>x</script>" not in got.text  # escaped


def test_sync_handlers_run_in_the_thread_pool_unless_inline():
    import threading

    r = Router()

    @r.get("/pooled")
    def pooled(request):
        return threading.current_thread().name

    @r.get("/inline", inline=True)
    def inline(request):
        return threading.current_thread().name

    with client_for(r) as c:
        assert c.get("/pooled").text.startswith("areion-sync")
        assert not c.get("/inline").text.startswith("areion-sync")


def test_streaming_response_from_sync_iterator():
    r = Router()

    @r.get("/s")
    async def s(request):
        return StreamingResponse(iter([b"x", "y"]), content_type="text/plain")

    with client_for(r) as c:
        assert c.get("/s").content == b"xy"


def test_as_dict_and_metadata():
    r = Router()

    def add_meta(handler):
        async def wrapper(request, *a, **kw):
            request.add_metadata("user", "ada")
            return await handler(request, *a, **kw)
        return wrapper

    @r.get("/d", middlewares=[add_meta])
    async def d(request):
        data = request.as_dict()
        return {"user": request.get_metadata("user"), "method": data["method"], "query": data["query_params"]}

    with client_for(r) as c:
        assert c.get("/d?a=1").json() == {"user": "ada", "method": "GET", "query": {"a": "1"}}


def test_stream_failing_before_its_first_chunk_is_a_proper_500():
    r = Router()

    @r.get("/s")
    async def s(request):
        async def gen():
            raise LookupError("no such template")
            yield b"never"  # pragma: no cover
        return StreamingResponse(gen())

    @r.get("/mid")
    async def mid(request):
        async def gen():
            yield b"first"
            raise LookupError("later")
        return StreamingResponse(gen())

    with client_for(r) as c:
        early = c.get("/s")
        assert early.status_code == 500 and early.json()["error"] == "Internal Server Error"
        assert early.json()["detail"] == "Internal Server Error" and early.json()["status"] == 500
        responses, closed = c.raw(b"GET /mid HTTP/1.1\r\nHost: x\r\n\r\n")
    # Headers were out: the body is left unterminated and the connection closed.
    assert closed and responses == []


def test_a_header_added_to_a_preencoded_block_is_appended_to_it_alone():
    from areion_core.headers import encode_head

    template = MutableHeaders({"Content-Type": "application/json"})
    template.preencode()
    first, second = template.copy(), template.copy()
    first["X-Request-ID"] = "abc"
    first["x-two"] = "2"
    first["Content-Length"] = "5"  # framing: kept out of the block, as always
    response = HttpResponse(b"{}")
    response.headers = first
    assert encode_head(response, b"", keep_alive=True, content_length=2) == (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Request-ID: abc\r\nX-Two: 2\r\n"
        b"Content-Length: 2\r\n\r\n")
    # The appended block is what encoding the headers afresh gives.
    assert first.encoded() == MutableHeaders.trusted(dict(first.items_lower())).encoded()
    # The template and the other copy never see the additions.
    assert dict(template) == dict(second) == {"content-type": "application/json"}
    assert template.encoded() == second.encoded() == b"Content-Type: application/json\r\n"
    # Changing a line the block already holds re-encodes it.
    first["X-Request-ID"] = "def"
    assert b"X-Request-ID: def\r\n" in first.encoded() and b"abc" not in first.encoded()


def test_lines_added_to_a_preencoded_block_keep_their_order_through_copies_and_merges():
    from areion_core.headers import encode_head

    template = MutableHeaders({"Content-Type": "text/plain"})
    template.preencode()
    block = template.copy()
    block["X-Request-ID"] = "abc"
    block["X-Name"] = "caf\xe9"  # latin-1 beyond ASCII: one byte on the wire
    copied = block.copy()  # shares the added lines until one of the two changes
    copied["X-Late"] = "1"
    defaults = MutableHeaders({"X-Frame-Options": "DENY"})
    defaults.preencode()
    block.add_missing(defaults)
    block["X-After"] = "2"
    expected = (b"Content-Type: text/plain\r\nX-Request-ID: abc\r\nX-Name: caf\xe9\r\n"
                b"X-Frame-Options: DENY\r\nX-After: 2\r\n")
    assert block.encoded() == expected
    assert block.encoded() == MutableHeaders.trusted(dict(block.items_lower())).encoded()
    response = HttpResponse(b"hi")
    response.headers = block
    assert encode_head(response, b"", keep_alive=True, content_length=2) == (
        b"HTTP/1.1 200 OK\r\n" + expected + b"Content-Length: 2\r\n\r\n")
    assert copied.encoded() == (b"Content-Type: text/plain\r\nX-Request-ID: abc\r\nX-Name: caf\xe9\r\n"
                                b"X-Late: 1\r\n")
    assert template.encoded() == b"Content-Type: text/plain\r\n"
    # Removing an added line re-encodes the block without it.
    del block["x-name"]
    assert block.encoded() == expected.replace(b"X-Name: caf\xe9\r\n", b"")


def test_add_missing_adds_only_absent_headers_to_plain_and_preencoded_blocks():
    defaults = MutableHeaders({"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"})
    plain = MutableHeaders({"Referrer-Policy": "same-origin"})
    plain.add_missing(defaults)
    assert dict(plain) == {"referrer-policy": "same-origin", "x-content-type-options": "nosniff"}
    template = MutableHeaders({"Content-Type": "application/json"})
    template.preencode()
    copy = template.copy()
    copy.add_missing(defaults)
    assert copy.encoded() == (b"Content-Type: application/json\r\nX-Content-Type-Options: nosniff\r\n"
                              b"Referrer-Policy: no-referrer\r\n")
    assert dict(template) == {"content-type": "application/json"}  # the shared block is untouched
    assert dict(defaults) == {"x-content-type-options": "nosniff", "referrer-policy": "no-referrer"}


def test_add_all_if_absent_adds_a_block_whole_or_not_at_all():
    block = MutableHeaders({"Vary": "Origin", "Access-Control-Allow-Origin": "http://a.test"})
    block.preencode()
    template = MutableHeaders({"Content-Type": "application/json"})
    template.preencode()
    copy = template.copy()
    assert copy.add_all_if_absent(block) is True
    assert copy.encoded() == (b"Content-Type: application/json\r\nVary: Origin\r\n"
                              b"Access-Control-Allow-Origin: http://a.test\r\n")
    assert dict(template) == {"content-type": "application/json"}  # the shared block is untouched
    plain = MutableHeaders({"Content-Type": "text/plain"})
    assert plain.add_all_if_absent(block) is True
    assert dict(plain) == {"content-type": "text/plain", "vary": "Origin", "access-control-allow-origin": "http://a.test"}
    # One name in common: nothing at all is added, the caller merges its own way.
    varied = MutableHeaders({"Vary": "Accept-Encoding"})
    varied.preencode()
    assert varied.add_all_if_absent(block) is False
    assert dict(varied) == {"vary": "Accept-Encoding"}
    assert varied.encoded() == b"Vary: Accept-Encoding\r\n"


def test_preencoded_headers_are_shared_until_written_then_copied():
    from areion_core.writing import encode_head

    template = MutableHeaders({"Content-Type": "application/json", "ETag": '"abc"'})
    template.preencode()
    first, second = template.copy(), template.copy()
    response = HttpResponse(b"{}")
    response.headers = first
    head = encode_head(response, b"", keep_alive=True, content_length=2)
    assert head == (b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nETag: "abc"\r\n'
                    b"Content-Length: 2\r\n\r\n")
    # A write to one copy changes that copy only, and what it encodes to.
    first["ETag"] = '"changed"'
    first["X-Extra"] = "1"
    del second["etag"]
    assert template["etag"] == '"abc"' and "x-extra" not in template and "etag" in template.copy()
    head = encode_head(response, b"", keep_alive=True, content_length=2)
    assert b'ETag: "changed"\r\n' in head and b"X-Extra: 1\r\n" in head and b'"abc"' not in head
    assert "etag" not in second
    # Writing to the template itself does not reach copies already made.
    third = template.copy()
    template.pop("etag")
    assert third["etag"] == '"abc"' and "etag" not in template
    # Framing headers stay the server's even in a pre-encoded block.
    framed = MutableHeaders({"Content-Length": "999", "Connection": "close", "X-A": "1"})
    framed.preencode()
    response.headers = framed.copy()
    head = encode_head(response, b"", keep_alive=True, content_length=2)
    assert b"999" not in head and b"Connection" not in head and b"X-A: 1\r\n" in head


def test_a_response_that_cannot_be_framed_becomes_a_500_and_the_connection_goes_on():
    router = Router()

    @router.get("/raw-cookie")
    async def raw_cookie(request):
        response = HttpResponse("x")
        response.cookies = ["a=1\r\nInjected: yes"]  # the plain list, bypassing set_cookie()
        return response

    @router.get("/bad-status")
    async def bad_status(request):
        response = HttpResponse("x")
        response.status_code = 1000  # set directly, bypassing set_status_code()
        return response

    @router.get("/ok")
    async def ok(request):
        return "ok"

    with TestClient(make_server(router)) as client:
        responses, closed = client.raw(
            b"GET /raw-cookie HTTP/1.1\r\nHost: t\r\n\r\n"
            b"GET /bad-status HTTP/1.1\r\nHost: t\r\n\r\n"
            b"GET /ok HTTP/1.1\r\nHost: t\r\n\r\n", expect=3)
    assert [r.status_code for r in responses] == [500, 500, 200] and not closed
    assert all(b"Injected" not in r.content and "injected" not in r.headers for r in responses)
    assert responses[2].text == "ok"


def test_a_header_set_on_a_preencoded_block_is_checked_like_any_other():
    import pytest

    template = MutableHeaders({"Content-Type": "application/json"})
    template.preencode()
    block = template.copy()
    block["X-Id"] = "ok"  # the name is now cached as valid: its values are still checked
    for bad in ("a\r\nSet-Cookie: x=1", "a\nb", "nul\x00", "\x7f"):
        with pytest.raises(ValueError, match="invalid character"):
            block["X-Id"] = bad
    with pytest.raises(ValueError, match="invalid response header name"):
        block["Bad Name"] = "1"
    for name in ("Set-Cookie", "set-cookie"):  # refused every time, not only the first
        with pytest.raises(ValueError, match="set_cookie"):
            block[name] = "a=1"
    block["X-Count"] = 3  # not a string: str() of it, checked the same way
    block["X-Latin"] = "caf\xe9"
    assert block.encoded() == (b"Content-Type: application/json\r\nX-Id: ok\r\nX-Count: 3\r\n"
                               b"X-Latin: caf\xe9\r\n")
    assert block.encoded() == MutableHeaders.trusted(dict(block.items_lower())).encoded()
    assert template.encoded() == b"Content-Type: application/json\r\n"


def test_one_off_header_values_never_fill_the_line_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    from areion_core import headers as headers_module

    lines: dict[tuple[str, str], bytes] = {}
    monkeypatch.setattr(headers_module, "_LINES", lines)
    monkeypatch.setattr(headers_module, "_ONCE", set())
    # More one-off values (a request id per response) than the cache holds: none is cached ...
    for n in range(headers_module._CACHE_LIMIT + 10):
        block = MutableHeaders({"Content-Type": "text/plain", "X-Request-ID": f"{n:032x}"})
        assert block.encoded() == f"Content-Type: text/plain\r\nX-Request-ID: {n:032x}\r\n".encode()
    assert [item for item in lines if item[0] == "x-request-id"] == []
    # ... and a line that repeats is cached from its second use on, after all of them.
    assert lines == {("content-type", "text/plain"): b"Content-Type: text/plain\r\n"}
    repeated = MutableHeaders({"Cache-Control": "no-store"})
    repeated.encoded()
    assert ("cache-control", "no-store") not in lines
    assert repeated.encoded() == b"Cache-Control: no-store\r\n"
    assert lines[("cache-control", "no-store")] == b"Cache-Control: no-store\r\n"
