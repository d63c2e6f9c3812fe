"""Litestar, served by uvicorn (the server its documentation starts it with).

Run: ``uvicorn --app-dir bench/apps litestar_app:app``.

Handlers are written the way Litestar's documentation writes them: typed return values
(serialised with msgspec, its default), the body as a typed ``data`` parameter, the static
file through ``create_static_files_router``. ``POST /echo`` says ``status_code=200``:
Litestar's POST answers 201 by default, and every server here answers 200.
"""

from __future__ import annotations

import os
from typing import Any

from litestar import Litestar, MediaType, get, post
from litestar.static_files import create_static_files_router


@get("/json")
async def json_handler() -> dict[str, str]:
    return {"message": "Hello, World!"}


@get("/plaintext", media_type=MediaType.TEXT)
async def plaintext() -> str:
    return "Hello, World!"


@get("/users/{id:str}/posts/{post:str}")
async def user_post(id: str, post: str) -> dict[str, str]:
    return {"user": id, "post": post}


@post("/echo", status_code=200)
async def echo(data: dict[str, Any]) -> dict[str, Any]:
    return data


app = Litestar(
    route_handlers=[
        json_handler,
        plaintext,
        user_post,
        echo,
        create_static_files_router(
            path="/static", directories=[os.environ["AREION_BENCH_STATIC"]]
        ),
    ],
)
