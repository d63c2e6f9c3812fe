"""aiohttp on uvloop, single process; access log off, or on with ``--access-log``.

Run: ``python bench/apps/aiohttp_app.py --host 127.0.0.1 --port 8000 [--access-log]``.

aiohttp's access log is enabled by default, but its logging page says logging "does not work
out of the box": with no logging configured the lines go nowhere. ``--access-log`` keeps
``run_app``'s default access log and adds the page's minimal set-up,
``logging.basicConfig(level=logging.DEBUG)``, so every request writes a line (stderr);
without it the app passes ``access_log=None``, the page's way to turn it off.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os

import uvloop
from aiohttp import web


async def json_handler(request: web.Request) -> web.Response:
    return web.json_response({"message": "Hello, World!"})


async def plaintext(request: web.Request) -> web.Response:
    return web.Response(text="Hello, World!")


async def user_post(request: web.Request) -> web.Response:
    info = request.match_info
    return web.json_response({"user": info["id"], "post": info["post"]})


async def echo(request: web.Request) -> web.Response:
    return web.json_response(await request.json())


async def ws_echo(request: web.Request) -> web.WebSocketResponse:
    """The WebSocket echo scenario: text as text, binary as binary."""
    ws = web.WebSocketResponse()
    await ws.prepare(request)
    async for message in ws:
        if message.type == web.WSMsgType.TEXT:
            await ws.send_str(message.data)
        elif message.type == web.WSMsgType.BINARY:
            await ws.send_bytes(message.data)
    return ws


#: The broadcast scenario's room: every open member socket.
ROOM: set[web.WebSocketResponse] = set()


async def ws_room(request: web.Request) -> web.WebSocketResponse:
    """The broadcast scenario: each text message goes to every member of the room."""
    ws = web.WebSocketResponse()
    await ws.prepare(request)
    ROOM.add(ws)
    try:
        async for message in ws:
            if message.type == web.WSMsgType.TEXT:
                for member in list(ROOM):
                    try:
                        await member.send_str(message.data)
                    except ConnectionError:
                        ROOM.discard(member)
    finally:
        ROOM.discard(ws)
    return ws


async def upload(request: web.Request) -> web.Response:
    """The body as it arrives (aiohttp's StreamReader), into a SHA-256."""
    digest = hashlib.sha256()
    size = 0
    async for chunk in request.content.iter_any():
        digest.update(chunk)
        size += len(chunk)
    return web.json_response({"bytes": size, "sha256": digest.hexdigest()})


def make_app() -> web.Application:
    app = web.Application()
    app.router.add_get("/json", json_handler)
    app.router.add_get("/plaintext", plaintext)
    app.router.add_get("/users/{id}/posts/{post}", user_post)
    app.router.add_post("/echo", echo)
    app.router.add_get("/ws/echo", ws_echo)
    app.router.add_get("/ws/rooms/bench", ws_room)
    app.router.add_put("/upload", upload)
    app.router.add_static("/static", os.environ["AREION_BENCH_STATIC"])
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--access-log", action="store_true", help="aiohttp's default access log")
    args = parser.parse_args()
    if args.access_log:
        logging.basicConfig(level=logging.DEBUG)
        web.run_app(
            make_app(), host=args.host, port=args.port, print=None, loop=uvloop.new_event_loop()
        )
    else:
        web.run_app(
            make_app(),
            host=args.host,
            port=args.port,
            access_log=None,
            print=None,
            loop=uvloop.new_event_loop(),
        )


if __name__ == "__main__":
    main()
