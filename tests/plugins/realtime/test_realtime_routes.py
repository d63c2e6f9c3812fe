"""WebSocket routes end to end on the real server: echo, 426, refusals, middleware, parameters,
subprotocols, the startup error without a protocol plugin, TestClient.websocket_connect()."""

from __future__ import annotations

import ssl
import subprocess
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from areion_realtime import RealtimePlugin
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from areion_core import AreionServerBuilder, RouteError, Router, WebSocket
from areion_core.testing import LiveServer, TestClient

from ._realtime_app import live_ws, make_router, make_server, ws_url
from ._ws_raw import open_raw, read_frame

__all__ = ["live_ws"]

Live = Callable[..., LiveServer]


def test_echo_text_as_text_and_binary_as_binary(live_ws: Live) -> None:
    live = live_ws()
    with connect(ws_url(live, "/ws/echo")) as ws:
        ws.send("héllo")
        assert ws.recv(5) == "héllo"
        ws.send(b"\x00\xff\x01")
        assert ws.recv(5) == b"\x00\xff\x01"
        big = "x" * 300_000
        ws.send(big)
        assert ws.recv(5) == big


def test_the_handshake_negotiates_permessage_deflate_when_offered(live_ws: Live) -> None:
    live = live_ws()
    with connect(ws_url(live, "/ws/echo")) as ws:  # the client offers permessage-deflate by default
        assert "permessage-deflate" in ws.response.headers["Sec-WebSocket-Extensions"]
        assert ws.response.headers["Date"]  # the core's own header lines are on the 101
        ws.send("a" * 10_000)
        assert ws.recv(5) == "a" * 10_000
    with connect(ws_url(live, "/ws/echo"), compression=None) as ws:
        assert "Sec-WebSocket-Extensions" not in ws.response.headers


def test_a_broadcast_reaches_members_with_and_without_deflate(live_ws: Live) -> None:
    """One text to many members: the members without an extension share its frame, the one
    with permessage-deflate gets its own, compressed with its context (joined first, it is
    served first)."""
    live = live_ws()
    url = ws_url(live, "/ws/room/mixed")
    with connect(url) as deflate, connect(url, compression=None) as plain, connect(url, compression=None) as other:
        assert "permessage-deflate" in deflate.response.headers["Sec-WebSocket-Extensions"]
        for member in (deflate, plain, other):
            assert member.recv(5) == "joined"
        texts = ["hello " * 50, "second", "hello " * 50]
        for text in texts:
            assert httpx.post(live.url + "/publish/mixed", content=text.encode()).status_code == 200
        for member in (deflate, plain, other):
            assert [member.recv(5) for _ in texts] == texts


def test_a_member_that_does_not_read_gets_every_message_in_order_once_it_does(live_ws: Live) -> None:
    """``Subscription.forward``: messages the socket cannot take at once (the client is not
    reading) wait in the subscription and go out in order, before those published after."""
    live = live_ws(send_timeout=30)
    sock, _ = open_raw(live.port, "/ws/room/slow")
    with sock:
        assert read_frame(sock)[2] == b"joined"
        count, chunk = 200, "x" * 65_536  # 13 MB: far more than the socket buffers and the write buffer
        for n in range(count):
            assert httpx.post(live.url + "/publish/slow", content=f"{n:03d}{chunk}".encode()).status_code == 200
        received = [read_frame(sock)[2][:3] for _ in range(count)]
        assert received == [f"{n:03d}".encode() for n in range(count)]
        assert httpx.post(live.url + "/publish/slow", content=b"after").status_code == 200
        assert read_frame(sock)[2] == b"after"


