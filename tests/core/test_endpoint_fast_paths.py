"""The endpoint's shortcuts give the same answers as its general path.

An ``async def`` handler that takes path parameters only has its binder's dict as
``request.path_params``; one that also takes a query parameter has the path parameters alone
there. A dataclass a handler returns is converted at once from its second request on (its class
is known then), while an awaitable a handler returns is still awaited first.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from areion_core import Router
from areion_core._param_binding import build_binder, is_path_only
from areion_core.routing import Route


@dataclass
class Post:
    user: int
    post: int


class Later:
    """An awaitable that is not a coroutine: what it resolves to is the answer."""

    def __init__(self, value: object) -> None:
        self.value = value

    def __await__(self):
        yield from ()
        return self.value


def _router() -> Router:
    r = Router()

    @r.get("/users/:user/posts/:post")
    async def user_post(request, user: int, post: int):
        return {"params": request.path_params, "types": [type(v).__name__ for v in request.path_params.values()]}

    @r.get("/search/:user")
    async def search(request, user: int, q: str = ""):
        return {"params": request.path_params, "q": q}

    @r.get("/posts/:user/:post")
    async def post_of(request, user: int, post: int):
        return Post(user, post)

    @r.get("/later/:user")
    async def later(request, user: int):
        return Later({"later": user})

    @r.get("/raw/:name")
    async def raw(request, name):
        return {"params": request.path_params}

    return r


def test_a_path_only_handler_sees_its_converted_parameters_as_path_params(live):
    with httpx.Client(base_url=live(_router()).url) as client:
        answer = client.get("/users/42/posts/7")
        assert answer.json() == {"params": {"user": 42, "post": 7}, "types": ["int", "int"]}
        assert client.get("/raw/abc").json() == {"params": {"name": "abc"}}
        bad = client.get("/users/x/posts/7")
        assert bad.status_code == 422 and bad.headers["content-type"].startswith("application/problem+json")
        # An int path parameter is a signed 64-bit one: one past the range is a 422 too.
        assert client.get(f"/users/{2**63 - 1}/posts/{-2**63}").json()["params"] == {"user": 2**63 - 1, "post": -2**63}
        too_big = client.get(f"/users/{2**63}/posts/7")
        assert too_big.status_code == 422 and "user" in too_big.text


def test_a_handler_with_a_query_parameter_has_only_the_path_ones_in_path_params(live):
    with httpx.Client(base_url=live(_router()).url) as client:
        assert client.get("/search/5", params={"q": "hi"}).json() == {"params": {"user": 5}, "q": "hi"}


def test_a_dataclass_answer_is_the_same_on_every_request_and_an_awaitable_is_still_awaited(live):
    with httpx.Client(base_url=live(_router()).url) as client:
        for post in (1, 2, 3):  # the first request finds the class, the next ones take the shortcut
            answer = client.get(f"/posts/9/{post}")
            assert answer.status_code == 200 and answer.json() == {"user": 9, "post": post}
            assert answer.headers["content-type"].startswith("application/json")
        for _ in range(2):
            assert client.get("/later/4").json() == {"later": 4}


def test_only_a_binder_of_path_parameters_alone_is_path_only():
    r = Router()

    @r.get("/u/:user/p/:post")
    def path_only(request, user: int, post: int): ...

    @r.get("/q/:user")
    def with_query(request, user: int, q: str = ""): ...

    @r.post("/b/:user")
    def with_body(request, user: int, item: Post): ...

    specs, _ = r.collect()
    binders = {spec.path: build_binder(Route(spec)) for spec in specs}
    assert is_path_only(binders["/u/:user/p/:post"])
    assert not is_path_only(binders["/q/:user"])
    assert not is_path_only(binders["/b/:user"])
    assert not is_path_only(None)
