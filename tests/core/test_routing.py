"""Routing: the segment tree, parameters, conversions, groups, middleware composition."""

from __future__ import annotations

import uuid

import pytest

from areion_core import HttpResponse, RouteError, Router
from areion_core.routing import Route, RouteTree, normalise_path
from areion_core.testing import TestClient
from tests.core._core_support import make_server

#: Part of the smoke suite run on every supported Python (scripts/smoke.sh).
pytestmark = pytest.mark.smoke


def client_for(router: Router, **config) -> TestClient:
    return TestClient(make_server(router, **config))


def test_static_segment_wins_and_falls_back_to_parameter():
    r = Router()

    @r.get("/users/:id")
    async def user(request, id):
        return f"user {id}"

    @r.get("/users/me/settings")
    async def settings(request):
        return "settings"

    @r.get("/users/:id/posts")
    async def posts(request, id):
        return f"posts of {id}"

    with client_for(r) as c:
        assert c.get("/users/me/settings").text == "settings"
        assert c.get("/users/me").text == "user me"  # no static leaf: falls back to :id
        assert c.get("/users/42").text == "user 42"
        assert c.get("/users/me/posts").text == "posts of me"  # backtracks from the static branch


def test_different_parameter_names_at_the_same_position():
    r = Router()

    @r.get("/items/:item_id")
    async def item(request, item_id):
        return {"item_id": item_id}

    @r.get("/items/{slug}/edit")
    async def edit(request, slug):
        return {"slug": slug}

    with client_for(r) as c:
        assert c.get("/items/7").json() == {"item_id": "7"}
        assert c.get("/items/abc/edit").json() == {"slug": "abc"}


def test_parameters_are_percent_decoded_per_segment():
    r = Router()

    @r.get("/files/:name")
    async def file(request, name):
        return name

    @r.get("/café")
    async def cafe(request):
        return "static unicode"

    with client_for(r) as c:
        assert c.get("/files/a%20b").text == "a b"
        assert c.get("/files/a%2Fb").text == "a/b"  # %2F stays inside the segment
        assert c.get("/files/%E2%82%AC").text == "€"
        assert c.get("/caf%C3%A9").text == "static unicode"
        assert c.get("/files/%zz").status_code == 400


@pytest.mark.parametrize("annotation,good,expected,bad", [
    (int, "42", 42, "4x2"),
    (int, "-9223372036854775808", -9223372036854775808, "9223372036854775808"),
    (float, "1.5", 1.5, "one"),
    (uuid.UUID, "12345678-1234-5678-1234-567812345678",
     "12345678-1234-5678-1234-567812345678", "not-a-uuid"),
])
def test_annotated_path_parameters_are_converted_or_422(annotation, good, expected, bad):
    r = Router()

    async def handler(request, value):
        return {"type": type(value).__name__, "value": str(value) if annotation is uuid.UUID else value}

    handler.__annotations__ = {"value": annotation}
    r.add_route("/v/:value", handler)
    with client_for(r) as c:
        ok = c.get(f"/v/{good}")
        assert ok.status_code == 200
        assert ok.json() == {"type": annotation.__name__, "value": expected}
        wrong = c.get(f"/v/{bad}")
        assert wrong.status_code == 422
        assert wrong.json()["errors"] == [
            {"loc": ["path", "value"], "msg": f"must be {annotation.__name__}", "type": "type_error"}]


def test_query_parameters_from_annotated_handler_arguments():
    r = Router()

    @r.get("/search")
    async def search(request, q: str, page: int = 1, tag: list[str] | None = None, exact: bool = False):
        return {"q": q, "page": page, "tag": tag, "exact": exact}

    with client_for(r) as c:
        assert c.get("/search?q=x").json() == {"q": "x", "page": 1, "tag": None, "exact": False}
        assert c.get("/search?q=x&page=3&tag=a&tag=b&exact=true").json() == {
            "q": "x", "page": 3, "tag": ["a", "b"], "exact": True}
        missing = c.get("/search")
        assert missing.status_code == 422
        assert missing.json()["errors"] == [{"loc": ["query", "q"], "msg": "field required", "type": "missing"}]
        assert c.get("/search?q=x&page=two").status_code == 422


