"""Trusted proxies through real sockets: ``forwarded_allow_ips`` decides whose ``Forwarded`` and
``X-Forwarded-*`` headers shape ``request.client``, ``scheme``, ``host``, ``url``, ``url_for`` and
the 308 trailing-slash redirect — on Areion's own server and, with the same configuration, under
uvicorn (``--no-proxy-headers``: the scope's client is the peer).

A connection from another peer than 127.0.0.1 comes from a second loopback address: Linux
routes all of 127.0.0.0/8 to the loopback interface, so a client socket bound to 127.0.0.2
reaches the server on 127.0.0.1 with 127.0.0.2 as its peer.
"""

from __future__ import annotations

import asyncio
import os
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from areion_core import AreionServerBuilder, ConfigError, HttpRequest, Router
from areion_core.testing import LiveServer
from tests.core._core_support import make_server

APP = str(Path(__file__).parent / "apps" / "worker_app.py") + ":server"


def proxied_router() -> Router:
    router = Router()

    @router.get("/whoami")
    async def whoami(request: HttpRequest) -> dict[str, Any]:
        assert request.app is not None
        return {"client": request.client, "scheme": request.scheme, "host": request.host, "url": request.url,
                "link": request.app.url_for("item", request=request, id=7),
                "plain_link": request.app.url_for("item", id=7)}

    @router.get("/items/:id", name="item")
    async def item(request: HttpRequest, id: int) -> dict[str, int]:
        return {"id": id}

    return router


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_uvicorn(app: Any, tls: tuple[Path, Path] | None) -> tuple[str, Callable[[], None]]:
    port = _free_port()
    # proxy_headers=False is --no-proxy-headers: uvicorn leaves the scope's client and scheme alone.
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on",
                            proxy_headers=False, ssl_certfile=str(tls[0]) if tls else None,
                            ssl_keyfile=str(tls[1]) if tls else None)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)

    def stop() -> None:
        server.should_exit = True
        thread.join(10)

    return f"{'https' if tls else 'http'}://127.0.0.1:{port}", stop


@pytest.fixture(params=["areion", "uvicorn"])
def serve(request: pytest.FixtureRequest) -> Iterator[Callable[..., str]]:
    """``serve(tls=None, **config)``: the proxied app on Areion's server or under uvicorn (over
    TLS with a ``(certfile, keyfile)`` pair); its base URL."""
    stops: list[Callable[[], None]] = []

    def start(tls: tuple[Path, Path] | None = None, **config: Any) -> str:
        server = make_server(proxied_router(), **config)
        if tls is not None and request.param == "areion":
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(*tls)
            server = (AreionServerBuilder().with_router(proxied_router()).without_config_file()
                      .with_config(plugins=[], **config).with_access_log(False).with_ssl(context).build())
        if request.param == "uvicorn":
            url, stop = _start_uvicorn(server.asgi, tls)
            stops.append(stop)
            return url
        live = LiveServer(server)
        live.__enter__()
        stops.append(lambda: live.__exit__(None, None, None))
        return live.url

    yield start
    for stop in stops:
        stop()


def whoami(base: str, headers: list[tuple[str, str]] | None = None, *, source: str = "127.0.0.1",
           path: str = "/whoami", verify: ssl.SSLContext | bool = True) -> httpx.Response:
    """GET ``path`` from the loopback address ``source``."""
    transport = httpx.HTTPTransport(local_address=source, verify=verify)
    with httpx.Client(transport=transport, timeout=5) as client:
        return client.get(base + path, headers=headers or [])


PROXY_HEADERS = [("X-Forwarded-For", "6.6.6.6, 203.0.113.7"), ("X-Forwarded-Proto", "https"),
                 ("X-Forwarded-Host", "example.com"), ("X-Forwarded-Prefix", "/svc")]


def test_without_forwarded_allow_ips_proxy_headers_are_not_read(serve: Callable[..., str]) -> None:
    base = serve()
    got = whoami(base, PROXY_HEADERS).json()
    assert got["client"][0] == "127.0.0.1" and got["client"][1] > 0
    assert got["scheme"] == "http" and got["host"] == base.removeprefix("http://")
    assert got["url"] == base + "/whoami" and got["link"] == "/items/7"


def test_an_untrusted_peer_is_ignored(serve: Callable[..., str]) -> None:
    base = serve(forwarded_allow_ips=["127.0.0.1"])
    got = whoami(base, [*PROXY_HEADERS, ("Forwarded", "for=198.51.100.1;proto=https")], source="127.0.0.2").json()
    assert got["client"][0] == "127.0.0.2"
    assert got["url"] == base + "/whoami" and got["link"] == "/items/7"


def test_a_trusted_peer_names_the_client_and_prepended_addresses_are_not_believed(serve: Callable[..., str]) -> None:
    base = serve(forwarded_allow_ips=["127.0.0.1"])
    got = whoami(base, PROXY_HEADERS).json()
    assert got["client"] == ["203.0.113.7", 0]  # not 6.6.6.6, which the client itself wrote
    assert got["scheme"] == "https" and got["host"] == "example.com"
    assert got["url"] == "https://example.com/svc/whoami"
    assert got["link"] == "/svc/items/7" and got["plain_link"] == "/items/7"


