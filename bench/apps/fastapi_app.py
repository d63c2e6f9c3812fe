"""FastAPI, served by uvicorn (http=httptools, loop=uvloop, no access log).

Handlers are written the way FastAPI's tutorial writes them: return a dict, take the body
as a typed parameter. Its default response class and validation are part of what is
measured.

Run: ``uvicorn --app-dir bench/apps fastapi_app:app --http httptools --loop uvloop``.
"""

from __future__ import annotations

import os
from typing import Annotated, Any

from fastapi import Body, FastAPI
from fastapi.responses import PlainTextResponse
from fastapi.staticfiles import StaticFiles

app = FastAPI(debug=False, openapi_url=None, docs_url=None, redoc_url=None)


@app.get("/json")
async def json_handler() -> dict[str, str]:
    return {"message": "Hello, World!"}


@app.get("/plaintext", response_class=PlainTextResponse)
async def plaintext() -> str:
    return "Hello, World!"


@app.get("/users/{id}/posts/{post}")
async def user_post(id: str, post: str) -> dict[str, str]:
    return {"user": id, "post": post}


@app.post("/echo")
async def echo(payload: Annotated[dict[str, Any], Body()]) -> dict[str, Any]:
    return payload


app.mount("/static", StaticFiles(directory=os.environ["AREION_BENCH_STATIC"]))
