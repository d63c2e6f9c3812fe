"""A 2xx/3xx answer to an unsafe method invalidates the cached GET of its target (RFC 9111 §4.4).

Real server, real sockets (httpx), every store: the target URI's entries (every ``Vary``
variant, every encoding, every host), same-origin ``Location`` / ``Content-Location``, and
nothing for error answers, other origins, other queries, or with ``invalidate_on_unsafe``
off. Which routes carry the plugin for it is checked on the compiled chains.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from areion_caching import cache

from areion_core import AreionServer, HttpRequest, HttpResponse, Router
from areion_core.plugin_api import route_chain
from areion_core.testing import LiveServer
from tests.plugins.caching._caching_support import Counter, build_server
from tests.plugins.caching.test_invalidation import Deployment


def app_router(runs: Counter) -> Router:
    r = Router()

    @r.get("/users")
    @cache(ttl=60, vary=["accept-language"])
    async def users(request: HttpRequest) -> str:
        return f"users {request.headers.get('accept-language')} {runs()} " + "x" * 2000

    @r.get("/users/:id")
    @cache(ttl=60)
    async def user(request: HttpRequest, id: int) -> str:
        return f"user {id} {runs()}"

    @r.get("/search")
    @cache(ttl=60)
    async def search(request: HttpRequest) -> str:
        return f"search {request.query_string} {runs()}"

    async def change(request: HttpRequest, **_: Any) -> HttpResponse:
        """Answers what the test asks for: a status, a Location, a Content-Location."""
        if request.headers.get("x-raise"):
            raise RuntimeError("the handler failed")
        headers = {name: value for name in ("location", "content-location")
                   if (value := request.headers.get(f"x-{name}"))}
        return HttpResponse(None, int(request.headers.get("x-status", "204")), headers=headers)

    r.add_route("/users", change, ["POST"])
    r.add_route("/users/:id", change, ["PUT", "PATCH", "DELETE", "PURGE"])
    r.add_route("/search", change, ["POST"])
    r.add_route("/elsewhere", change, ["POST"])
    r.add_route("/users/:id/avatar", change, ["PUT", "POST"])
    r.add_route("/posts/:id", change, ["PUT"])
    return r


class App:
    """The app on a live server, with a client and the handler's run counter."""

    def __init__(self, server: AreionServer, runs: Counter) -> None:
        self.runs = runs
        self.live = LiveServer(server).__enter__()
        self.client = httpx.Client(base_url=self.live.url, headers={"Host": "good.example"})

    def get(self, path: str, **headers: str) -> tuple[str, str]:
        """(X-Cache, body) of a GET."""
        response = self.client.get(path, headers=headers)
        assert response.status_code == 200, response.text
        return response.headers["x-cache"], response.text

    def label(self, path: str, **headers: str) -> str:
        return self.get(path, **headers)[0]

    def send(self, method: str, path: str, **headers: str) -> int:
        return self.client.request(method, path, headers=headers).status_code

    def close(self) -> None:
        self.client.close()
        self.live.__exit__(None, None, None)