def test_trailing_slash_policy_redirects_with_308():
    r = Router()

    @r.get("/docs")
    async def docs(request):
        return "docs"

    @r.post("/things")
    async def things(request):
        return "made"

    with client_for(r) as c:
        redirect = c.get("/docs/?a=1")
        assert redirect.status_code == 308
        assert redirect.headers["location"] == "/docs?a=1"
        assert c.post("/things/").status_code == 308  # 308 keeps the method and body
        assert c.get("/nothing/").status_code == 404


def test_duplicate_route_is_a_startup_error():
    r = Router()
    r.add_route("/a", lambda request: "one")
    r.add_route("/a/", lambda request: "two")
    with pytest.raises(RouteError, match="duplicate route GET /a"):
        make_server(r)


def test_handler_without_the_path_parameter_is_a_startup_error():
    r = Router()

    async def handler(request):
        return "x"

    r.add_route("/a/:id", handler)
    with pytest.raises(RouteError, match="does not accept path parameter 'id'"):
        make_server(r)


def test_group_and_include_router_apply_prefixes_and_group_middleware():
    calls = []

    def group_mw(handler):
        def wrapper(request, *args, **kwargs):
            calls.append(("group", request.path))
            return handler(request, *args, **kwargs)
        return wrapper

    def global_mw(handler):
        async def wrapper(request, *args, **kwargs):
            calls.append(("global", request.path))
            result = handler(request, *args, **kwargs)
            if hasattr(result, "__await__"):
                result = await result
            return result
        return wrapper

    users = Router(prefix="/users")

    @users.route("/")
    def all_users(request):
        return {"users": []}

    @users.route("/:user_id")
    async def user(request, user_id):
        return {"user_id": user_id}

    api = Router()
    group = api.group("/api", middlewares=[group_mw])
    group.include_router(users)

    @group.route("/posts")
    def posts(request):
        return "posts"

    main = Router()
    main.include_router(api)
    main.add_global_middleware(global_mw)
    with client_for(main) as c:
        assert c.get("/api/users").json() == {"users": []}
        assert c.get("/api/users/9").json() == {"user_id": "9"}
        assert c.get("/api/posts").text == "posts"
    assert calls == [("global", "/api/users"), ("group", "/api/users"),
                     ("global", "/api/users/9"), ("group", "/api/users/9"),
                     ("global", "/api/posts"), ("group", "/api/posts")]


@pytest.mark.parametrize("mw_async", [False, True])
@pytest.mark.parametrize("handler_async", [False, True])
def test_middleware_sync_or_async_around_sync_or_async_handlers(mw_async, handler_async):
    if mw_async:
        def mw(handler):
            async def wrapper(request, *args, **kwargs):
                response = await handler(request, *args, **kwargs)  # converted: an HttpResponse
                return f"[{response.body.decode()}]"
            return wrapper
    else:
        def mw(handler):
            def wrapper(request, *args, **kwargs):
                return handler(request, *args, **kwargs)
            return wrapper

    if handler_async:
        async def handler(request, id):
            return f"id={id}"
    else:
        def handler(request, id):
            return f"id={id}"

    r = Router()
    r.add_route("/x/:id", handler, middlewares=[mw])
    with client_for(r) as c:
        response = c.get("/x/5")
    assert response.status_code == 200
    assert response.text == ("[id=5]" if mw_async else "id=5")


def test_middleware_short_circuit_response():
    def auth(handler):
        def wrapper(request, *args, **kwargs):
            if not request.get_header("Authorization"):
                return HttpResponse(status_code=401, body="Unauthorized")
            return handler(request, *args, **kwargs)
        return wrapper

    r = Router()

    @r.route("/dashboard", middlewares=[auth])
    def dashboard(request):
        return "Welcome to the dashboard"

    with client_for(r) as c:
        assert c.get("/dashboard").status_code == 401
        ok = c.get("/dashboard", headers={"Authorization": "Bearer x"})
        assert ok.text == "Welcome to the dashboard"


