"""Emmett55 on Granian's RSGI interface, started by its own ``serve`` command (Granian).

Run: ``python -m emmett55.cli -a bench/apps/emmett55_app.py serve --host 127.0.0.1
--port 8000`` (the ``emmett55 serve`` command: RSGI, Granian, access log off by default).

Handlers are written the way Emmett's documentation writes them: ``@service.json`` for JSON
answers, a plain string for text, path variables as arguments, ``await
request.body_params`` for the JSON body. Emmett serves ``/static/`` from the app's
``static_path``, pointed here at the bench's static directory; ``root_path`` is that
directory's parent, where Emmett keeps (and creates, if missing) its ``logs`` and
``static`` folders.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from emmett55 import App, request, response
from emmett55.tools import service

STATIC = Path(os.environ["AREION_BENCH_STATIC"])

app = App(__name__, root_path=str(STATIC.parent))
app.static_path = str(STATIC)


@app.route("/json", methods=["get"])
@service.json
async def json_handler() -> dict[str, str]:
    return {"message": "Hello, World!"}


@app.route("/plaintext", methods=["get"])
async def plaintext() -> str:
    response.content_type = "text/plain"
    return "Hello, World!"


@app.route("/users/<str:id>/posts/<str:post>", methods=["get"])
@service.json
async def user_post(id: str, post: str) -> dict[str, str]:
    return {"user": id, "post": post}


@app.route("/echo", methods=["post"])
@service.json
async def echo() -> Any:
    return dict(await request.body_params)
