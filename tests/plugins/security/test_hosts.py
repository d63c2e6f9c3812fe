"""Trusted hosts on a real socket: a Host outside the list is a 400 before any handler or cache."""

from __future__ import annotations

import socket

import httpx
import pytest

from areion_core import HttpRequest, Router
from areion_core.testing import LiveServer
from tests.plugins.security._security_support import Calls, build_server

caching = pytest.importorskip("areion_caching")


def _server(calls: Calls, **config: object) -> LiveServer:
    router = Router()

    @router.get("/page")
    @caching.cache(ttl=60)
    async def page(request: HttpRequest) -> dict[str, str]:
        calls.hit()
        return {"host": request.host}

    return LiveServer(build_server(
        router, {"hosts": {"allowed": ["127.0.0.1", "localhost", "example.com", "*.example.org", "[::1]"]}},
        select=("caching", "security"), plugins={"caching": {"store": "memory"}}, **config))


def raw_get(port: int, host_line: bytes) -> bytes:
    """A request with exactly these header lines (httpx would fix them up)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"GET /page HTTP/1.1\r\n" + host_line + b"\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return data


@pytest.mark.parametrize(("lines", "status"), [
    (b"Accept: */*\r\nhOST: evil.example", 400),
    (b"X-Other: 1\r\nAccept: */*\r\nhost: evil.example:80", 400),
    (b"Accept: */*\r\nHOST: example.com:8080", 200),
    (b"host: evil.example", 400),
    (b"host: localhost", 200),
])
def test_the_host_is_checked_wherever_it_comes_and_however_it_is_spelled(lines: bytes, status: int) -> None:
    calls = Calls()
    with _server(calls) as live:
        raw = raw_get(live.port, lines)
    assert raw.startswith(b"HTTP/1.1 %d " % status), raw
    assert calls.count == (1 if status == 200 else 0)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "LOCALHOST:9999", "example.com:8080", "api.example.org",
                                  "a.b.example.org", "[::1]:8000"])
def test_allowed_hosts_any_port(host: str) -> None:
    calls = Calls()
    with _server(calls) as live:
        r = httpx.get(live.url + "/page", headers={"host": host})
    assert r.status_code == 200


@pytest.mark.parametrize("host", ["evil.example", "example.org", "example.com.evil.example", "xexample.com",
                                  "127.0.0.2", "", "[::2]"])
def test_other_hosts_get_400_problem_json_before_handler_and_cache(host: str) -> None:
    calls = Calls()
    with _server(calls) as live:
        warm = httpx.get(live.url + "/page")  # fills the cache for this path
        raw = raw_get(live.port, b"Host: " + host.encode())
    assert warm.status_code == 200 and calls.count == 1
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 "), raw
    assert b"content-type: application/problem+json" in head.lower()
    assert b"is not served here" in body
    assert calls.count == 1  # neither the handler nor the cached copy answered


def test_x_forwarded_host_counts_only_from_a_trusted_proxy() -> None:
    calls = Calls()
    forged = {"host": "127.0.0.1", "x-forwarded-host": "evil.example"}
    with _server(calls) as live:  # no forwarded_allow_ips: the header is ignored
        assert httpx.get(live.url + "/page", headers=forged).status_code == 200
    with _server(calls, forwarded_allow_ips=["127.0.0.1"]) as live:  # we are the trusted proxy
        refused = httpx.get(live.url + "/page", headers=forged)
        allowed = httpx.get(live.url + "/page", headers={"host": "evil.example", "x-forwarded-host": "example.com"})
    assert refused.status_code == 400
    assert allowed.status_code == 200 and allowed.json() == {"host": "example.com"}


def test_wildcard_allows_every_host() -> None:
    router = Router()
    router.add_route("/", lambda request: "ok", ["GET"])
    with LiveServer(build_server(router, {"hosts": {"allowed": ["*"]}})) as live:
        assert httpx.get(live.url + "/", headers={"host": "anything.example"}).status_code == 200
