"""Web cache poisoning: a response built for one authority is never served for another.

A cached route whose body depends on the request's origin — an absolute link made from
``request.scheme``, ``request.host`` and ``request.root_path``, as ``url_for`` makes one — is
asked for by an attacker (a forged ``Host``, ``X-Forwarded-Host`` from a client no one
trusts, an absolute-form request target, headers the framework does not read) and by a
victim who asks plainly, over real sockets, against the memory, filesystem and Redis stores.

For every attack, in both orders (attacker first, so that a poisoned entry would be stored;
victim first, so that the attacker would be served the victim's entry):

- the victim always gets the link to the real site, and
- the attacker always gets what the handler builds for the attacker's own request, whether
  the cache was empty or not — so the cache never changes an answer, it only saves work.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from areion_caching import cache, get_cache

from areion_core import AreionServerBuilder, HttpRequest, Router
from areion_core.testing import LiveServer, TestResponse, parse_response
from tests._redis import RedisServer

GOOD = "good.example"
GOOD_BODY = f"http://{GOOD}/next"
STORES = ("memory", "filesystem", "redis")
# forwarded_allow_ips: none at all; one that is not the test client (the proxy machinery is on,
# but the peer is not trusted); the test client itself (it plays a trusted proxy).
NO_PROXY, OTHER_PROXY, PROXY = None, ["10.9.9.9"], ["127.0.0.1"]


def router() -> Router:
    r = Router()

    @r.get("/page")
    @cache(ttl=60)
    async def page(request: HttpRequest) -> str:
        return f"{request.scheme}://{request.host}{request.root_path}/next"

    @r.get("/items/:name")
    @cache(ttl=60, vary=["accept-language"])
    async def item(request: HttpRequest, name: str) -> str:
        return f"item {name!r}"

    @r.get("/plain/:name")
    @cache(ttl=60)
    async def plain_item(request: HttpRequest, name: str) -> str:
        return f"item {name!r}"

    @r.post("/clear")
    async def clear(request: HttpRequest) -> None:
        await get_cache(request.app).clear()

    return r


def ask(port: int, *lines: str) -> TestResponse:
    """One request, written byte for byte: ``lines`` are the request line and the headers."""
    data = "\r\n".join([*lines, "Connection: close", "", ""]).encode("latin-1")
    out = b""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(data)
        while chunk := sock.recv(65536):
            out += chunk
    parsed = parse_response(out, closed=True)
    assert parsed is not None, out
    return parsed[0]


def plain(port: int) -> TestResponse:
    return ask(port, "GET /page HTTP/1.1", f"Host: {GOOD}")


# (case id, proxy setting, request lines, the link the handler builds for that request)
ATTACKS: list[tuple[str, list[str] | None, list[str], str]] = [
    ("host", NO_PROXY, ["GET /page HTTP/1.1", "Host: evil.example"], "http://evil.example/next"),
    ("host-with-port", NO_PROXY, ["GET /page HTTP/1.1", "Host: good.example:8080"],
     "http://good.example:8080/next"),
    ("host-other-port", NO_PROXY, ["GET /page HTTP/1.1", "Host: good.example:1"],
     "http://good.example:1/next"),
    # An absolute-form target names the host; the Host field is ignored (RFC 9112 §3.2.2).
    ("absolute-form-other-host", NO_PROXY,
     ["GET http://evil.example/page HTTP/1.1", f"Host: {GOOD}"], "http://evil.example/next"),
    ("absolute-form-forged-host", NO_PROXY,
     [f"GET http://{GOOD}/page HTTP/1.1", "Host: evil.example"], GOOD_BODY),
    ("x-forwarded-host-untrusted", NO_PROXY,
     ["GET /page HTTP/1.1", f"Host: {GOOD}", "X-Forwarded-Host: evil.example"], GOOD_BODY),
    ("x-forwarded-host-untrusted-peer", OTHER_PROXY,
     ["GET /page HTTP/1.1", f"Host: {GOOD}", "X-Forwarded-Host: evil.example",
      "X-Forwarded-Proto: https", "X-Forwarded-Prefix: /evil"], GOOD_BODY),
    ("forwarded-untrusted-peer", OTHER_PROXY,
     ["GET /page HTTP/1.1", f"Host: {GOOD}", "Forwarded: for=1.2.3.4;host=evil.example;proto=https"],
     GOOD_BODY),
    ("unkeyed-headers", NO_PROXY,
     ["GET /page HTTP/1.1", f"Host: {GOOD}", "X-Forwarded-Scheme: https", "X-Original-URL: /admin",
      "X-Rewrite-URL: /admin", "X-Host: evil.example", "X-Forwarded-Server: evil.example",
      "X-HTTP-Host-Override: evil.example", "X-Forwarded-Port: 4443", "X-Original-Host: evil.example",
      "X-Forwarded-Proto: https", "X-Forwarded-Prefix: /evil", "Forwarded: host=evil.example"],
     GOOD_BODY),
    # Through a trusted proxy the headers are believed: the handler builds another link, and
    # that answer is keyed under the origin the proxy reported.
    ("trusted-x-forwarded-host", PROXY,
     ["GET /page HTTP/1.1", f"Host: {GOOD}", "X-Forwarded-For: 1.2.3.4", "X-Forwarded-Host: evil.example"],
     "http://evil.example/next"),
    ("trusted-x-forwarded-proto", PROXY,
     ["GET /page HTTP/1.1", f"Host: {GOOD}", "X-Forwarded-For: 1.2.3.4", "X-Forwarded-Proto: https"],
     f"https://{GOOD}/next"),
    ("trusted-x-forwarded-prefix", PROXY,
     ["GET /page HTTP/1.1", f"Host: {GOOD}", "X-Forwarded-For: 1.2.3.4", "X-Forwarded-Prefix: /evil"],
     f"http://{GOOD}/evil/next"),
    ("trusted-forwarded", PROXY,
     ["GET /page HTTP/1.1", f"Host: {GOOD}", "Forwarded: for=1.2.3.4;host=evil.example;proto=https"],
     "https://evil.example/next"),
]


class Servers:
    """One live server per (store, proxy setting), started when first asked for."""

    def __init__(self, redis: RedisServer, tmp: Path) -> None:
        self.redis = redis
        self.tmp = tmp
        self.live: dict[tuple[str, str], LiveServer] = {}

    def port(self, store: str, proxies: list[str] | None) -> int:
        name = (store, repr(proxies))
        if name not in self.live:
            caching: dict[str, Any] = {"store": store, "namespace": f"poison:{len(self.live)}"}
            if store == "redis":
                caching["url"] = self.redis.url
            elif store == "filesystem":
                caching["path"] = str(self.tmp / f"cache-{len(self.live)}")
            config: dict[str, Any] = {"plugins": {"enabled": ["caching"], "caching": caching}}
            if proxies is not None:
                config["forwarded_allow_ips"] = proxies
            server = (AreionServerBuilder().with_router(router()).without_config_file()
                      .with_config(config).with_access_log(False).build())
            live = self.live[name] = LiveServer(server)
            live.__enter__()
        return self.live[name].port

    def close(self) -> None:
        for live in self.live.values():
            live.__exit__(None, None, None)


@pytest.fixture(scope="module")
def servers(redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    group = Servers(redis_server, tmp_path_factory.mktemp("poisoning"))
    yield group
    group.close()


def clear(port: int) -> None:
    assert ask(port, "POST /clear HTTP/1.1", f"Host: {GOOD}", "Content-Length: 0").status_code == 204


@pytest.mark.parametrize("store", STORES)
@pytest.mark.parametrize(("proxies", "attack", "built"), [a[1:] for a in ATTACKS], ids=[a[0] for a in ATTACKS])
def test_no_answer_crosses_authorities(
    servers: Servers, store: str, proxies: list[str] | None, attack: list[str], built: str
) -> None:
    port = servers.port(store, proxies)
    victim = ["GET /page HTTP/1.1", f"Host: {GOOD}"]
    if proxies == PROXY:
        victim.append("X-Forwarded-For: 5.6.7.8")  # the victim comes through the proxy too

    # Attacker first: whatever the attacker's request stored, the victim gets the real link.
    clear(port)
    first = ask(port, *attack)
    assert (first.status_code, first.text, first.headers["x-cache"]) == (200, built, "MISS")
    for _ in range(2):
        answer = ask(port, *victim)
        assert answer.text == GOOD_BODY
    if built != GOOD_BODY:
        assert answer.headers["x-cache"] == "HIT"  # the victim's own entry, not the attacker's

    # Victim first: the attacker is not served the victim's entry, unless it is the same origin.
    clear(port)
    assert ask(port, *victim).text == GOOD_BODY
    second = ask(port, *attack)
    assert (second.status_code, second.text) == (200, built)
    assert second.headers["x-cache"] == ("HIT" if built == GOOD_BODY else "MISS")
    # And the attacker's own entry answers only the attacker's origin.
    assert ask(port, *attack).headers["x-cache"] == "HIT"
    assert ask(port, *victim).text == GOOD_BODY


@pytest.mark.parametrize("store", STORES)
def test_one_origin_written_differently_shares_an_entry(servers: Servers, store: str) -> None:
    port = servers.port(store, NO_PROXY)
    clear(port)
    assert plain(port).headers["x-cache"] == "MISS"
    # Host names are case-insensitive and :80 is http's own port (RFC 3986 §6.2.2-3).
    for host in ("GOOD.example", "good.example:80", "Good.Example:0080"):
        answer = ask(port, "GET /page HTTP/1.1", f"Host: {host}")
        assert (answer.headers["x-cache"], answer.text) == ("HIT", GOOD_BODY)


@pytest.mark.parametrize("store", STORES)
def test_a_path_cannot_forge_another_requests_entry(servers: Servers, store: str) -> None:
    port = servers.port(store, NO_PROXY)
    clear(port)
    # Paths are keyed decoded, so %3F and %23 must not become the query's "?" or a key's "#":
    # /items/a%3Fq=1 is the item "a?q=1", never /items/a with the query q=1, and
    # /items/a%23vary:... is never a Vary variant of /items/a.
    def get(target: str, *headers: str) -> TestResponse:
        return ask(port, f"GET {target} HTTP/1.1", f"Host: {GOOD}", *headers)

    assert get("/plain/a%3Fq=1").text == "item 'a?q=1'"
    answer = get("/plain/a?q=1")
    assert (answer.headers["x-cache"], answer.text) == ("MISS", "item 'a'")

    assert get("/plain/a%23@http:%2F%2Fother.example").text == "item 'a#@http://other.example'"
    answer = ask(port, "GET /plain/a HTTP/1.1", "Host: other.example")
    assert (answer.headers["x-cache"], answer.text) == ("MISS", "item 'a'")

    assert get("/items/a", "Accept-Language: en").headers["x-cache"] == "MISS"  # a Vary index
    assert get("/items/a%23vary:accept-language=de").text == "item 'a#vary:accept-language=de'"
    answer = get("/items/a", "Accept-Language: de")
    assert (answer.status_code, answer.headers["x-cache"], answer.text) == (200, "MISS", "item 'a'")
