"""Security review of what the framework emits, checked on the wire of a real server.

- Error bodies in production carry no traceback, exception message or filesystem path
  (handlers, plugins, templates, static files); development mode shows the details.
- No public API that puts text into a response header can put a CR, LF or NUL on the wire:
  each raises ``ValueError`` where it is called, and a handler that tries gets a plain 500.
- Cookies: every attribute settable, SameSite validated, the combinations browsers reject
  (SameSite=None or Partitioned without Secure, prefix rules) refused up front.
- Request size limits are on by default, with the values README documents, and enforced.
"""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from areion_core import (
    AreionServerBuilder,
    ConfigError,
    FileResponse,
    HttpError,
    HttpResponse,
    Router,
    StreamingResponse,
    create_empty_response,
    create_error_response,
    create_html_response,
    create_json_response,
    create_redirect_response,
    create_text_response,
    hookimpl,
)
from areion_core.server.limits import ServerLimits
from areion_core.testing import LiveServer

REPO = Path(__file__).resolve().parents[2]
SECRET = "hunter2"
SECRET_PATH = "/srv/areion-app/config/secrets.env"
BOOM = f"cannot read {SECRET_PATH}: password={SECRET}"


# --- helpers ------------------------------------------------------------------------------


def build(router: Router, *plugins: Any, **config: Any) -> AreionServerBuilder:
    """A builder for ``router`` with no installed plugin unless ``config`` names some."""
    config.setdefault("plugins", [])
    builder = AreionServerBuilder().with_router(router).without_config_file().with_config(**config)
    return builder.with_access_log(False).with_plugins(*plugins)


@contextmanager
def serve(router: Router, *plugins: Any, engine: Any = None, **config: Any) -> Iterator[LiveServer]:
    builder = build(router, *plugins, **config)
    if engine is not None:
        builder.with_engine(engine)
    with LiveServer(builder.build()) as live:
        yield live


