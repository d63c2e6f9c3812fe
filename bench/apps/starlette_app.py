"""Starlette, served by uvicorn (http=httptools, loop=uvloop, no access log).

Run: ``uvicorn --app-dir bench/apps starlette_app:app --http httptools --loop uvloop``.

``/table`` is the template scenario's peer: the showcase's ``table.html`` and the same 100
rows, rendered by ``starlette.templating.Jinja2Templates`` set up as Starlette's
documentation sets it up.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates
from starlette.websockets import WebSocket, WebSocketDisconnect

TEMPLATES_DIR = Path(__file__).resolve().parents[2] / "examples" / "showcase" / "templates"
templates = Jinja2Templates(directory=TEMPLATES_DIR)
# The rows of examples/showcase/app.py's TABLE_ROWS, built the same way.
TABLE_ROWS = [
    {"id": i, "name": f"User {i}", "email": f"user{i}@example.com", "score": (i * 37) % 100}
    for i in range(100)
]


async def json_handler(request: Request) -> JSONResponse:
    return JSONResponse({"message": "Hello, World!"})


async def plaintext(request: Request) -> PlainTextResponse:
    return PlainTextResponse("Hello, World!")


async def user_post(request: Request) -> JSONResponse:
    params = request.path_params
    return JSONResponse({"user": params["id"], "post": params["post"]})


async def echo(request: Request) -> JSONResponse:
    return JSONResponse(await request.json())


async def upload(request: Request) -> JSONResponse:
    """The body as it arrives (``request.stream()``), into a SHA-256."""
    digest = hashlib.sha256()
    size = 0
    async for chunk in request.stream():
        digest.update(chunk)
        size += len(chunk)
    return JSONResponse({"bytes": size, "sha256": digest.hexdigest()})


async def table(request: Request) -> Response:
    return templates.TemplateResponse(
        request, "table.html", {"title": "100 rows", "rows": TABLE_ROWS}
    )


async def ws_echo(websocket: WebSocket) -> None:
    """The WebSocket echo scenario: text as text, binary as binary."""
    await websocket.accept()
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
        if message.get("text") is not None:
            await websocket.send_text(message["text"])
        else:
            await websocket.send_bytes(message["bytes"])


#: The broadcast scenario's room: every open member socket.
ROOM: set[WebSocket] = set()


async def ws_room(websocket: WebSocket) -> None:
    """The broadcast scenario: each text message goes to every member of the room."""
    await websocket.accept()
    ROOM.add(websocket)
    try:
        while True:
            text = await websocket.receive_text()
            for member in list(ROOM):
                try:
                    await member.send_text(text)
                except Exception:
                    ROOM.discard(member)
    except WebSocketDisconnect:
        pass
    finally:
        ROOM.discard(websocket)


app = Starlette(
    debug=False,
    routes=[
        Route("/json", json_handler),
        Route("/plaintext", plaintext),
        Route("/users/{id}/posts/{post}", user_post),
        Route("/echo", echo, methods=["POST"]),
        Route("/upload", upload, methods=["PUT"]),
        Route("/table", table),
        WebSocketRoute("/ws/echo", ws_echo),
        WebSocketRoute("/ws/rooms/bench", ws_room),
        Mount("/static", StaticFiles(directory=os.environ["AREION_BENCH_STATIC"])),
    ],
)
