"""aiohttp on uvloop, single process, access log off.

Run: ``python bench/apps/aiohttp_app.py --host 127.0.0.1 --port 8000``.
"""

from __future__ import annotations

import argparse
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


def make_app() -> web.Application:
    app = web.Application()
    app.router.add_get("/json", json_handler)
    app.router.add_get("/plaintext", plaintext)
    app.router.add_get("/users/{id}/posts/{post}", user_post)
    app.router.add_post("/echo", echo)
    app.router.add_static("/static", os.environ["AREION_BENCH_STATIC"])
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
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
