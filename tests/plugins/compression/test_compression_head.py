"""HEAD is GET without the body: the same status and headers, compressed or not (RFC 9110 §9.3.2)."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import brotli
import pytest

from areion_core import StreamingResponse
from areion_core.testing import LiveServer
from tests.plugins.compression._compression_app import BIG_TEXT, decode, make_router, make_server
from tests.plugins.compression._head_get import comparable, head_then_get

ENCODINGS = ["identity", "gzip", "br", "gzip, deflate, br, zstd"]
SCRIPT = ("function greet(name) { return 'hello ' + name; }\n" * 80).encode()
STYLE = ("body { margin: 0; padding: 0; color: #333; }\n" * 80).encode()

#: Whether the tracked body was iterated, and the generator itself (to see it closed).
TRACKED: dict[str, Any] = {}


def _router() -> Any:
    router = make_router()

    @router.get("/tracked")
    async def tracked(request: Any) -> StreamingResponse:
        TRACKED["started"] = False

        async def body() -> AsyncIterator[str]:
            TRACKED["started"] = True
            yield BIG_TEXT

        gen = body()
        TRACKED["gen"] = gen
        return StreamingResponse(gen, content_type="text/plain")

    return router


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    static: Path = tmp_path_factory.mktemp("static")
    (static / "app.js").write_bytes(SCRIPT)
    (static / "app.js.br").write_bytes(brotli.compress(SCRIPT, quality=11))
    (static / "style.css").write_bytes(STYLE)  # no sibling: compressed on the fly
    (static / "big.txt").write_bytes(b"0123456789abcdef\n" * (5 * 1024 * 1024 // 17 + 1))
    app = make_server(static_dir=static, router=_router())
    app.app.set_access_log(False)  # its lines would reach the terminal after pytest's capture ends
    with LiveServer(app) as server:
        yield server


def _same(live: LiveServer, path: str, accept: str) -> tuple[dict[str, str], bytes]:
    ex = head_then_get(live.port, path, {"Accept-Encoding": accept})
    assert ex.head_status == ex.get_status
    assert comparable(ex.head_headers) == comparable(ex.get_headers)
    return dict(ex.get_headers), ex.get_body


@pytest.mark.parametrize("accept", ENCODINGS)
def test_buffered_head_matches_get(live: LiveServer, accept: str) -> None:
    headers, body = _same(live, "/text", accept)
    assert "accept-encoding" in headers["vary"].lower()
    assert int(headers["content-length"]) == len(body)
    if accept == "identity":
        assert "content-encoding" not in headers
        assert body == BIG_TEXT.encode()
    else:
        # The HEAD's Content-Length is the compressed length, not the identity one.
        assert len(body) < len(BIG_TEXT)
        assert decode(headers["content-encoding"], body) == BIG_TEXT.encode()


@pytest.mark.parametrize("accept", ENCODINGS)
@pytest.mark.parametrize("path", ["/stream", "/stream-sync"])
def test_streamed_head_matches_get(live: LiveServer, path: str, accept: str) -> None:
    headers, _ = _same(live, path, accept)
    # Length unknown: HEAD carries GET's framing header too (chunked, no Content-Length).
    assert headers["transfer-encoding"] == "chunked"
    assert "content-length" not in headers
    assert ("content-encoding" in headers) == (accept != "identity")


def test_streamed_head_never_runs_the_body(live: LiveServer) -> None:
    with socket.create_connection(("127.0.0.1", live.port), timeout=5) as sock:
        sock.sendall(b"HEAD /tracked HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    assert data.startswith(b"HTTP/1.1 200 ")
    assert data.endswith(b"\r\n\r\n") and data.count(b"\r\n\r\n") == 1  # headers only
    assert b"\r\nContent-Encoding: gzip\r\n" in data
    assert b"\r\nTransfer-Encoding: chunked\r\n" in data
    assert TRACKED["started"] is False
    assert TRACKED["gen"].ag_frame is None  # closed, not left for the garbage collector


@pytest.mark.parametrize("accept", ENCODINGS)
@pytest.mark.parametrize("name", ["app.js", "style.css"])
def test_file_head_matches_get(live: LiveServer, name: str, accept: str) -> None:
    headers, body = _same(live, f"/static/{name}", accept)
    assert int(headers["content-length"]) == len(body)
    if accept != "identity":
        assert len(body) < len(SCRIPT if name == "app.js" else STYLE)
    if name == "app.js" and "br" in accept:
        assert headers["content-encoding"] == "br"
        assert body == brotli.compress(SCRIPT, quality=11)  # the precompressed sibling's size


def test_large_file_head_is_chunked_like_get(live: LiveServer) -> None:
    headers, body = _same(live, "/static/big.txt", "gzip")
    assert headers["content-encoding"] == "gzip"
    assert headers["transfer-encoding"] == "chunked"
    assert "content-length" not in headers
    assert body.endswith(b"0\r\n\r\n")


def test_head_ignores_range_like_the_core(live: LiveServer) -> None:
    ex = head_then_get(live.port, "/static/style.css", {"Accept-Encoding": "gzip", "Range": "bytes=0-9"})
    assert ex.get_status == 206 and "content-encoding" not in dict(ex.get_headers)
    # RFC 9110 §14.2: Range is for GET only, so HEAD describes the full (compressed) GET.
    assert ex.head_status == 200
    head = dict(ex.head_headers)
    assert head["content-encoding"] == "gzip"
    plain = head_then_get(live.port, "/static/style.css", {"Accept-Encoding": "gzip"})
    assert head["content-length"] == dict(plain.get_headers)["content-length"]
    assert int(head["content-length"]) < len(STYLE)


def _one(port: int, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return data


@pytest.mark.parametrize("accept", ["identity", "gzip"])
def test_http10_stream_head_matches_get(live: LiveServer, accept: str) -> None:
    # HTTP/1.0 has no chunked coding: GET's body ends with the connection, and HEAD says so too.
    heads = []
    for method in (b"HEAD", b"GET"):
        data = _one(live.port, method + b" /stream HTTP/1.0\r\nAccept-Encoding: " + accept.encode() + b"\r\n\r\n")
        block, _, body = data.partition(b"\r\n\r\n")
        lines = [line for line in block.split(b"\r\n") if not line.lower().startswith(b"date:")]
        heads.append((lines, body))
    (head_lines, head_body), (get_lines, get_body) = heads
    assert head_lines == get_lines
    assert b"Connection: close" in head_lines and not any(b"Transfer-Encoding" in x for x in head_lines)
    assert head_body == b"" and get_body != b""
