"""HEAD is GET without the body on every showcase route (RFC 9110 §9.3.2), compressed or not.

The showcase runs as ``make run`` runs it (every plugin: caching, compression, openapi,
observability, ...). For each GET route without side effects, and each of identity, gzip and
br, a HEAD and a GET are pipelined on one raw connection: the status and every header line
must be equal (except the per-request ones below), and not one byte may follow the HEAD's
header block before the GET's status line.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.plugins.compression._head_get import comparable, head_then_get

REPO = Path(__file__).resolve().parents[2]

#: Values that change per request, HEAD or GET: the date, and observability's request id and timings.
PER_REQUEST = frozenset({"date", "x-request-id", "server-timing", "x-response-time"})
#: What a cache says about the two answers: HEAD's miss stores, so the GET after it is a hit.
CACHE_STATE = frozenset({"x-cache", "age"})

ROUTES = [
    "/", "/json", "/plaintext", "/users/7/posts/3", "/whoami", "/api/report", "/report", "/big",
    "/big/uncached", "/slow", "/slow/uncached", "/table", "/stream", "/tasks", "/sleep?s=0",
    "/sleep/cancelled", "/openapi.json", "/docs", "/redoc", "/static/favicon.svg", "/static/style.css",
    "/users/7/posts/1001",  # a 404 from the handler
    "/no/such/page",  # a 404 from the router
    "/echo",  # POST only: HEAD and GET are both 405
]
ENCODINGS = ["identity", "gzip", "br"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def showcase(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """``areion run examples.showcase.app:server`` (what ``make run`` runs) on a free port."""
    port = _free_port()
    log = tmp_path_factory.mktemp("showcase") / "stderr.log"
    env = {**os.environ, "SHOWCASE_CACHE_STORE": "memory", "PYTHONPATH": str(REPO)}
    env.pop("AREION_PLUGINS", None)  # every installed plugin, as make run has them
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "areion_core", "run", "examples.showcase.app:server",
             "--host", "127.0.0.1", "--port", str(port), "--no-access-log"],
            cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, log.read_text()
            try:
                httpx.get(f"http://127.0.0.1:{port}/json", timeout=1)
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.1)
        yield port
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)


def _docs_assets(port: int) -> list[str]:
    """The scripts, styles and icons the /docs and /redoc pages load."""
    found: set[str] = set()
    for page in ("/docs", "/redoc"):
        html = httpx.get(f"http://127.0.0.1:{port}{page}").text
        found.update(re.findall(r'(?:src|href)="(/docs/static/[^"]+)"', html))
    assert len(found) >= 5, found
    return sorted(found)


def _assert_same(port: int, path: str, accept: str, *, first: bool) -> dict[str, str]:
    ex = head_then_get(port, path, {"Accept-Encoding": accept})  # asserts HEAD sent no body
    assert ex.head_status == ex.get_status, path
    head, get = dict(ex.head_headers), dict(ex.get_headers)
    ignore = PER_REQUEST | CACHE_STATE
    assert comparable(ex.head_headers, ignore) == comparable(ex.get_headers, ignore), (path, accept)
    for name in ("etag", "last-modified", "content-length", "content-encoding", "transfer-encoding"):
        assert head.get(name) == get.get(name), (path, accept, name)
    if not first:  # the first GET may hit what the HEAD before it stored
        assert head.get("x-cache") == get.get("x-cache"), (path, head, get)
        if "age" in get:
            assert abs(int(head["age"]) - int(get["age"])) <= 1, (path, head, get)
    if "content-length" in get:
        body = ex.get_body
        assert int(get["content-length"]) == len(body), (path, accept)
    return get


@pytest.mark.parametrize("accept", ENCODINGS)
def test_head_matches_get_on_every_route(showcase: int, accept: str) -> None:
    encoded = set()
    for path in [*ROUTES, *_docs_assets(showcase)]:
        # Twice: the first may fill a cache (HEAD's miss stores), the second replays it.
        _assert_same(showcase, path, accept, first=True)
        get = _assert_same(showcase, path, accept, first=False)
        if "content-encoding" in get:
            encoded.add(path)
    if accept == "identity":
        assert not encoded
    else:
        # The routes the issue named are among those sent compressed, HEAD included.
        assert {"/openapi.json", "/docs", "/redoc", "/table", "/stream", "/big/uncached", "/big"} <= encoded


def test_head_of_a_compressed_stream_is_chunked_like_get(showcase: int) -> None:
    ex = head_then_get(showcase, "/stream", {"Accept-Encoding": "gzip"})
    head = dict(ex.head_headers)
    assert head["content-encoding"] == "gzip"
    assert head["transfer-encoding"] == "chunked"
    assert "content-length" not in head


def test_head_of_openapi_json_says_what_get_sends(showcase: int) -> None:
    # The example: HEAD said Content-Length 4337 and no Content-Encoding.
    url = f"http://127.0.0.1:{showcase}/openapi.json"
    head = httpx.head(url, headers={"Accept-Encoding": "gzip"})
    get = httpx.get(url, headers={"Accept-Encoding": "gzip"})
    assert head.headers["content-encoding"] == get.headers["content-encoding"] == "gzip"
    assert head.headers["content-length"] == get.headers["content-length"] == str(get.num_bytes_downloaded)
    assert int(head.headers["content-length"]) < len(get.content)  # httpx decoded it