def exchange(port: int, data: bytes, timeout: float = 5.0) -> bytes:
    """Send raw bytes, read until the server closes the connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        out = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                chunk = sock.recv(65536)
            except (ConnectionResetError, TimeoutError):
                break
            if not chunk:
                break
            out += chunk
        return out


def get(port: int, path: str, extra: bytes = b"") -> bytes:
    return exchange(port, b"GET " + path.encode() + b" HTTP/1.1\r\nHost: t\r\n" + extra
                    + b"Connection: close\r\n\r\n")


def split(response: bytes) -> tuple[int, bytes, bytes]:
    """(status, header block, body) of one raw response."""
    head, _, body = response.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), head, body


def header_lines(head: bytes) -> list[bytes]:
    return head.split(b"\r\n")[1:]


# --- production error bodies ---------------------------------------------------------------


def leaks(body: bytes) -> list[str]:
    """What in ``body`` reveals internals: the secret, a path, a traceback, a source file."""
    text = body.decode("latin-1")
    found = [s for s in (SECRET, SECRET_PATH, "/srv/", "Traceback", 'File "', ".py", str(REPO),
                         "RuntimeError", "TemplateNotFound", "UndefinedError") if s in text]
    return found


class FailingPlugin:
    """A plugin whose response_ready hook raises with internals in the message."""

    name = "failing-plugin"

    @hookimpl
    def response_ready(self, request: Any, response: Any) -> Any:
        if request.path == "/plugin-fails":
            raise RuntimeError(BOOM)
        return None


def error_router(tmp_path: Path) -> Router:
    router = Router()

    @router.get("/raises")
    async def raises(request: Any) -> str:
        raise RuntimeError(BOOM)

    @router.get("/raises-sync", inline=False)
    def raises_sync(request: Any) -> str:
        raise OSError(2, "No such file or directory", SECRET_PATH)

    @router.get("/plugin-fails")
    async def plugin_fails(request: Any) -> str:
        return "fine"

    @router.get("/template-error")
    async def template_error(request: Any) -> Any:
        def lookup() -> str:
            raise RuntimeError(BOOM)
        return request.render_template("page.html", {"lookup": lookup})

    @router.get("/template-missing")
    async def template_missing(request: Any) -> Any:
        return request.render_template("no/such/template.html", {})

    @router.get("/template-stream-error")
    async def template_stream_error(request: Any) -> Any:
        def lookup() -> str:
            raise RuntimeError(BOOM)
        return request.stream_template("page.html", {"lookup": lookup})

    @router.get("/vanished")
    async def vanished(request: Any) -> FileResponse:
        path = tmp_path / "secrets.env"
        path.write_text(f"password={SECRET}")
        response = FileResponse(path)
        path.unlink()  # gone between the handler and the send
        return response

    return router


@contextmanager
def error_app(tmp_path: Path, development: bool) -> Iterator[LiveServer]:
    from areion_templates import DefaultEngine

    templates = tmp_path / "templates"
    templates.mkdir(exist_ok=True)
    (templates / "page.html").write_text("<p>{{ lookup() }}</p>\n")
    static = tmp_path / "static"
    static.mkdir(exist_ok=True)
    (static / "site.css").write_text("body{}")
    engine = DefaultEngine(templates_dir=str(templates))
    with serve(error_router(tmp_path), FailingPlugin(), engine=engine, plugins=["templates"],
               development=development, static_dir=str(static)) as live:
        yield live


# The exact problem+json bodies (RFC 9457, with the Areion 1.x "error" member) of a 500 and a 404.
INTERNAL_500 = (b'{"type":"about:blank","title":"Internal Server Error","status":500,'
                b'"detail":"Internal Server Error","error":"Internal Server Error"}')
NOT_FOUND_404 = b'{"type":"about:blank","title":"Not Found","status":404,"detail":"Not Found","error":"Not Found"}'
ERROR_PATHS = ["/raises", "/raises-sync", "/plugin-fails", "/template-error", "/template-missing",
               "/template-stream-error"]


def test_production_500s_say_only_internal_server_error(tmp_path: Path) -> None:
    with error_app(tmp_path, development=False) as live:
        for path in ERROR_PATHS:
            status, head, body = split(get(live.port, path))
            assert status == 500, (path, head)
            assert body == INTERNAL_500, (path, body)
            assert leaks(head + body) == [], (path, head + body)


def test_production_static_and_file_errors_reveal_no_path(tmp_path: Path) -> None:
    with error_app(tmp_path, development=False) as live:
        for path in ("/static/nope.css", "/static/../../etc/passwd", "/static/.env", "/vanished"):
            status, head, body = split(get(live.port, path))
            assert status == 404, (path, head)
            assert body == NOT_FOUND_404, (path, body)
            assert str(tmp_path).encode() not in head + body
        # The vanished file's error is an ordinary response: the connection stays usable.
        out = exchange(live.port, b"GET /vanished HTTP/1.1\r\nHost: t\r\n\r\n"
                       b"GET /static/site.css HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        assert out.count(b"HTTP/1.1 ") == 2 and out.startswith(b"HTTP/1.1 404 ") and out.endswith(b"body{}")


def test_development_mode_shows_the_details(tmp_path: Path) -> None:
    with error_app(tmp_path, development=True) as live:
        for path in ("/raises", "/raises-sync", "/plugin-fails"):
            status, head, body = split(get(live.port, path))
            assert status == 500 and b"text/html" in head, (path, head)
            assert b"Traceback" in body and SECRET_PATH.encode() in body, (path, body[:300])
            assert b"test_security.py" in body, (path, body)
        status, _, body = split(get(live.port, "/template-error"))
        assert status == 500 and b"page.html" in body and SECRET.encode() in body
        status, _, body = split(get(live.port, "/template-missing"))
        assert status == 500 and b"no/such/template.html" in body


def test_development_traceback_reaches_into_a_sync_handler(tmp_path: Path) -> None:
    with error_app(tmp_path, development=True) as live:
        _, _, body = split(get(live.port, "/raises-sync"))
    assert b"raises_sync" in body and b"test_security.py" in body


def test_malformed_request_answers_reveal_no_internals() -> None:
    router = Router()
    router.get("/ok")(lambda request: dict(request.query_params))
    with serve(router) as live:
        # Connection: close, so each answer is read to its end without waiting on keep-alive.
        for raw in (b"GET /%ff%fe HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
                    b"GET /ok HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Length: x\r\n\r\n",
                    b"GET /ok?a=%ff HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
                    b"BREW /ok HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
                    b"GET /ok HTTP/1.1\r\nHost: t\r\nConnection: close\r\nX: a\x00b\r\n\r\n"):
            status, head, body = split(exchange(live.port, raw))
            assert status == 400, (raw, head)
            assert leaks(head + body) == [] and b"codec" not in body and b"Error" not in body, (raw, body)


# --- header injection ------------------------------------------------------------------------

# Appended to a harmless value: each would start a header line of its own if it got through.
ATTACKS = {"crlf": "\r\nInjected: yes", "lf": "\nInjected: yes", "cr": "\rInjected: yes",
           "nul": "\x00Injected: yes"}


def _stream(value: str) -> HttpResponse:
    return StreamingResponse(iter([b"x"]), content_type=value)


def _file(tmp: Path, **kw: Any) -> HttpResponse:
    path = tmp / "file.txt"
    path.write_text("file")
    return FileResponse(path, **kw)


def _cookies_list(value: str) -> HttpResponse:
    response = HttpResponse("x")
    response.cookies = [f"raw={value}"]
    return response


def _with(change: Callable[[HttpResponse], Any]) -> HttpResponse:
    response = HttpResponse("x")
    change(response)
    return response


def _raise_http_error(value: str) -> HttpResponse:
    raise HttpError("nope", 403, headers={"X-Reason": value})


@dataclass(frozen=True)
class Sink:
    """A public way to put text into a response header, with a value it accepts."""

    name: str
    make: Callable[[str, Path], HttpResponse]
    safe: str = "ok-value"
    on_wire: bytes = b"ok-value"  # how the safe value shows in its header line
    status: int = 200  # the status of the response it makes with the safe value


EXPIRES = "Wed, 01 Jan 2031 00:00:00 GMT"
SINKS = [
    Sink("HttpResponse(headers=) value", lambda v, t: HttpResponse("x", headers={"X-Test": v})),
    Sink("HttpResponse(headers=) name", lambda v, t: HttpResponse("x", headers={f"X-{v}": "1"}),
         on_wire=b"X-Ok-Value: 1"),
    Sink("set_header", lambda v, t: _with(lambda r: r.set_header("X-Test", v))),
    Sink("set_header name", lambda v, t: _with(lambda r: r.set_header(f"X-{v}", "1")), on_wire=b"X-Ok-Value: 1"),
    Sink("set_headers", lambda v, t: _with(lambda r: r.set_headers({"X-Test": v}))),
    Sink("headers[...]", lambda v, t: _with(lambda r: r.headers.__setitem__("X-Test", v))),
    Sink("headers.update", lambda v, t: _with(lambda r: r.headers.update({"X-Test": v}))),
    Sink("headers.setdefault", lambda v, t: _with(lambda r: r.headers.setdefault("X-Test", v))),
    Sink("headers.add_vary", lambda v, t: _with(lambda r: r.headers.add_vary(v))),
    Sink("HttpResponse content_type", lambda v, t: HttpResponse("x", content_type=f"text/{v}")),
    Sink("StreamingResponse content_type", lambda v, t: _stream(f"text/{v}")),
    Sink("FileResponse content_type", lambda v, t: _file(t, content_type=f"text/{v}")),
    Sink("FileResponse filename", lambda v, t: _file(t, filename=f"{v}.txt")),
    Sink("FileResponse headers", lambda v, t: _file(t, headers={"X-Test": v})),
    Sink("create_redirect_response", lambda v, t: create_redirect_response(f"/{v}"), status=302),
    Sink("create_json_response", lambda v, t: create_json_response({}, headers={"X-Test": v})),
    Sink("create_text_response", lambda v, t: create_text_response("x", headers={"X-Test": v})),
    Sink("create_html_response", lambda v, t: create_html_response("x", headers={"X-Test": v})),
    Sink("create_empty_response", lambda v, t: create_empty_response(headers={"X-Test": v}), status=204),
    Sink("create_error_response", lambda v, t: create_error_response(400, headers={"X-Test": v}), status=400),
    Sink("HttpError(headers=)", lambda v, t: _raise_http_error(v), status=403),
    Sink("set_cookie name", lambda v, t: _with(lambda r: r.set_cookie(f"c-{v}", "1")), on_wire=b"c-ok-value=1"),
    Sink("set_cookie value", lambda v, t: _with(lambda r: r.set_cookie("c", v))),
    Sink("set_cookie path", lambda v, t: _with(lambda r: r.set_cookie("c", "1", path=f"/{v}"))),
    Sink("set_cookie domain", lambda v, t: _with(lambda r: r.set_cookie("c", "1", domain=f"{v}.example"))),
    Sink("set_cookie expires", lambda v, t: _with(lambda r: r.set_cookie("c", "1", expires=v)),
         safe=EXPIRES, on_wire=b"Expires=" + EXPIRES.encode()),
    Sink("set_cookie samesite", lambda v, t: _with(lambda r: r.set_cookie("c", "1", samesite=v)),
         safe="strict", on_wire=b"SameSite=Strict"),
    Sink("delete_cookie path", lambda v, t: _with(lambda r: r.delete_cookie("c", path=f"/{v}"))),
    Sink("delete_cookie domain", lambda v, t: _with(lambda r: r.delete_cookie("c", domain=f"{v}.example"))),
    Sink("response.cookies list", lambda v, t: _cookies_list(v)),
]


def injection_router(tmp_path: Path) -> Router:
    router = Router()

    @router.get("/sink/:index")
    async def sink(request: Any, index: int) -> HttpResponse:
        # The value arrives percent-encoded in the query string, as an attacker would send it.
        return SINKS[index].make(request.query_params["v"], tmp_path)

    return router


@pytest.fixture(scope="module")
def injection_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with serve(injection_router(tmp_path_factory.mktemp("inject"))) as live:
        yield live


@pytest.mark.parametrize("index", range(len(SINKS)), ids=[sink.name for sink in SINKS])
def test_every_header_sink_writes_a_harmless_value(injection_server: LiveServer, index: int) -> None:
    sink = SINKS[index]
    out = get(injection_server.port, f"/sink/{index}?v={quote(sink.safe)}")
    status, head, _ = split(out)
    assert status == sink.status, (sink.name, out[:300])
    assert any(sink.on_wire in line for line in header_lines(head)), (sink.name, head)


@pytest.mark.parametrize("attack", ATTACKS.values(), ids=list(ATTACKS))
@pytest.mark.parametrize("index", range(len(SINKS)), ids=[sink.name for sink in SINKS])
def test_no_header_sink_lets_cr_lf_or_nul_reach_the_wire(injection_server: LiveServer, tmp_path: Path,
                                                         index: int, attack: str) -> None:
    sink = SINKS[index]
    value = sink.safe + attack
    if sink.name != "response.cookies list":  # a plain list: checked when the head is written
        with pytest.raises(ValueError, match=r"invalid|not allowed|must be"):
            sink.make(value, tmp_path)
    out = get(injection_server.port, f"/sink/{index}?v={quote(value)}")
    assert b"Injected" not in out, (sink.name, out)
    # Every sink ends in a plain 500 (the cookies list when the head is framed, the others
    # when the value is set).
    assert split(out)[0] == 500 and split(out)[2] == INTERNAL_500, (sink.name, out)


@pytest.mark.parametrize("encoded", ["%0d%0aInjected:%20yes", "%0aInjected:%20yes", "%0dInjected:%20yes",
                                     "%00Injected:%20yes", "%E5%98%8A%E5%98%8DInjected:%20yes"])
def test_request_text_reflected_into_a_redirect_cannot_split_it(injection_server: LiveServer,
                                                                encoded: str) -> None:
    index = next(i for i, sink in enumerate(SINKS) if sink.name == "create_redirect_response")
    out = get(injection_server.port, f"/sink/{index}?v=home{encoded}")
    status, head, body = split(out)
    assert not any(line.lower().startswith(b"injected") for line in header_lines(head)), out
    assert b"\r\nInjected" not in out and b"\nInjected" not in out
    if encoded.startswith("%E5"):
        # U+560A U+560D: their low bytes are CR and LF; they are percent-encoded as UTF-8.
        assert status == 302
        assert b"\r\nLocation: /home%E5%98%8A%E5%98%8DInjected:%20yes\r\n" in head
    else:
        assert status == 500 and body == INTERNAL_500


def test_redirect_location_is_percent_encoded_not_raw() -> None:
    response = create_redirect_response("https://example.com/caf\u00e9 menu?q=\u65e5\u672c#top")
    assert response.headers["location"] == "https://example.com/caf%C3%A9%20menu?q=%E6%97%A5%E6%9C%AC#top"
    kept = "https://example.com/a/b?x=1&y=%2F#frag"
    assert create_redirect_response(kept).headers["location"] == kept
    with pytest.raises(ValueError, match="control characters"):
        create_redirect_response("/a\tb")


def test_status_codes_are_validated_and_the_reason_is_never_taken_from_the_app() -> None:
    response = HttpResponse("x")
    for bad in (1000, 99, "200 OK\r\nInjected: yes", True):
        with pytest.raises(ValueError, match="status code"):
            response.set_status_code(bad)  # type: ignore[arg-type]
    router = Router()
    router.get("/odd")(lambda request: HttpResponse("x", 599))
    with serve(router) as live:
        status, head, _ = split(get(live.port, "/odd"))
    assert status == 599 and head.startswith(b"HTTP/1.1 599 Unknown\r\n")


@pytest.mark.parametrize("attack", ATTACKS.values(), ids=list(ATTACKS))
def test_constant_headers_are_checked_when_the_app_is_built(monkeypatch: pytest.MonkeyPatch, attack: str) -> None:
    router = Router()
    with pytest.raises(ConfigError, match="server_header"):
        build(router).with_server_header(f"areion{attack}").build()
    with pytest.raises(ConfigError, match="global_headers"):
        build(router).with_global_headers({"X-Frame-Options": f"DENY{attack}"}).build()
    with pytest.raises(ConfigError, match="global_headers"):
        build(router).with_global_headers({f"X{attack}": "1"}).build()
    if "\x00" in attack:
        return  # an environment variable cannot hold a NUL
    monkeypatch.setenv("AREION_SERVER_HEADER", f"areion{attack}")
    with pytest.raises(ConfigError, match="server_header"):
        AreionServerBuilder().with_router(router).without_config_file().with_config(plugins=[]).build()


@pytest.mark.parametrize("name", ["Content-Length", "transfer-encoding", "Connection"])
def test_global_headers_cannot_carry_framing(name: str) -> None:
    with pytest.raises(ConfigError, match="the server writes those"):
        build(Router()).with_global_headers({name: "0"}).build()


def test_constant_headers_reach_the_wire_when_valid() -> None:
    router = Router()
    router.get("/")(lambda request: "x")
    builder = build(router).with_server_header("edge").with_global_headers({"X-Frame-Options": "DENY"})
    with LiveServer(builder.build()) as live:
        _, head, _ = split(get(live.port, "/"))
    assert b"\r\nServer: edge\r\n" in head and b"\r\nX-Frame-Options: DENY\r\n" in head


@pytest.mark.parametrize("section", [
    {"hit_header": "X-Cache\r\nInjected: yes"},
    {"hit_header": "X-Cache\x00"},
    {"cache_control": {"/x": "public\r\nInjected: yes"}},
    {"cache_control": {"/x": "max-age=60\nInjected: yes"}},
    {"static_cache_control": "public, max-age=60\r\nInjected: yes"},
])
def test_caching_plugin_header_settings_are_validated(section: dict[str, Any]) -> None:
    with pytest.raises(ConfigError, match=r"plugins\.caching"):
        build(Router(), plugins={"enabled": ["caching"], "caching": section}).build()


def test_caching_hit_header_name_reaches_the_wire() -> None:
    from areion_caching import cache

    router = Router()

    @router.get("/c")
    @cache(ttl=30)
    async def cached(request: Any) -> str:
        return "c"

    with serve(router, plugins={"enabled": ["caching"], "caching": {"hit_header": "X-Edge-Cache"}}) as live:
        get(live.port, "/c")
        _, head, _ = split(get(live.port, "/c"))
    assert b"\r\nX-Edge-Cache: HIT" in head


# --- cookies -------------------------------------------------------------------------------


def cookie_lines(response: bytes) -> list[bytes]:
    return [line[len(b"Set-Cookie: "):] for line in header_lines(split(response)[1])
            if line.startswith(b"Set-Cookie: ")]


def test_cookie_attributes_on_the_wire() -> None:
    when = datetime(2031, 5, 6, 7, 8, 9, tzinfo=UTC)
    router = Router()

    @router.get("/login")
    async def login(request: Any) -> HttpResponse:
        response = HttpResponse("ok")
        response.set_cookie("sid", "abc123", max_age=3600, expires=when, path="/app", domain="example.com",
                            secure=True, httponly=True, samesite="strict", partitioned=True)
        response.set_cookie("theme", "dark")
        response.set_cookie("__Host-token", "t0k", secure=True, samesite="None")
        response.delete_cookie("old", path="/app")
        response.delete_cookie("__Secure-x", secure=True)
        return response

    with serve(router) as live:
        lines = cookie_lines(get(live.port, "/login"))
    assert lines == [
        b"sid=abc123; Max-Age=3600; Expires=Tue, 06 May 2031 07:08:09 GMT; Path=/app; Domain=example.com; "
        b"Secure; HttpOnly; SameSite=Strict; Partitioned",
        b"theme=dark; Path=/; SameSite=Lax",
        b"__Host-token=t0k; Path=/; Secure; SameSite=None",
        b"old=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/app",
        b"__Secure-x=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/; Secure",
    ]


def test_cookie_expires_forms() -> None:
    response = HttpResponse()
    response.set_cookie("a", "1", expires=120)
    response.set_cookie("b", "1", expires=datetime(2030, 1, 2, 3, 4, 5))  # naive: taken as UTC
    response.set_cookie("c", "1", expires="Wed, 01 Jan 2031 00:00:00 GMT")
    assert response.cookies is not None
    a = parsedate_to_datetime(re.search(r"Expires=([^;]+)", response.cookies[0]).group(1))  # type: ignore[union-attr]
    assert abs((a - datetime.now(UTC)) - timedelta(seconds=120)) < timedelta(seconds=5)
    assert "Expires=Wed, 02 Jan 2030 03:04:05 GMT" in response.cookies[1]
    assert "Expires=Wed, 01 Jan 2031 00:00:00 GMT" in response.cookies[2]


@pytest.mark.parametrize("given,sent", [("strict", "Strict"), ("LAX", "Lax"), ("None", "None")])
def test_samesite_values_are_normalised(given: str, sent: str) -> None:
    response = HttpResponse()
    response.set_cookie("c", "1", samesite=given, secure=True)
    assert response.cookies == [f"c=1; Path=/; Secure; SameSite={sent}"]


@pytest.mark.parametrize("kwargs,message", [
    ({"samesite": "relaxed"}, "samesite must be"),
    ({"samesite": ""}, "samesite must be"),
    ({"samesite": "none"}, "requires secure=True"),
    ({"partitioned": True}, "requires secure=True"),
    ({"expires": True}, "expires"),
])
def test_cookie_combinations_browsers_reject_raise(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises((ValueError, TypeError), match=message):
        HttpResponse().set_cookie("c", "1", **kwargs)


@pytest.mark.parametrize("name,kwargs,message", [
    ("__Secure-id", {}, "prefix requires secure=True"),
    ("__Host-id", {}, "prefix requires secure=True"),
    ("__host-id", {}, "prefix requires secure=True"),
    ("__Host-id", {"secure": True, "path": "/app"}, "requires path='/'"),
    ("__Host-id", {"secure": True, "domain": "example.com"}, "and no domain"),
])
def test_cookie_name_prefixes_get_what_they_require(name: str, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        HttpResponse().set_cookie(name, "1", **kwargs)


@pytest.mark.parametrize("name,value", [
    ("", "1"), ("a b", "1"), ("a;b", "1"), ("a=b", "1"), ("caf\u00e9", "1"),
    ("c", "a b"), ("c", 'a"b'), ("c", "a,b"), ("c", "a;b"), ("c", "a\\b"), ("c", "caf\u00e9"), ("c", "\x7f"),
])
def test_cookie_names_and_values_must_be_encoded_first(name: str, value: str) -> None:
    with pytest.raises(ValueError, match="invalid cookie"):
        HttpResponse().set_cookie(name, value)


@pytest.mark.parametrize("attr", ["path", "domain", "expires"])
@pytest.mark.parametrize("value", ["a;b", "caf\u00e9", "a\x7fb", "a\tb"])
def test_cookie_attributes_refuse_separators_and_non_ascii(attr: str, value: str) -> None:
    with pytest.raises(ValueError, match=f"invalid cookie {attr.capitalize()}"):
        HttpResponse().set_cookie("c", "1", **{attr: value})


def test_readme_documents_cookie_security() -> None:
    readme = (REPO / "README.md").read_text()
    section = readme[readme.index("## Cookies"):]
    section = section[:section.index("\n## ", 1)]
    for needle in ("samesite", "secure", "httponly", "partitioned", "max_age", "expires", "domain", "path",
                   "SameSite=None", "__Host-", "ValueError"):
        assert needle in section, needle


# --- request size limits -------------------------------------------------------------------

_UNITS = {"KiB": 1024, "MiB": 1024 * 1024, "s": 1}


def readme_limits() -> dict[str, float]:
    """The defaults README's limits table documents, by ServerLimits field name."""
    readme = (REPO / "README.md").read_text()
    documented: dict[str, float] = {}
    for row in re.finditer(r"^\| ((?:`\w+`(?:, )?)+) \| ([^|]+) \|", readme, re.MULTILINE):
        names = re.findall(r"`(\w+)`", row.group(1))
        if not set(names) <= {f.name for f in fields(ServerLimits)}:
            continue  # another table (the plugins)
        values = [v.strip() for v in row.group(2).split(",") if v.strip()]
        if len(values) != len(names):  # "10,000": one value with a thousands separator
            values = [row.group(2).strip()]
        for name, value in zip(names, values, strict=True):
            number, _, unit = value.replace(",", "").partition(" ")
            documented[name] = float(number) * _UNITS.get(unit, 1)
    return documented


