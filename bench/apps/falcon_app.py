"""Falcon's ASGI app, served by uvicorn (http=httptools, loop=uvloop, no access log).

Run: ``uvicorn --app-dir bench/apps falcon_app:app --http httptools --loop uvloop``.
"""

from __future__ import annotations

import os

import falcon
import falcon.asgi


class JsonResource:
    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        resp.media = {"message": "Hello, World!"}


class PlaintextResource:
    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        resp.content_type = falcon.MEDIA_TEXT
        resp.text = "Hello, World!"


class UserPostResource:
    async def on_get(
        self, req: falcon.asgi.Request, resp: falcon.asgi.Response, id: str, post: str
    ) -> None:
        resp.media = {"user": id, "post": post}


class EchoResource:
    async def on_post(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        resp.media = await req.get_media()


app = falcon.asgi.App()
app.add_route("/json", JsonResource())
app.add_route("/plaintext", PlaintextResource())
app.add_route("/users/{id}/posts/{post}", UserPostResource())
app.add_route("/echo", EchoResource())
app.add_static_route("/static", os.environ["AREION_BENCH_STATIC"])
