"""An absolute-form request target names the host: RFC 9112 §3.2.2 (the Host field is ignored)."""

from __future__ import annotations

import pytest

from areion_core import Router

from ._core_support import exchange


@pytest.fixture
def server(live):
    r = Router()

    @r.get("/host")
    async def host(request):
        return {"host": request.host, "header": request.get_header("host"), "url": request.url}

    return live(r)


def _body(raw: bytes) -> bytes:
    return raw.split(b"\r\n\r\n", 1)[1]


@pytest.mark.parametrize(("target", "host"), [
    (b"http://good.example/host", b"good.example"),
    (b"http://good.example:8080/host?x=1", b"good.example:8080"),
    (b"HTTP://Good.Example/host", b"Good.Example"),
])
def test_the_target_authority_wins_over_the_host_field(server, target, host):
    out = exchange(server.port, b"GET " + target + b" HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 200 ")
    body = _body(out)
    assert b'"host":"' + host + b'"' in body and b'"header":"' + host + b'"' in body
    assert b"evil.example" not in body


def test_origin_form_keeps_its_host_field(server):
    out = exchange(server.port, b"GET /host HTTP/1.1\r\nHost: here.example\r\nConnection: close\r\n\r\n")
    assert b'"host":"here.example"' in _body(out)
