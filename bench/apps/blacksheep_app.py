"""BlackSheep, served by uvicorn (http=httptools, loop=uvloop, no access log), the server
BlackSheep's documentation recommends.

Run: ``uvicorn --app-dir bench/apps blacksheep_app:app --http httptools --loop uvloop``.
"""

from __future__ import annotations

import os
from typing import Any

from blacksheep import Application, FromJSON, Response, json, text

app = Application(show_error_details=False)


@app.router.get("/json")
async def json_handler() -> Response:
    return json({"message": "Hello, World!"})


@app.router.get("/plaintext")
async def plaintext() -> Response:
    return text("Hello, World!")


@app.router.get("/users/{id}/posts/{post}")
async def user_post(id: str, post: str) -> Response:
    return json({"user": id, "post": post})


@app.router.post("/echo")
async def echo(payload: FromJSON[dict[str, Any]]) -> Response:
    return json(payload.value)


app.serve_files(
    os.environ["AREION_BENCH_STATIC"],
    root_path="static",
    extensions={".bin"},
)
