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
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

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


app = Starlette(
    debug=False,
    routes=[
        Route("/json", json_handler),
        Route("/plaintext", plaintext),
        Route("/users/{id}/posts/{post}", user_post),
        Route("/echo", echo, methods=["POST"]),
        Route("/upload", upload, methods=["PUT"]),
        Route("/table", table),
        Mount("/static", StaticFiles(directory=os.environ["AREION_BENCH_STATIC"])),
    ],
)
