"""Sanic, single process (``single_process=True``), debug off; access log off (Sanic's
default outside debug mode: ``ACCESS_LOG`` is ``False``), or on with ``--access-log``.

Run: ``python bench/apps/sanic_app.py --host 127.0.0.1 --port 8000 [--access-log]``.
"""

from __future__ import annotations

import argparse
import os

from sanic import Request, Sanic
from sanic.response import HTTPResponse, json, text

app = Sanic("bench")


@app.get("/json")
async def json_handler(request: Request) -> HTTPResponse:
    return json({"message": "Hello, World!"})


@app.get("/plaintext")
async def plaintext(request: Request) -> HTTPResponse:
    return text("Hello, World!")


@app.get("/users/<id>/posts/<post>")
async def user_post(request: Request, id: str, post: str) -> HTTPResponse:
    return json({"user": id, "post": post})


@app.post("/echo")
async def echo(request: Request) -> HTTPResponse:
    return json(request.json)


app.static("/static", os.environ["AREION_BENCH_STATIC"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--access-log", action="store_true", help="access_log=True")
    args = parser.parse_args()
    app.run(
        host=args.host,
        port=args.port,
        single_process=True,
        access_log=args.access_log,
        debug=False,
        motd=False,
    )


if __name__ == "__main__":
    main()
