"""The app-wide ``request_started`` hot hook: every request, matched or not, after routing."""

from __future__ import annotations

import asyncio

from areion_core import AreionServerBuilder, BadRequestError, HttpResponse, Router, hookimpl
from areion_core.testing import TestClient


def _router(handled: list[str]) -> Router:
    r = Router()

    @r.get("/a")
    async def a(request):
        handled.append("a")
        return "a"

    return r


def build(*plugins, handled: list[str]):
    return (AreionServerBuilder().with_router(_router(handled)).without_config_file()
            .with_config(plugins=[]).with_access_log(False).with_plugins(*plugins).build())


class HostGate:
    """Answers every request for another host, matched or not; records the route it saw."""

    name = "host_gate"

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, object]] = []

    @hookimpl
    def request_started(self, request):
        self.seen.append((request.method, request.path, request.route.path if request.route else None))
        if request.get_header("host") == "evil.example":
            return HttpResponse("refused", 421)
        return None

    @hookimpl
    def response_ready(self, request, response):
        response.set_header("X-Gate", "seen")


class Refuser:
    name = "refuser"

    @hookimpl
    async def request_started(self, request):
        if request.path == "/a" and request.get_header("x-refuse"):
            raise BadRequestError("refused by a plugin")
        return None


def test_request_started_sees_every_request_with_its_route():
    handled: list[str] = []
    gate = HostGate()
    with TestClient(build(gate, handled=handled)) as c:
        assert c.get("/a").text == "a"
        assert c.get("/missing").status_code == 404
        assert c.post("/a").status_code == 405
        assert c.options("/a").status_code == 204
    assert gate.seen == [("GET", "/a", "/a"), ("GET", "/missing", None), ("POST", "/a", None),
                         ("OPTIONS", "/a", None)]
    assert handled == ["a"]


def test_an_answer_replaces_the_handler_and_routing_answers_alike():
    handled: list[str] = []
    with TestClient(build(HostGate(), handled=handled)) as c:
        for method, path in (("GET", "/a"), ("GET", "/missing"), ("POST", "/a"), ("OPTIONS", "/a")):
            got = c.request(method, path, headers={"host": "evil.example"})
            assert (got.status_code, got.text) == (421, "refused"), (method, path)
            assert got.headers["x-gate"] == "seen"  # the answer still goes through response_ready
    assert handled == []


def test_an_http_error_raised_in_the_hook_is_that_error():
    handled: list[str] = []
    with TestClient(build(Refuser(), handled=handled)) as c:
        got = c.get("/a", headers={"x-refuse": "1"})
        assert got.status_code == 400
        assert got.headers["content-type"] == "application/problem+json"
        assert got.json()["detail"] == "refused by a plugin"
        assert c.get("/a").text == "a"
    assert handled == ["a"]


def test_no_implementation_compiles_to_none():
    server = build(handled=[])
    assert server.app.dispatcher.started_chain is None


class SyncRefuser:
    name = "sync_refuser"

    @hookimpl
    def request_started(self, request):
        if request.get_header("x-refuse"):
            raise BadRequestError("refused at once")
        return None


class LateRefuser:
    """Suspends before refusing or answering: the chain's awaitable path."""

    name = "late_refuser"

    @hookimpl
    async def request_started(self, request):
        await asyncio.sleep(0)
        if request.get_header("x-refuse"):
            raise BadRequestError("refused later")
        if request.get_header("x-answer"):
            return HttpResponse("answered later", 203)
        return None


def test_sync_and_suspended_hooks_fail_and_answer_like_the_async_one():
    handled: list[str] = []
    with TestClient(build(SyncRefuser(), handled=handled)) as c:
        got = c.get("/a", headers={"x-refuse": "1"})
        assert (got.status_code, got.json()["detail"]) == (400, "refused at once")
        missing = c.get("/missing", headers={"x-refuse": "1"})  # unmatched: the app's exception chain
        assert (missing.status_code, missing.json()["detail"]) == (400, "refused at once")
    with TestClient(build(LateRefuser(), handled=handled)) as c:
        got = c.get("/a", headers={"x-refuse": "1"})
        assert (got.status_code, got.json()["detail"]) == (400, "refused later")
        answered = c.get("/a", headers={"x-answer": "1"})
        assert (answered.status_code, answered.text) == (203, "answered later")
        assert c.get("/a").text == "a"
    assert handled == ["a"]


class SoleSync:
    """A plugin's one sync request_started (the dispatcher calls it without a runner): it
    raises, returns a future, or returns a wrong type, by header."""

    name = "sole_sync"

    @hookimpl
    def request_started(self, request):
        how = request.get_header("x-how")
        if how == "raise":
            raise RuntimeError("broken hook")
        if how == "future":
            future = asyncio.get_running_loop().create_future()
            asyncio.get_running_loop().call_soon(future.set_result, HttpResponse("from a future", 202))
            return future
        if how == "wrong":
            return 42
        return None


class Quiet:
    """A second plugin's request_started: with it, the chain has two links and runs through the runner."""

    name = "quiet"

    @hookimpl(trylast=True)
    def request_started(self, request):
        return None


def test_a_sole_sync_hook_fails_and_answers_as_the_runner_would(caplog):
    outcomes = []
    for plugins in ((SoleSync(),), (SoleSync(), Quiet())):
        handled: list[str] = []
        app = build(*plugins, handled=handled)
        assert (app.app.dispatcher.started_link is not None) == (len(plugins) == 1)
        got = []
        with TestClient(app) as c:
            for how in ("raise", "future", "wrong", "none"):
                caplog.clear()
                r = c.get("/a", headers={"x-how": how})
                logged = " ".join(record.getMessage() for record in caplog.records if record.levelname == "ERROR")
                got.append((how, r.status_code, r.text if r.status_code < 300 else "",
                            "sole_sync" in logged, "request_started" in logged))
        outcomes.append(got)
    assert outcomes[0] == outcomes[1]
    assert outcomes[0] == [("raise", 500, "", True, True), ("future", 202, "from a future", False, False),
                           ("wrong", 500, "", True, True), ("none", 200, "a", False, False)]