def test_a_cidr_network_is_matched(serve: Callable[..., str]) -> None:
    # 127.0.0.0/30 holds 127.0.0.2 (a trusted proxy), not 127.0.0.5 (anyone else).
    base = serve(forwarded_allow_ips="127.0.0.0/30")
    chain = [("X-Forwarded-For", "6.6.6.6, 203.0.113.7, 127.0.0.3")]  # 127.0.0.3: a trusted proxy's hop
    assert whoami(base, chain, source="127.0.0.2").json()["client"] == ["203.0.113.7", 0]
    assert whoami(base, chain, source="127.0.0.5").json()["client"][0] == "127.0.0.5"


def test_forwarded_with_a_quoted_ipv6_client_and_port_wins_over_x_forwarded(serve: Callable[..., str]) -> None:
    base = serve(forwarded_allow_ips=["127.0.0.1"])
    forwarded = 'for=6.6.6.6, For="[2001:db8:cafe::17]:4711";proto=https;host="example.com:8443"'
    got = whoami(base, [("X-Forwarded-For", "198.51.100.1"), ("X-Forwarded-Proto", "http"),
                        ("Forwarded", forwarded)]).json()
    assert got["client"] == ["2001:db8:cafe::17", 4711]
    assert got["url"] == "https://example.com:8443/whoami"


def test_the_trailing_slash_redirect_keeps_the_forwarded_prefix(serve: Callable[..., str]) -> None:
    base = serve(forwarded_allow_ips=["127.0.0.1"], root_path="/app")
    response = whoami(base, [("X-Forwarded-Prefix", "/svc")], path="/whoami/?x=1")
    assert response.status_code == 308 and response.headers["location"] == "/svc/whoami?x=1"
    # Without the header, the configured root_path; from an untrusted peer, the header is ignored.
    assert whoami(base, path="/whoami/").headers["location"] == "/app/whoami"
    untrusted = whoami(base, [("X-Forwarded-Prefix", "/svc")], source="127.0.0.2", path="/whoami/")
    assert untrusted.headers["location"] == "/app/whoami"
    # A prefix that would make the Location point at another site is not a path, and not used.
    evil = whoami(base, [("X-Forwarded-Prefix", "//evil.example")], path="/whoami/")
    assert evil.headers["location"] == "/app/whoami"


def test_star_trusts_every_peer_and_the_leftmost_hop_is_the_client(serve: Callable[..., str]) -> None:
    base = serve(forwarded_allow_ips="*")
    got = whoami(base, [("X-Forwarded-For", "203.0.113.7, 198.51.100.1")], source="127.0.0.2").json()
    assert got["client"] == ["203.0.113.7", 0]


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1: (certfile, keyfile)."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
                    "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    return cert, key


def test_over_tls_the_scheme_is_https_unless_a_trusted_proxy_says_otherwise(
        serve: Callable[..., str], certificate: tuple[Path, Path]) -> None:
    # Under uvicorn the scheme is the scope's: the ASGI server's connection, as on Areion's own.
    base = serve(tls=certificate, forwarded_allow_ips=["127.0.0.1"])
    assert base.startswith("https://")
    verify = ssl.create_default_context(cafile=str(certificate[0]))
    assert whoami(base, verify=verify).json()["url"] == base + "/whoami"
    # Plain HTTP from the client to a proxy, which reached us over TLS.
    got = whoami(base, [("X-Forwarded-Proto", "http"), ("X-Forwarded-For", "203.0.113.7")], verify=verify).json()
    assert got["scheme"] == "http" and got["url"] == base.replace("https://", "http://") + "/whoami"
    untrusted = whoami(base, [("X-Forwarded-Proto", "http")], source="127.0.0.2", verify=verify).json()
    assert untrusted["scheme"] == "https"


def test_a_bad_entry_stops_startup_naming_the_key_and_the_entry() -> None:
    builder = (AreionServerBuilder().with_router(proxied_router()).without_config_file()
               .with_config(plugins=[], forwarded_allow_ips=["127.0.0.1", "localhost"]))
    with pytest.raises(ConfigError) as info:
        builder.build()
    assert info.value.key == "forwarded_allow_ips" and info.value.value == "localhost"
    assert "IP address" in str(info.value)


def test_a_bad_entry_in_the_environment_stops_areion_run() -> None:
    env = dict(os.environ, AREION_PLUGINS="", AREION_FORWARDED_ALLOW_IPS="127.0.0.1,10.0.0.0/33")
    proc = subprocess.run([sys.executable, "-m", "areion_core", "run", APP, "--port", str(_free_port())],
                          env=env, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 1
    assert "config key 'forwarded_allow_ips': got '10.0.0.0/33'" in proc.stderr
