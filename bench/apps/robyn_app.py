"""Robyn (Rust runtime), one process, one worker, as its documentation starts it.

Run: ``python bench/apps/robyn_app.py --host 127.0.0.1 --port 8000``.

Handlers return a dict (Robyn sends it as JSON) or a str (text/plain), the way Robyn's
documentation writes them; the static file through ``serve_directory``. Robyn logs at
INFO by default and writes no line per request (see bench/README.md); ``--log-level``
is left at its default.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from robyn import Request, Robyn

app = Robyn(__file__)


@app.get("/json")
async def json_handler(request: Request) -> dict[str, str]:
    return {"message": "Hello, World!"}


@app.get("/plaintext")
async def plaintext(request: Request) -> str:
    return "Hello, World!"


@app.get("/users/:id/posts/:post")
async def user_post(request: Request) -> dict[str, str]:
    params = request.path_params
    return {"user": params["id"], "post": params["post"]}


@app.post("/echo")
async def echo(request: Request) -> Any:
    return request.json()


app.serve_directory(route="/static", directory_path=os.environ["AREION_BENCH_STATIC"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args, _robyn_args = parser.parse_known_args()
    app.start(host=args.host, port=args.port)


if __name__ == "__main__":
    main()