def test_default_limits_are_what_readme_documents() -> None:
    documented = readme_limits()
    defaults = ServerLimits()
    for name in ("max_url_bytes", "max_header_bytes", "max_headers", "max_body_bytes", "header_timeout",
                 "body_timeout", "keepalive_timeout", "max_connections", "shutdown_grace"):
        assert documented.get(name) == getattr(defaults, name), name
    assert (defaults.max_url_bytes, defaults.max_header_bytes, defaults.max_headers,
            defaults.max_body_bytes) == (8 * 1024, 16 * 1024, 100, 10 * 1024 * 1024)


@pytest.fixture(scope="module")
def default_server() -> Iterator[LiveServer]:
    """A server with no limits configured: what every app gets out of the box."""
    router = Router()

    @router.route("/echo", methods=["GET", "POST"])
    async def echo(request: Any) -> str:
        return f"{len(request.raw_path)} {len(request.body)}"

    with LiveServer(AreionServerBuilder().with_router(router).without_config_file()
                    .with_config(plugins=[]).with_access_log(False).build()) as live:
        yield live


def status(out: bytes) -> int:
    return int(out.split(b" ", 2)[1])


def test_url_limit_is_enforced_by_default(default_server: LiveServer) -> None:
    limit = ServerLimits().max_url_bytes
    fits = "/echo?q=" + "a" * (limit - len("/echo?q="))
    assert status(get(default_server.port, fits)) == 200
    assert status(get(default_server.port, fits + "a")) == 414


