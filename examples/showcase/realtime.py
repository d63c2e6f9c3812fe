"""The showcase's realtime routes (areion-realtime): a WebSocket echo, chat rooms over channels,
the same rooms as resumable server-sent events, and a page that joins a room from the browser.

- `GET /ws/echo` — WebSocket: text echoed as text, binary as binary (permessage-deflate when
  offered, 1 MiB messages at most; origins: the server's own and http://localhost:3000;
  a plain GET answers 426)
- `GET /ws/rooms/:room` — WebSocket: every text message from a member reaches every member
  of the room, the sender included, on every worker (channels: memory, or Redis with
  `SHOWCASE_CHANNELS=redis`)
- `GET /events/rooms/:room` — the same room as server-sent events, resumable (`Last-Event-ID`)
- `POST /rooms/:room/messages` — publish a text message to a room (the body)
- `GET /chat?room=lobby` — a page that joins a room from the browser

The routes are added by :class:`RealtimeRoutes` (given to ``with_plugins``) only when the
realtime plugin is loaded: a WebSocket route without it stops the app at startup, and the
showcase also runs with plugins switched off (``AREION_PLUGINS=""``, the benchmark's bare rows).
"""

from __future__ import annotations

import asyncio
import re

from areion_realtime import ChannelUnavailable, SubscriberTooSlow, Subscription, get_channels, sse_response

from areion_core import (
    BadRequestError,
    HttpRequest,
    NotFoundError,
    PluginApp,
    Router,
    ServiceUnavailableError,
    StreamingResponse,
    WebSocket,
    WebSocketDisconnect,
    hookimpl,
)

router = Router()
#: Room names: short and plain (they become channel names and URL segments).
ROOM = re.compile(r"[A-Za-z0-9_-]{1,64}")
#: Longest chat message relayed, in characters.
MAX_CHAT = 2000


@router.websocket("/ws/echo")
async def ws_echo(ws: WebSocket) -> None:
    """Echo every message back: text as text, binary as binary."""
    await ws.accept()
    async for message in ws:
        await ws.send(message)


async def _relay(messages: Subscription, ws: WebSocket) -> None:
    """The room's messages to this member, until either side ends (written as they are
    published while the member keeps up: no task switch per message and member)."""
    try:
        await messages.forward(ws)
    except SubscriberTooSlow:
        await ws.close(1008, "too slow")  # the member could not keep up with the room
    except WebSocketDisconnect:
        pass


@router.websocket("/ws/rooms/:room")
async def ws_room(ws: WebSocket, room: str) -> None:
    """A chat room: each text message goes to every member, through the room's channel."""
    if not ROOM.fullmatch(room):
        await ws.close(1008)  # before accept: the handshake is refused (403)
        return
    channels = get_channels(ws.app)
    channel = f"room:{room}"
    await ws.accept()
    async with channels.subscribe(channel) as messages:
        relay = asyncio.create_task(_relay(messages, ws))
        try:
            async for text in ws:
                if isinstance(text, str) and text.strip():
                    try:
                        await channels.publish(channel, text[:MAX_CHAT])
                    except ChannelUnavailable:
                        await ws.send_text("(not delivered: the channel backend is down)")
        finally:
            relay.cancel()


@router.get("/events/rooms/:room", name="room_events")
async def room_events(request: HttpRequest, room: str) -> StreamingResponse:
    """The room's messages as server-sent events: ``id:`` per event, ``Last-Event-ID`` resumes."""
    if not ROOM.fullmatch(room):
        raise NotFoundError("no such room")
    return sse_response(get_channels(request.app), f"room:{room}", request)


@router.post("/rooms/:room/messages", name="room_post")
async def room_post(request: HttpRequest, room: str) -> dict[str, str | None]:
    """Publish the request body (text) to a room; its id."""
    if not ROOM.fullmatch(room):
        raise NotFoundError("no such room")
    text = (await request.body()).decode("utf-8", "replace").strip()
    if not text:
        raise BadRequestError("the body is the message: send some text")
    try:
        message_id = await get_channels(request.app).publish(f"room:{room}", text[:MAX_CHAT])
    except ChannelUnavailable as exc:
        raise ServiceUnavailableError(str(exc)) from exc
    return {"room": room, "id": message_id}


@router.get("/chat", include_in_schema=False)
async def chat(request: HttpRequest) -> object:
    """A page that joins ``?room=`` (lobby by default) over a WebSocket."""
    room = request.query_params.get("room") or "lobby"
    if not ROOM.fullmatch(room):
        raise BadRequestError("room names are 1-64 letters, digits, '-' or '_'")
    return request.render_template("chat.html", {"room": room})


#: The routes above, for RealtimeRoutes (whose hook's own argument is named ``router``).
ROUTES = router


class RealtimeRoutes:
    """Adds the routes above when the realtime plugin is loaded (``with_plugins(RealtimeRoutes())``)."""

    name = "showcase_realtime"

    @hookimpl
    def register_routes(self, app: PluginApp, router: Router) -> None:
        if app.get_plugin("realtime") is not None:
            router.include_router(ROUTES)