def test_tree_matching_walks_segments_not_routes():
    tree = RouteTree()
    from areion_core.routing import RouteSpec

    for i in range(2000):
        tree.add(Route(RouteSpec(f"/r{i}/:id/items/:item", lambda request, id, item: None, ("GET",))))
    hit = tree.match("/r1999/5/items/9")
    assert hit is not None
    assert hit[0]["GET"].path == "/r1999/{id}/items/{item}"
    assert hit[1] == ["5", "9"]
    assert tree.match("/r1999/5/items") is None


def test_normalise_path_and_catch_all():
    assert normalise_path("/users/:id/") == "/users/{id}"
    r = Router()

    @r.get("/files/{path:path}")
    async def files(request, path):
        return path

    with client_for(r) as c:
        assert c.get("/files/a/b/c.txt").text == "a/b/c.txt"


def test_1x_introspection_helpers():
    r = Router()

    @r.route("/user/:id", methods=["GET", "POST"])
    def get_user(request, id):
        return id

    assert r.get_handler("GET", "/user/1") is get_user
    assert r.get_handler("DELETE", "/user/1") is None
    assert r.get_allowed_methods("/user/1") == ["GET", "POST"]


def test_url_for_builds_paths_from_route_names():
    r = Router()

    @r.get("/users/:id/posts/:post", name="post")
    async def post(request, id, post):
        return ""

    server = make_server(r)
    assert server.app.url_for("post", id=3, post="a b") == "/users/3/posts/a%20b"
    assert server.app.url_for("post", id=3, post=4, page=2) == "/users/3/posts/4?page=2"
    with pytest.raises(KeyError, match=r"url_for\('post'\) needs post"):
        server.app.url_for("post", id=3)


def test_typed_body_parameters_are_read_from_json():
    import dataclasses as dc
    from typing import TypedDict

    @dc.dataclass
    class Address:
        city: str

    @dc.dataclass
    class NewUser:
        name: str
        age: int = 0
        address: Address | None = None

    class Note(TypedDict):
        text: str

    r = Router()

    @r.post("/users")
    async def create(request, user: NewUser, notify: bool = False):
        return {"name": user.name, "age": user.age, "city": user.address.city if user.address else None,
                "notify": notify}

    @r.post("/notes")
    async def note(request, note: Note):
        return note

    with client_for(r) as c:
        ok = c.post("/users?notify=1", json={"name": "Ada", "age": 36, "address": {"city": "London"}})
        assert ok.json() == {"name": "Ada", "age": 36, "city": "London", "notify": True}
        assert c.post("/users", json={"age": 3}).status_code == 422
        assert c.post("/users", json={"name": "x", "bogus": 1}).status_code == 200  # unknown fields ignored
        assert c.post("/users", json={"name": 5}).status_code == 422
        assert c.post("/users", json={"name": "x", "address": {"city": 3}}).status_code == 422
        assert c.post("/users", json={"name": "x", "age": True}).status_code == 422
        assert c.post("/users", json=[1, 2]).status_code == 422
        assert c.post("/users").status_code == 422
        assert c.post("/notes", json={"text": "hi"}).json() == {"text": "hi"}
        assert c.post("/notes", json={}).status_code == 422


def test_pydantic_and_msgspec_bodies():
    pydantic = pytest.importorskip("pydantic")
    msgspec = pytest.importorskip("msgspec")

    class Item(pydantic.BaseModel):
        name: str
        price: float

    class Point(msgspec.Struct):
        x: int
        y: int

    r = Router()

    @r.post("/items")
    async def item(request, item: Item):
        return {"name": item.name, "price": item.price}

    @r.post("/points")
    async def point(request, p: Point):
        return {"sum": p.x + p.y}

    with client_for(r) as c:
        assert c.post("/items", json={"name": "a", "price": "1.5"}).json() == {"name": "a", "price": 1.5}
        assert c.post("/items", json={"name": "a", "price": "x"}).status_code == 422
        assert c.post("/points", json={"x": 1, "y": 2}).json() == {"sum": 3}
        assert c.post("/points", json={"x": "a", "y": 2}).status_code == 422
