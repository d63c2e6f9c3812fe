"""The showcase app that `make run` serves: the core's features and every plugin, in one place.

Run it with `make run`, or `areion run examples.showcase.app:server`.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

from areion_core import AreionServerBuilder, HttpRequest, NotFoundError, Router, StreamingResponse

HERE = Path(__file__).parent
router = Router()


@dataclass
class Post:
    user_id: int
    post_id: int
    title: str


@router.get("/json")
async def json_endpoint(request: HttpRequest) -> dict[str, str]:
    """Hello world as JSON."""
    return {"message": "Hello, World!"}


@router.get("/plaintext")
async def plaintext(request: HttpRequest) -> str:
    """Hello world as text."""
    return "Hello, World!"


@router.get("/users/:id/posts/:post")
async def user_post(request: HttpRequest, id: int, post: int) -> Post:
    """One post of one user.

    Args:
        id: the user's id.
        post: the post's id.
    """
    if post > 1000:
        raise NotFoundError("no such post")
    return Post(user_id=id, post_id=post, title=f"Post {post} by user {id}")


@router.post("/echo")
async def echo(request: HttpRequest) -> object:
    """Send back the JSON body."""
    return request.get_parsed_body()


@router.get("/stream")
async def stream(request: HttpRequest) -> StreamingResponse:
    """Five chunks, 100 ms apart (server-sent events)."""

    async def events():  # type: ignore[no-untyped-def]
        for i in range(5):
            yield f"data: tick {i}\n\n"
            await asyncio.sleep(0.1)

    return StreamingResponse(events(), content_type="text/event-stream")


server = (
    AreionServerBuilder()
    .with_router(router)
    .with_static_dir(HERE / "static")
    .with_global_headers({"X-Content-Type-Options": "nosniff"})
    .build()
)

if __name__ == "__main__":
    server.run()
