"""Real clients decode what we send: httpx (brotli, zstd installed) and curl --compressed."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator

import brotli
import httpx
import orjson
import pytest

from areion_core.testing import LiveServer
from tests.plugins.compression._compression_app import ALGORITHMS, BIG_JSON, BIG_TEXT, SSE_EVENTS, make_server

SCRIPT = ("export const answer = () => 42;\n" * 100).encode()


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    static = tmp_path_factory.mktemp("static")
    (static / "app.js").write_bytes(SCRIPT)
    (static / "app.js.br").write_bytes(brotli.compress(SCRIPT, quality=11))
    with LiveServer(make_server(static_dir=static)) as server:
        yield server


# --- httpx ----------------------------------------------------------------------------------


def test_httpx_default_header_gets_brotli(live: LiveServer) -> None:
    # httpx advertises "gzip, deflate, br, zstd" when brotli and zstandard are installed.
    r = httpx.get(live.url + "/json")
    assert r.headers["content-encoding"] == "br"
    assert r.json() == BIG_JSON
    with httpx.stream("GET", live.url + "/json") as raw_response:
        raw = b"".join(raw_response.iter_raw())  # the bytes on the wire, before decoding
    assert int(raw_response.headers["content-length"]) == len(raw)
    assert orjson.loads(brotli.decompress(raw)) == BIG_JSON


@pytest.mark.parametrize("encoding", ALGORITHMS)
def test_httpx_decodes_each_algorithm(live: LiveServer, encoding: str) -> None:
    with httpx.Client() as client:
        r = client.get(live.url + "/text", headers={"Accept-Encoding": encoding})
        assert r.headers["content-encoding"] == encoding
        assert r.text == BIG_TEXT
        stream = client.get(live.url + "/stream", headers={"Accept-Encoding": encoding})
        assert stream.headers["content-encoding"] == encoding
        assert stream.text == "".join(SSE_EVENTS)


def test_httpx_precompressed_file(live: LiveServer) -> None:
    r = httpx.get(live.url + "/static/app.js", headers={"Accept-Encoding": "br"})
    assert r.headers["content-encoding"] == "br"
    assert r.content == SCRIPT


def test_httpx_keep_alive_with_mixed_encodings(live: LiveServer) -> None:
    # Several encodings on one connection: framing (Content-Length / chunked) must stay exact.
    with httpx.Client() as client:
        for encoding in (*ALGORITHMS, "identity", "br"):
            r = client.get(live.url + "/json", headers={"Accept-Encoding": encoding})
            assert orjson.loads(r.content) == BIG_JSON
            r = client.get(live.url + "/stream", headers={"Accept-Encoding": encoding})
            assert r.text == "".join(SSE_EVENTS)


# --- curl -------------------------------------------------------------------------------------

needs_curl = pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")


def _curl(*args: str) -> tuple[str, bytes]:
    """Run curl; return the response head (as text) and the body it wrote."""
    done = subprocess.run(
        ["curl", "--silent", "--show-error", "--max-time", "20", "--dump-header", "-", *args],
        capture_output=True, check=True, timeout=30,
    )
    head, _, body = done.stdout.partition(b"\r\n\r\n")
    return head.decode("latin-1").lower(), body


@needs_curl
def test_curl_compressed_decodes_json(live: LiveServer) -> None:
    head, body = _curl("--compressed", live.url + "/json")
    assert "content-encoding: " in head  # curl asked for compression and got it
    assert orjson.loads(body) == BIG_JSON


@needs_curl
@pytest.mark.parametrize("encoding", ALGORITHMS)
def test_curl_decodes_each_algorithm(live: LiveServer, encoding: str) -> None:
    head, body = _curl("--compressed", "-H", f"Accept-Encoding: {encoding}", live.url + "/text")
    assert f"content-encoding: {encoding}" in head
    assert body.decode() == BIG_TEXT
    head, body = _curl("--compressed", "-H", f"Accept-Encoding: {encoding}", live.url + "/stream")
    assert f"content-encoding: {encoding}" in head
    assert body.decode() == "".join(SSE_EVENTS)


@needs_curl
def test_curl_precompressed_file_and_plain_request(live: LiveServer) -> None:
    head, body = _curl("--compressed", "-H", "Accept-Encoding: br", live.url + "/static/app.js")
    assert "content-encoding: br" in head
    assert body == SCRIPT
    head, body = _curl(live.url + "/static/app.js")  # no --compressed: no Accept-Encoding
    assert "content-encoding" not in head
    assert "vary: accept-encoding" in head
    assert body == SCRIPT