def test_header_limits_are_enforced_by_default(default_server: LiveServer) -> None:
    limits = ServerLimits()
    big = b"X-Big: " + b"b" * (limits.max_header_bytes - 64) + b"\r\n"
    assert status(get(default_server.port, "/echo", big)) == 200
    bigger = b"X-Big: " + b"b" * limits.max_header_bytes + b"\r\n"
    assert status(get(default_server.port, "/echo", bigger)) == 431
    many = b"".join(b"X-%d: 1\r\n" % i for i in range(limits.max_headers - 3))  # + Host, Connection
    assert status(get(default_server.port, "/echo", many)) == 200
    too_many = b"".join(b"X-%d: 1\r\n" % i for i in range(limits.max_headers + 1))
    assert status(get(default_server.port, "/echo", too_many)) == 431


def test_body_limit_is_enforced_by_default(default_server: LiveServer) -> None:
    limit = ServerLimits().max_body_bytes
    head = b"POST /echo HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
    out = exchange(default_server.port, head + b"Content-Length: %d\r\n\r\n" % limit + b"x" * limit, timeout=20)
    assert status(out) == 200 and out.endswith(b" %d" % limit)
    declared = exchange(default_server.port, head + b"Content-Length: %d\r\n\r\n" % (limit + 1))
    assert status(declared) == 413
    chunk = b"x" * (1024 * 1024)
    chunked = head + b"Transfer-Encoding: chunked\r\n\r\n" + (b"100000\r\n" + chunk + b"\r\n") * 11 + b"0\r\n\r\n"
    assert status(exchange(default_server.port, chunked, timeout=20)) == 413