def test_echo_over_tls(tmp_path: Path) -> None:
    """wss: after the switch the upgraded stream reads through the TLS transport's protocol too."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
                    "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    server = (AreionServerBuilder().with_router(make_router()).without_config_file()
              .with_config({"plugins": {"enabled": []}}).with_plugins(RealtimePlugin()).with_ssl(server_ctx).build())
    with LiveServer(server) as live:
        assert live.url.startswith("https://")
        client_ctx = ssl.create_default_context(cafile=str(cert))
        with connect(live.url.replace("https://", "wss://", 1) + "/ws/echo", ssl=client_ctx) as ws:
            for text in ("one", "two " * 5000):
                ws.send(text)
                assert ws.recv(5) == text
            ws.send(b"\x00\x01")
            assert ws.recv(5) == b"\x00\x01"


def test_a_plain_get_is_426_problem_json_with_upgrade(live_ws: Live) -> None:
    live = live_ws()
    response = httpx.get(live.url + "/ws/echo")
    assert response.status_code == 426
    assert response.headers["upgrade"] == "websocket"
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 426
    assert httpx.get(live.url + "/plain").text == "plain"  # plain routes are unchanged


def test_refusing_before_accept_is_403_and_query_cookie_auth_works(live_ws: Live) -> None:
    live = live_ws()
    with pytest.raises(InvalidStatus) as refused:
        connect(ws_url(live, "/ws/items/7"))
    assert refused.value.response.status_code == 403
    with connect(ws_url(live, "/ws/items/7?token=ok")) as ws:
        assert ws.recv(5) == '{"item":7,"type":"int"}'
    with connect(ws_url(live, "/ws/items/8"), additional_headers={"Cookie": "session=ok"}) as ws:
        assert ws.recv(5) == '{"item":8,"type":"int"}'


def test_a_path_parameter_that_does_not_convert_is_422(live_ws: Live) -> None:
    live = live_ws()
    with pytest.raises(InvalidStatus) as refused:
        connect(ws_url(live, "/ws/items/abc?token=ok"))
    assert refused.value.response.status_code == 422


def test_group_middleware_sees_the_handshake(live_ws: Live) -> None:
    live = live_ws()
    with pytest.raises(InvalidStatus) as refused:
        connect(ws_url(live, "/secure/echo"))
    assert refused.value.response.status_code == 401
    with connect(ws_url(live, "/secure/echo"), additional_headers={"Authorization": "Bearer good"}) as ws:
        ws.send("in")
        assert ws.recv(5) == "in"


def test_the_handler_sees_the_context_its_middleware_set(live_ws: Live) -> None:
    # The handler runs as a task of its own: it starts with a copy of the request's context.
    live = live_ws()
    with connect(ws_url(live, "/secure/whoami"), additional_headers={"Authorization": "Bearer good"}) as ws:
        assert ws.recv(5) == "token holder"


def test_subprotocol_negotiation(live_ws: Live) -> None:
    live = live_ws()
    with connect(ws_url(live, "/ws/chat"), subprotocols=["chat.v1", "chat.v2"]) as ws:
        assert ws.subprotocol == "chat.v2"
        assert ws.recv(5) == "protocol=chat.v2"
    with connect(ws_url(live, "/ws/chat"), subprotocols=["other"]) as ws:
        assert ws.subprotocol is None
        assert ws.recv(5) == "protocol=None"


def test_a_handler_that_raises_after_accept_closes_1011(live_ws: Live) -> None:
    live = live_ws()
    with connect(ws_url(live, "/ws/fail")) as ws:
        ws.send("go")
        with pytest.raises(ConnectionClosed):
            ws.recv(5)
        assert ws.close_code == 1011


def test_invalid_json_closes_1007(live_ws: Live) -> None:
    live = live_ws()
    with connect(ws_url(live, "/ws/json")) as ws:
        ws.send('{"a": 1}')
        assert ws.recv(5) == '{"got":{"a":1}}'
        ws.send("{nope")
        with pytest.raises(ConnectionClosed):
            ws.recv(5)
        assert ws.close_code == 1007


def test_origin_allow_list(live_ws: Live) -> None:
    live = live_ws(allowed_origins=["http://localhost:3000"])
    url = ws_url(live, "/ws/echo")
    for origin in (live.url, "http://localhost:3000"):
        with connect(url, origin=origin) as ws:  # type: ignore[arg-type]
            ws.send("ok")
            assert ws.recv(5) == "ok"
    with pytest.raises(InvalidStatus) as refused:
        connect(url, origin="http://evil.example")  # type: ignore[arg-type]
    assert refused.value.response.status_code == 403
    assert b"evil.example" in refused.value.response.body


def test_max_connections_per_worker_is_503(live_ws: Live) -> None:
    live = live_ws(max_connections=2)
    url = ws_url(live, "/ws/wait")
    with connect(url) as first, connect(url) as second:
        assert first.recv(5) == second.recv(5) == "ready"
        with pytest.raises(InvalidStatus) as refused:
            connect(url)
        assert refused.value.response.status_code == 503
        assert refused.value.response.headers["Retry-After"] == "1"
    with connect(url) as again:  # closed ones no longer count
        assert again.recv(5) == "ready"


def test_shutdown_closes_every_socket_with_1001() -> None:
    server = make_server()
    live = LiveServer(server)
    live.__enter__()
    try:
        sockets = [connect(ws_url(live, "/ws/wait"), legacy=True) for _ in range(3)]
        for ws in sockets:
            assert ws.recv(5) == "ready"
    finally:
        live.__exit__(None, None, None)
    for ws in sockets:
        with pytest.raises(ConnectionClosed):
            ws.recv(5)
        assert ws.close_code == 1001
        assert ws.close_reason == "server shutting down"


def test_without_a_protocol_plugin_a_websocket_route_fails_at_startup() -> None:
    router = Router()

    @router.websocket("/ws")
    async def handler(ws: WebSocket) -> None:
        await ws.accept()

    builder = AreionServerBuilder().with_router(router).without_config_file().with_config(plugins=[])
    with pytest.raises(RouteError, match=r"/ws .*areion-realtime"):
        builder.build().app.build()


def test_a_websocket_handler_must_be_async() -> None:
    router = Router()
    with pytest.raises(RouteError, match="async def"):
        router.websocket("/ws")(lambda ws: None)


def test_testclient_websocket_connect() -> None:
    with TestClient(make_server()) as client:
        with client.websocket_connect("/ws/echo") as ws:
            ws.send_text("one")
            assert ws.receive_text() == "one"
            ws.send_bytes(b"two")
            assert ws.receive_bytes() == b"two"
            assert client.get("/plain").text == "plain"  # plain requests still work meanwhile
        with client.websocket_connect("/ws/json") as ws:
            ws.send_json([1, 2])
            assert ws.receive_json() == {"got": [1, 2]}
        with pytest.raises(InvalidStatus) as refused, client.websocket_connect("/ws/items/1"):
            pass
        assert refused.value.response.status_code == 403
        assert client.get("/ws/echo").status_code == 426


def test_websocket_routes_are_get_routes_of_their_own_kind_outside_the_schema() -> None:
    app = make_server().app.build()
    kinds = {route.path: (route.kind, sorted(route.methods), route.include_in_schema) for route in app.routes}
    assert kinds["/ws/echo"] == ("websocket", ["GET"], False)
    assert kinds["/secure/echo"] == ("websocket", ["GET"], False)  # in a group, with its prefix
    assert kinds["/plain"] == ("http", ["GET"], True)


async def test_async_testclient_websocket_connect() -> None:
    from areion_core.testing import AsyncTestClient

    async with AsyncTestClient(make_server()) as client:
        async with client.websocket_connect("/ws/echo") as ws:
            await ws.send_text("async")
            assert await ws.receive_text() == "async"
            assert (await client.get("/plain")).text == "plain"
        async with client.websocket_connect("/ws/chat", subprotocols=["chat.v2"]) as ws:
            assert ws.subprotocol == "chat.v2"
            assert await ws.receive_text() == "protocol=chat.v2"
