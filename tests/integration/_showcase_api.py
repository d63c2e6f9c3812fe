"""The apps the integration tests serve: a showcase-like API, a compressed page, a template page.

Each builder returns a fresh ``AreionServer`` with only the plugins the test names (selected
through their entry points, as users install them) and no config file from the working
directory, so the tests do not depend on what else is installed or where pytest runs.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from areion_core import AreionServerBuilder, HttpRequest, NotFoundError, Router
from areion_core.runner import AreionServer


@dataclass
class Post:
    """A post written by a user."""

    user_id: int
    post_id: int
    title: str
    tags: list[str] = field(default_factory=list)


@dataclass
class NewPost:
    """What a client sends to create a post."""

    title: str
    tags: list[str] = field(default_factory=list)


class Sort(enum.Enum):
    """Order of a listing."""

    NEWEST = "newest"
    OLDEST = "oldest"


def showcase_router() -> Router:
    """Routes shaped like ``examples/showcase/app.py``: typed path and query parameters, a
    dataclass body, a documented error and a router group (the ``users`` tag)."""
    router = Router()

    @router.get("/json")
    async def json_endpoint(request: HttpRequest) -> dict[str, str]:
        """Hello world as JSON."""
        return {"message": "Hello, World!"}

    @router.get("/plaintext")
    async def plaintext(request: HttpRequest) -> str:
        """Hello world as text."""
        return "Hello, World!"

    users = router.group("/users")

    @users.get("/:id/posts/:post")
    async def user_post(request: HttpRequest, id: int, post: int) -> Post:
        """One post of one user.

        Args:
            id: the user's id.
            post: the post's id.
        """
        if post > 1000:
            raise NotFoundError("no such post")
        return Post(user_id=id, post_id=post, title=f"Post {post} by user {id}")

    @users.get("/:id/posts")
    async def list_posts(request: HttpRequest, id: int, limit: int = 3, sort: Sort = Sort.NEWEST) -> list[Post]:
        """List a user's posts.

        Args:
            id: the user's id.
            limit: how many posts to return.
            sort: newest or oldest first.
        """
        count = max(0, min(limit, 20))
        numbers = range(count, 0, -1) if sort is Sort.NEWEST else range(1, count + 1)
        return [Post(user_id=id, post_id=n, title=f"Post {n}") for n in numbers]

    @users.post("/:id/posts")
    async def create_post(request: HttpRequest, id: int, body: NewPost) -> Post:
        """Create a post.

        Args:
            id: the user's id.
            body: the new post.
        """
        return Post(user_id=id, post_id=1, title=body.title, tags=list(body.tags))

    @router.get("/greet/:name")
    async def greet(request: HttpRequest, name: str, style: Literal["plain", "loud"] = "plain") -> dict[str, str]:
        """Greet someone by name."""
        text = f"Hello, {name}!"
        return {"greeting": text.upper() if style == "loud" else text}

    # The showcase's request-body routes as they are: PUT /upload, POST /upload/form, POST /items.
    from examples.showcase.uploads import router as uploads_router

    router.include_router(uploads_router)
    return router


def showcase_server(*, extra: Mapping[str, Any] | None = None) -> AreionServer:
    """The showcase-like API in development mode with the openapi plugin (docs pages on)."""
    config: dict[str, Any] = {"plugins": {"enabled": ["openapi"], "openapi": {"title": "Showcase API"}},
                              "access_log": False}
    config.update(extra or {})
    return (AreionServerBuilder().with_router(showcase_router()).without_config_file()
            .with_config(config).with_development_mode(True).build())
