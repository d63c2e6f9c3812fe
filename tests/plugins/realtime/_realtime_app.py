"""The app the realtime tests serve: echo, auth before accept, parameters, a group, subprotocols."""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from areion_realtime import ChannelUnavailable, RealtimePlugin, get_channels, sse_response

from areion_core import (
    AreionServerBuilder,
    HttpRequest,
    Router,
    ServiceUnavailableError,
    StreamingResponse,
    UnauthorizedError,
    WebSocket,
    WebSocketDisconnect,
)
from areion_core.runner import AreionServer
from areion_core.testing import LiveServer

#: Set by the ``require_token`` middleware: the handler (its own task) must still see it.
CALLER: contextvars.ContextVar[str] = contextvars.ContextVar("CALLER", default="nobody")

#: What the flood handler saw: the close code its send() ended with.
OUTCOMES: dict[str, object] = {}
#: What the collect handler received, per ``?id=``, and the events set when each handler ended.
COLLECTED: dict[str, list[str | bytes]] = {}
COLLECT_DONE: dict[str, threading.Event] = {}


def require_token(handler: Callable[..., Any]) -> Callable[..., Any]:
    """A request-level middleware: a WebSocket route's handshake goes through it like any request."""

    async def checked(request: Any, **params: Any) -> Any:
        if request.headers.get("authorization") != "Bearer good":
            raise UnauthorizedError("no token")
        CALLER.set("token holder")
        return await handler(request, **params)

    return checked


def make_router() -> Router:
    router = Router()

    @router.websocket("/ws/echo")
    async def echo(ws: WebSocket) -> None:
        await ws.accept()
        async for message in ws:
            await ws.send(message)

    @router.websocket("/ws/items/:item_id")
    async def item(ws: WebSocket, item_id: int) -> None:
        if ws.query_params.get("token") != "ok" and ws.cookies.get("session") != "ok":
            await ws.close(4401)  # before accept: the handshake is refused (403)
            return
        await ws.accept()
        await ws.send_json({"item": item_id, "type": type(item_id).__name__})

    @router.websocket("/ws/json")
    async def json_echo(ws: WebSocket) -> None:
        await ws.accept()
        while True:
            data = await ws.receive_json()
            await ws.send_json({"got": data})

    @router.websocket("/ws/chat")
    async def chat(ws: WebSocket) -> None:
        chosen = "chat.v2" if "chat.v2" in ws.subprotocols else None
        await ws.accept(subprotocol=chosen)
        await ws.send_text(f"protocol={chosen}")
        await ws.receive()

    @router.websocket("/ws/wait_forever")
    async def wait_forever(ws: WebSocket) -> None:
        await ws.accept()
        await asyncio.sleep(2.5)  # never reads (long enough for the test, short enough for shutdown)

    @router.websocket("/ws/fail")
    async def fail(ws: WebSocket) -> None:
        await ws.accept()
        await ws.receive()
        raise RuntimeError("boom")

    @router.websocket("/ws/wait")
    async def wait(ws: WebSocket) -> None:
        await ws.accept()
        await ws.send_text("ready")
        async for _ in ws:
            pass

    secure = router.group("/secure", middlewares=[require_token])

    @secure.websocket("/echo")
    async def secure_echo(ws: WebSocket) -> None:
        await ws.accept()
        await ws.send_text(await ws.receive_text())

    @secure.websocket("/whoami")
    async def secure_whoami(ws: WebSocket) -> None:
        await ws.accept()
        await ws.send_text(CALLER.get())

    @router.get("/events/:channel")
    async def events(request: HttpRequest, channel: str) -> StreamingResponse:
        return sse_response(get_channels(request.app), channel, request, heartbeat=0.3, retry=1500)

    @router.post("/publish/:channel")
    async def publish(request: HttpRequest, channel: str) -> dict[str, str | None]:
        try:
            return {"id": await get_channels(request.app).publish(channel, (await request.body()).decode())}
        except ChannelUnavailable as exc:
            raise ServiceUnavailableError(str(exc)) from exc

    @router.websocket("/ws/flood")
    async def flood(ws: WebSocket) -> None:
        await ws.accept()
        chunk = b"f" * 65536
        try:
            while True:
                await ws.send(chunk)
        except WebSocketDisconnect as exc:
            OUTCOMES["flood"] = exc.code

    @router.websocket("/ws/collect")
    async def collect(ws: WebSocket) -> None:
        key = ws.query_params.get("id") or ""
        await ws.accept()
        received = COLLECTED.setdefault(key, [])
        try:
            async for message in ws:
                received.append(message)
        finally:
            COLLECT_DONE.setdefault(key, threading.Event()).set()

    @router.websocket("/ws/room/:channel")
    async def room(ws: WebSocket, channel: str) -> None:
        """A member of ``channel``: "joined" once subscribed, then the channel's messages."""
        await ws.accept()
        async with get_channels(ws.app).subscribe(channel) as messages:
            await ws.send_text("joined")
            forward = asyncio.ensure_future(messages.forward(ws))
            try:
                async for _ in ws:  # until the client closes
                    pass
            finally:
                forward.cancel()

    @router.get("/plain")
    async def plain(request: Any) -> str:
        return "plain"

    return router


def make_server(*plugins: Any, **realtime: Any) -> AreionServer:
    builder = (AreionServerBuilder().with_router(make_router()).without_config_file()
               .with_config({"plugins": {"enabled": [], "realtime": realtime}})
               .with_plugins(RealtimePlugin(), *plugins))
    builder.with_access_log(False)
    return builder.build()


@pytest.fixture
def live_ws() -> Iterator[Callable[..., LiveServer]]:
    """``live_ws(**realtime_settings)``: the test app on the real server, on a free port."""
    started: list[LiveServer] = []

    def start(**realtime: Any) -> LiveServer:
        server = LiveServer(make_server(**realtime))
        server.__enter__()
        started.append(server)
        return server

    yield start
    for server in started:
        server.__exit__(None, None, None)


def ws_url(live: LiveServer, path: str) -> str:
    return live.url.replace("http://", "ws://", 1) + path
