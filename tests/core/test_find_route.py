"""``app.find_route(method, path)``: the route routing would pick, for plugins acting on another request."""

from __future__ import annotations

import pytest

from areion_core import App, AreionServerBuilder, Router


@pytest.fixture(scope="module")
def app() -> App:
    router = Router()
    router.add_route("/items", lambda request: "list", ["GET"], name="list_items")
    router.add_route("/items", lambda request: "add", ["POST"], name="add_item")
    router.add_route("/users/:id/posts/:post", lambda request, id, post: "post", ["GET", "DELETE"], name="post")
    router.add_route("/files/caf\u00e9", lambda request: "cafe", ["GET"], name="cafe")
    return AreionServerBuilder().with_router(router).without_config_file().with_config(plugins=[]).build().app


def found(app: App, method: str, path: str) -> str | None:
    route = app.find_route(method, path)
    return None if route is None else route.name


@pytest.mark.parametrize(("method", "path", "name"), [
    ("GET", "/items", "list_items"),
    ("POST", "/items", "add_item"),
    ("DELETE", "/users/7/posts/9", "post"),
    ("HEAD", "/items", "list_items"),  # HEAD finds GET, as routing does
    ("GET", "/files/caf%C3%A9", "cafe"),  # percent-escapes decoded
    ("PUT", "/items", None),
    ("GET", "/nowhere", None),
    ("GET", "/items/", None),  # no redirect is followed
    ("GET", "/files/%ZZ", None),
])
def test_find_route(app: App, method: str, path: str, name: str | None) -> None:
    assert found(app, method, path) == name