@pytest.fixture(params=["memory", "filesystem", "redis"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, Any]:
    if request.param == "redis":
        return {"store": "redis", "url": request.getfixturevalue("redis_url")}
    if request.param == "filesystem":
        return {"store": "filesystem", "path": str(tmp_path / "cache")}
    return {"store": "memory"}


def start(settings: dict[str, Any], *, plugins: tuple[str, ...] = ("caching",)) -> App:
    runs = Counter()
    return App(build_server(app_router(runs), settings, plugins=plugins), runs)


@pytest.fixture
def app(store: dict[str, Any]) -> Iterator[App]:
    started = start(store)
    yield started
    started.close()


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE", "PURGE"])
def test_a_successful_unsafe_answer_invalidates_its_target(app: App, method: str) -> None:
    for path in ("/users/1", "/users/2"):
        assert app.label(path) == "MISS"
        assert app.label(path) == "HIT"
    assert app.send(method, "/users/1") == 204
    assert app.get("/users/1") == ("MISS", "user 1 3")
    assert app.label("/users/2") == "HIT"  # another URI


def test_every_variant_every_encoding_and_every_host_goes(store: dict[str, Any]) -> None:
    app = start(store, plugins=("caching", "compression"))
    try:
        variants = [{"accept-language": lang, "accept-encoding": enc, "host": host}
                    for lang in ("en", "de") for enc in ("gzip", "br", "identity")
                    for host in ("good.example", "other.example:8080")]
        for headers in variants:
            assert app.label("/users", **headers) == "MISS"
        assert {app.label("/users", **headers) for headers in variants} == {"HIT"}
        assert app.send("POST", "/users", **{"x-status": "201"}) == 201
        assert {app.label("/users", **headers) for headers in variants} == {"MISS"}
    finally:
        app.close()


@pytest.mark.parametrize("status", ["400", "404", "409", "500"])
def test_an_error_answer_invalidates_nothing(app: App, status: str) -> None:
    app.get("/users/1")
    assert app.send("PUT", "/users/1", **{"x-status": status}) == int(status)
    assert app.send("PUT", "/users/1", **{"x-raise": "1"}) == 500
    assert app.label("/users/1") == "HIT"


def test_location_and_content_location_of_the_same_origin(app: App) -> None:
    for n in range(1, 8):
        app.get(f"/users/{n}")
    sent = [
        {"x-status": "201", "x-location": "/users/1"},
        {"x-status": "201", "x-location": "http://good.example/users/2"},  # absolute, same origin
        {"x-status": "200", "x-content-location": "users/3"},  # relative to /users
        {"x-status": "303", "x-location": "http://GOOD.example:80/users/4"},  # one origin
        {"x-status": "201", "x-location": "http://evil.example/users/5"},  # another host
        {"x-status": "201", "x-location": "https://good.example/users/6"},  # another scheme
        {"x-status": "201", "x-location": "//good.example:8080/users/7"},  # another port
    ]
    for headers in sent:
        assert app.send("POST", "/users", **headers) == int(headers["x-status"])
    labels = [app.label(f"/users/{n}") for n in range(1, 8)]
    assert labels == ["MISS"] * 4 + ["HIT"] * 3


def test_a_parent_or_a_child_route_invalidates_what_its_answer_names(app: App) -> None:
    app.get("/users/1")
    app.get("/users/2")
    # Post/Redirect/Get: a form posted to a child answers 303 See Other to the cached page.
    assert app.send("POST", "/users/1/avatar", **{"x-status": "303", "x-location": "/users/1"}) == 303
    # Its own URI is not cached: nothing else goes.
    assert app.send("PUT", "/users/2/avatar") == 204
    assert [app.label("/users/1"), app.label("/users/2")] == ["MISS", "HIT"]


def test_the_query_is_part_of_the_target(app: App) -> None:
    app.get("/search?q=1&page=2")
    app.get("/search?q=2")
    assert app.send("POST", "/search?page=2&q=1") == 204  # the same query, in another order
    assert app.label("/search?q=1&page=2") == "MISS"
    assert app.label("/search?q=2") == "HIT"


def test_switched_off(store: dict[str, Any]) -> None:
    app = start({**store, "invalidate_on_unsafe": False})
    try:
        app.get("/users/1")
        assert app.send("DELETE", "/users/1") == 204
        assert app.label("/users/1") == "HIT"
    finally:
        app.close()


def test_an_unsafe_method_of_a_cached_route_itself() -> None:
    router, runs = Router(), Counter()

    @router.route("/thing", methods=["GET", "POST"])
    @cache(ttl=60)
    async def thing(request: HttpRequest) -> str:
        return f"{request.method} {runs()}"

    with LiveServer(build_server(router)) as live:
        assert httpx.get(live.url + "/thing").text == "GET 1"
        assert httpx.get(live.url + "/thing").headers["x-cache"] == "HIT"
        assert httpx.post(live.url + "/thing").text == "POST 2"
        assert httpx.get(live.url + "/thing").text == "GET 3"


def test_only_routes_sharing_a_cached_path_carry_the_plugin() -> None:
    server = build_server(app_router(Counter()))
    chains = {(route.path, tuple(sorted(route.methods))): [link.plugin for link in
                                                            route_chain(route, "response_ready")]
              for route in server.app.routes}
    assert "caching" in chains[("/users", ("POST",))]
    assert "caching" in chains[("/users/{id}", ("DELETE", "PATCH", "PURGE", "PUT"))]
    assert "caching" in chains[("/search", ("POST",))]
    assert "caching" in chains[("/users/{id}/avatar", ("POST", "PUT"))]  # a child's 303
    assert "caching" not in chains[("/elsewhere", ("POST",))]  # no cached GET there
    assert "caching" not in chains[("/posts/{id}", ("PUT",))]
    off = build_server(app_router(Counter()), {"invalidate_on_unsafe": False})
    assert not any("caching" in [link.plugin for link in route_chain(route, "response_ready")]
                   for route in off.app.routes if "GET" not in route.methods)


@pytest.mark.slow
def test_an_unsafe_answer_reaches_every_worker(tmp_path: Path) -> None:
    """Memory store, two workers: the PUT's worker passes the invalidation on to the other."""
    deployment = Deployment("areion", tmp_path)
    try:
        pids = deployment.warm("/items/1")
        assert len(pids) == 2
        assert httpx.put(deployment.url + "/items/1", content=b"2", timeout=10).status_code == 204
        served = deployment.sample("/items/1", lambda s: {x.pid for x in s} == pids)
        assert {x.version for x in served} == {"2"}, served
        assert {x.pid for x in served if x.label == "MISS"} == pids  # each computed it again
    finally:
        assert deployment.stop() == 0


def test_same_origin_targets() -> None:
    from areion_caching._unsafe import same_origin_target

    from areion_core import AreionServerBuilder

    def target(reference: str, *, host: str = "good.example", root: str = "") -> tuple[str, str] | None:
        app = (AreionServerBuilder().with_router(Router()).without_config_file()
               .with_config({"plugins": {"enabled": ["caching"]}, "root_path": root}).build().app)
        request = HttpRequest("POST", "/users", "", [(b"Host", host.encode())], app=app)
        return same_origin_target(request, reference)

    assert target("/users/7?b=1") == ("/users/7", "b=1")
    assert target("7") == ("/7", "")
    assert target("http://good.example:80/caf%C3%A9") == ("/café", "")
    assert target("/a/../users/7") == ("/users/7", "")
    assert target("http://user@good.example/users/7") is None
    assert target("https://good.example/users/7") is None
    assert target("http://good.example:8080/users/7") is None
    assert target("http://good.example:8080/users/7", host="good.example:8080") == ("/users/7", "")
    assert target("http://[::1/x") is None  # not a URI
    assert target("/%ff") is None  # not UTF-8: no request path
    assert target("/mount/users/7", root="/mount") == ("/users/7", "")
    assert target("/elsewhere/users/7", root="/mount") is None


def test_the_root_is_no_ones_parent_and_a_catch_all_takes_the_rest() -> None:
    r = Router()

    @r.get("/")
    @cache(ttl=60)
    async def home(request: HttpRequest) -> str:
        return "home"

    @r.get("/files/*rest")
    @cache(ttl=60)
    async def files(request: HttpRequest, rest: str) -> str:
        return rest

    async def change(request: HttpRequest, **_: Any) -> None:
        return None

    r.add_route("/", change, ["POST"])
    r.add_route("/login", change, ["POST"])
    r.add_route("/files/a/b/c", change, ["DELETE"])
    r.add_route("/uploads/:name", change, ["PUT"])
    server = build_server(r)
    carrying = {route.path for route in server.app.routes if "GET" not in route.methods
                and "caching" in [link.plugin for link in route_chain(route, "response_ready")]}
    assert carrying == {"/", "/files/a/b/c"}
    cached = server.app.get_plugin("caching").cache.cached_paths
    assert cached.match("/") and cached.match("/files/a/b") and cached.match("/files")
    assert not cached.match("/login") and not cached.match("/uploads/x")


async def test_a_get_computed_across_an_unsafe_answer_is_not_stored() -> None:
    """The GET may have read the data before the PUT changed it: storing it would undo the PUT."""
    import asyncio

    router, runs = Router(), Counter()
    started = asyncio.Event()

    @router.get("/doc")
    @cache(ttl=60)
    async def doc(request: HttpRequest) -> str:
        n = runs()
        if n == 1:
            started.set()
            await asyncio.sleep(0.3)  # the PUT lands meanwhile
        return f"doc {n}"

    async def put(request: HttpRequest) -> None:
        return None

    router.add_route("/doc", put, ["PUT"])
    # An async handler in the server's own loop: run the server in this test's loop.
    server = build_server(router)
    server.host, server.port = "127.0.0.1", 0  # a free port
    await server.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}") as client:
            slow = asyncio.ensure_future(client.get("/doc"))
            await started.wait()
            assert (await client.put("/doc")).status_code == 204
            first = await slow
            assert (first.text, first.headers["x-cache"]) == ("doc 1", "MISS")
            again = await client.get("/doc")
            assert (again.text, again.headers["x-cache"]) == ("doc 2", "MISS")  # 1 was not stored
            assert (await client.get("/doc")).headers["x-cache"] == "HIT"
    finally:
        await server.stop()
