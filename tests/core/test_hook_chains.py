"""The hook pipeline: compiled chains, per-route interest, ordering, isolation of plugin failures."""

from __future__ import annotations

import asyncio
import inspect
import logging

import pytest

from areion_core import (
    REPLAYED,
    AreionServerBuilder,
    ConfigError,
    HttpResponse,
    PluginError,
    Router,
    StreamingResponse,
    hookimpl,
    skip_replayed,
    skip_small_bodies,
)
from areion_core.hook_chains import PluginFailure
from areion_core.testing import AsyncTestClient, TestClient


def _router() -> Router:
    r = Router()

    @r.get("/a")
    async def a(request):
        return "a"

    @r.get("/b")
    async def b(request):
        return "b"

    return r


def build(*plugins, router=None, **config):
    config.setdefault("plugins", [])
    return (AreionServerBuilder().with_router(router or _router()).without_config_file()
            .with_config(**config).with_access_log(False).with_plugins(*plugins).build())


def test_unimplemented_hot_hooks_compile_to_none():
    server = build()
    app = server.app
    route = app.routes[0]
    assert route.request_chain is None
    assert route.response_chain is None
    assert route.sent_chain is None
    # The built-in error pages are the only exception handler.
    assert [name for name, _, _ in route.exception_chain] == ["areion.errors"]


class Tagger:
    name = "tagger"

    @hookimpl
    def response_ready(self, request, response):
        response.set_header("X-Tag", "tagger")


class AsyncReplacer:
    name = "replacer"

    @hookimpl(tryfirst=True)
    async def response_ready(self, request, response):
        return HttpResponse(response.body + b"!", headers={"X-Replaced": "yes"})


def test_response_ready_chain_replaces_in_order():
    with TestClient(build(Tagger(), AsyncReplacer())) as c:
        got = c.get("/a")
    # tryfirst replacer ran first; the tagger then saw (and tagged) the replacement.
    assert got.text == "a!"
    assert got.headers["x-replaced"] == "yes" and got.headers["x-tag"] == "tagger"


class ShortCircuit:
    name = "short"
    calls = 0

    @hookimpl
    async def request_received(self, request):
        if request.path == "/a":
            return HttpResponse("from plugin", 203)
        return None


def test_request_received_short_circuits_the_handler():
    handled = []
    r = Router()

    @r.get("/a")
    async def a(request):
        handled.append("a")
        return "handler"

    with TestClient(build(ShortCircuit(), Tagger(), router=r)) as c:
        got = c.get("/a")
    assert (got.status_code, got.text) == (203, "from plugin")
    assert got.headers["x-tag"] == "tagger"  # short-circuited answers still pass response_ready
    assert handled == []


class OnlyOnB:
    name = "only_b"

    @hookimpl
    def hot_hooks_for_route(self, app, route):
        return ("response_ready",) if route.path == "/b" else ()

    @hookimpl
    def response_ready(self, request, response):
        response.set_header("X-Only-B", "1")


def test_per_route_interest_keeps_chains_empty_elsewhere():
    server = build(OnlyOnB())
    by_path = {r.path: r for r in server.app.routes}
    assert by_path["/a"].response_chain is None
    assert [n for n, _, _ in by_path["/b"].response_chain] == ["only_b"]
    with TestClient(server) as c:
        assert "x-only-b" not in c.get("/a").headers
        assert c.get("/b").headers["x-only-b"] == "1"


class Exploding:
    name = "exploding"

    @hookimpl
    def response_ready(self, request, response):
        if request.path == "/a":
            raise RuntimeError("plugin bug")


def test_plugin_exception_is_a_500_for_that_request_only(caplog):
    with caplog.at_level(logging.ERROR), TestClient(build(Exploding())) as c:
        bad = c.get("/a")
        good = c.get("/b")
    assert bad.status_code == 500 and "plugin bug" not in bad.text
    assert good.status_code == 200 and good.text == "b"
    assert "exploding" in caplog.text and "plugin bug" in caplog.text


class FirstAnswer:
    name = "first"

    @hookimpl
    def exception(self, request, exc):
        if isinstance(exc, KeyError):
            return HttpResponse({"missing": str(exc)}, 422)
        return None


def test_exception_hook_first_answer_wins():
    r = Router()

    @r.get("/k")
    async def k(request):
        raise KeyError("id")

    @r.get("/v")
    async def v(request):
        raise ValueError("x")

    with TestClient(build(FirstAnswer(), router=r)) as c:
        assert c.get("/k").status_code == 422
        assert c.get("/v").status_code == 500


class Wrapper:
    name = "wrapper"

    @hookimpl
    def wrap_handler(self, app, route, handler):
        if route.path != "/a":
            return None

        async def wrapped(request):
            response = await handler(request)
            response.set_header("X-Wrapped", route.name)
            return response

        return wrapped


def test_wrap_handler_is_per_route_at_startup():
    server = build(Wrapper())
    by_path = {r.path: r for r in server.app.routes}
    assert by_path["/a"].wrapped_by == ["wrapper"]
    assert by_path["/b"].wrapped_by == []
    with TestClient(server) as c:
        assert c.get("/a").headers["x-wrapped"] == "a"
        assert "x-wrapped" not in c.get("/b").headers


class Observer:
    name = "observer"

    def __init__(self):
        self.seen = []

    @hookimpl
    async def response_sent(self, request, response):
        self.seen.append((request.path, response.status_code))


async def test_response_sent_observes_every_response_including_404():
    obs = Observer()
    async with AsyncTestClient(build(obs)) as c:
        await c.get("/a")
        await c.get("/missing")
    assert obs.seen == [("/a", 200), ("/missing", 404)]


class Lifecycle:
    name = "lifecycle"

    def __init__(self):
        self.events = []

    @hookimpl
    def configure(self, app, config):
        section = config.section("lifecycle")
        if section.get("mode", "ok") not in ("ok", "fine"):
            raise ConfigError("mode", section["mode"], "'ok' or 'fine'")
        self.events.append(("configure", section.get("mode")))

    @hookimpl
    def register_routes(self, app, router):
        router.add_route("/plugin-route", lambda request: "from plugin", inline=True)

    @hookimpl
    def route_added(self, app, route):
        self.events.append(("route", route.path))

    @hookimpl
    async def startup(self, app):
        self.events.append(("startup",))

    @hookimpl
    async def shutdown(self, app):
        self.events.append(("shutdown",))


def test_cold_hooks_fire_in_order_and_plugin_routes_are_served(monkeypatch):
    monkeypatch.setenv("LIFECYCLE_MODE", "fine")
    plugin = Lifecycle()
    server = build(plugin, plugins={"enabled": [], "lifecycle": {"mode": "${LIFECYCLE_MODE}"}})
    with TestClient(server) as c:
        assert c.get("/plugin-route").text == "from plugin"
    assert plugin.events[0] == ("configure", "fine")
    assert ("route", "/plugin-route") in plugin.events
    assert plugin.events[-2:] == [("startup",), ("shutdown",)]


def test_plugin_config_error_names_key_value_and_expectation():
    with pytest.raises(ConfigError) as info:
        build(Lifecycle(), plugins={"enabled": [], "lifecycle": {"mode": "loud"}})
    message = str(info.value)
    assert "plugins.lifecycle.mode" in message and "'loud'" in message and "'ok' or 'fine'" in message


class BrokenStartup:
    name = "broken"

    @hookimpl
    def startup(self, app):
        raise OSError("cannot reach the thing")


def test_plugin_failing_at_startup_stops_startup_with_its_name():
    with pytest.raises(PluginError, match="'broken' failed at startup"):
        with TestClient(build(BrokenStartup())):
            pass


def test_trace_plugins_logs_hot_hook_calls(monkeypatch, caplog):
    monkeypatch.setenv("AREION_TRACE_PLUGINS", "1")
    with caplog.at_level(logging.INFO, logger="areion.plugins"), \
            TestClient(build(Tagger(), Lifecycle())) as c:
        c.get("/a")
    assert any("hook response_ready [tagger] took" in m for m in caplog.messages)
    assert any("hook configure [lifecycle] took" in m for m in caplog.messages)


class TrylastConflict:
    name = "conflict"

    @hookimpl(trylast=True)
    def exception(self, request, exc):
        return HttpResponse("conflict", 409) if isinstance(exc, ValueError) else None


def test_trylast_exception_impl_runs_before_builtin_error_pages():
    r = Router()

    @r.get("/x")
    async def x(request):
        raise ValueError("taken")

    with TestClient(build(TrylastConflict(), router=r)) as c:
        assert c.get("/x").status_code == 409


class Startup:
    name = "starter"

    @hookimpl
    def startup(self, app):
        pass

    @hookimpl
    def wrap_handler(self, app, route, handler):
        return None


def test_trace_covers_startup_and_wrap_handler(monkeypatch, caplog):
    monkeypatch.setenv("AREION_TRACE_PLUGINS", "1")
    with caplog.at_level(logging.INFO, logger="areion.plugins"), TestClient(build(Startup())):
        pass
    assert any("hook startup [starter]" in m for m in caplog.messages)
    assert any("hook wrap_handler [starter]" in m for m in caplog.messages)
    assert not any("[]" in m for m in caplog.messages)


class Replayer:
    """Answers /a from a "store", marked replayed the way the caching plugin marks a hit."""

    name = "replayer"

    @hookimpl(trylast=True)
    def request_received(self, request):
        if request.headers.get("x-replay") != "1":
            return None
        response = HttpResponse("replayed", headers={"X-Stored": "yes"})
        response.ext()[REPLAYED] = True
        return response


class FreshOnly:
    """A transformer and an observer that replays need not go through again."""

    name = "fresh_only"

    def __init__(self):
        self.ready, self.sent = [], []

    @skip_replayed
    @hookimpl
    def response_ready(self, request, response):
        self.ready.append(response.body.decode())
        response.set_header("X-Transformed", "1")

    @skip_replayed
    @hookimpl
    def response_sent(self, request, response):
        self.sent.append(response.status_code)


class EveryResponse:
    name = "every"

    def __init__(self):
        self.sent = []

    @hookimpl
    def response_ready(self, request, response):
        response.set_header("X-Every", "1")

    @hookimpl
    def response_sent(self, request, response):
        self.sent.append(response.status_code)


def test_replayed_responses_skip_only_the_impls_marked_skip_replayed():
    fresh, every = FreshOnly(), EveryResponse()
    with TestClient(build(Replayer(), fresh, every)) as c:
        made = c.get("/a")
        replayed = c.get("/a", headers={"X-Replay": "1"})
    assert made.text == "a" and made.headers["x-transformed"] == "1" and made.headers["x-every"] == "1"
    assert replayed.text == "replayed" and replayed.headers["x-stored"] == "yes"
    assert "x-transformed" not in replayed.headers  # marked: skipped on the replay
    assert replayed.headers["x-every"] == "1"  # unmarked: sees every response
    assert fresh.ready == ["a"] and fresh.sent == [200]
    assert every.sent == [200, 200]


def test_replay_chains_are_compiled_without_marked_impls():
    server = build(Replayer(), FreshOnly(), EveryResponse())
    route = server.app.build().routes[0]
    assert [n for n, _, _ in route.response_chain] == ["every", "fresh_only"]
    assert [n for n, _, _ in route.replay_chain] == ["every"]
    assert [n for n, _, _ in route.sent_chain] == ["every", "fresh_only"]
    assert [n for n, _, _ in route.replay_sent_chain] == ["every"]
    # Only skip_replayed impls: the replay chains are empty (None), like any unused hook.
    alone = build(Replayer(), FreshOnly()).app.build().routes[0]
    assert alone.replay_chain is None and alone.replay_sent_chain is None


class LeavesSmallBodies:
    """Acts only on bodies of ``min_size`` bytes or more, and says so (skip_small_bodies)."""

    name = "leaves_small"

    def __init__(self, min_size):
        self.min_size = min_size
        self.calls = []

    @skip_small_bodies(lambda plugin: plugin.min_size)
    @hookimpl
    def response_ready(self, request, response):
        self.calls.append(response.body)
        if len(response.body) >= self.min_size:
            response.set_header("X-Big", "1")


def _sized_router() -> Router:
    r = Router()

    @r.get("/small")
    async def small(request):
        return "x" * 9

    @r.get("/big")
    async def big(request):
        return "x" * 10

    @r.get("/streamed")
    async def streamed(request):
        async def chunks():
            yield b"x"
        return StreamingResponse(chunks())

    return r


def test_a_chain_of_skip_small_bodies_impls_is_not_called_for_a_small_plain_body():
    gated = LeavesSmallBodies(10)
    server = build(gated, router=_sized_router())
    with TestClient(server) as c:
        small, big, streamed = c.get("/small"), c.get("/big"), c.get("/streamed")
    assert streamed.text == "x"
    assert {route.path: route.ready_floor for route in server.app.routes}["/small"] == 10
    assert small.text == "x" * 9 and "x-big" not in small.headers
    assert big.headers["x-big"] == "1"
    # Called for the 10-byte body and for the streamed response (not a plain HttpResponse).
    assert gated.calls[0] == b"x" * 10 and len(gated.calls) == 2


def test_one_unmarked_impl_in_the_chain_makes_it_run_for_every_response():
    gated, every = LeavesSmallBodies(10), EveryResponse()
    server = build(gated, every, router=_sized_router())
    with TestClient(server) as c:
        small = c.get("/small")
    assert all(route.ready_floor == 0 for route in server.app.routes)
    assert small.headers["x-every"] == "1"
    assert gated.calls == [b"x" * 9]  # the chain runs whole: the marked impl is called too


def test_the_smallest_threshold_of_a_chain_wins():
    low, high = LeavesSmallBodies(5), LeavesSmallBodies(50)
    high.name = "leaves_small_high"
    server = build(low, high, router=_sized_router())
    assert {route.path: route.ready_floor for route in server.app.routes}["/small"] == 5


# --- a chain of one sync link: the dispatcher calls it without a runner -------------------
# Each case runs twice: with the plugin alone on the route (its sync links are called
# directly) and with a second, passive plugin on the same hooks (the runners call both).
# What the client sees and what the exception hook is given must not differ.


class Passive:
    name = "passive"

    @hookimpl(trylast=True)
    def request_received(self, request):
        return None

    @hookimpl(trylast=True)
    def response_ready(self, request, response):
        return None


class Caught:
    """Records what the exception chain is given; the built-in error page answers."""

    name = "caught"

    def __init__(self):
        self.seen = []

    @hookimpl(tryfirst=True)
    def exception(self, request, exc):
        self.seen.append(exc)


async def _answer(text):
    return HttpResponse(text, 203)


class Misbehaving:
    """request_received / response_ready doing what the path names (``/a?do=...``)."""

    name = "misbehaving"

    @hookimpl
    def request_received(self, request):
        do = request.query_params.get("do")
        if do == "raise-received":
            raise RuntimeError("received bug")
        if do == "wrong-received":
            return 42
        if do == "coroutine-received":
            return _answer("from a coroutine")  # a sync function handing back an awaitable
        if do == "answer-received":
            return StreamingResponse(iter([b"streamed"]), 203)  # a response subclass
        return None

    @hookimpl
    def response_ready(self, request, response):
        do = request.query_params.get("do")
        if do == "raise-ready":
            raise RuntimeError("ready bug")
        if do == "wrong-ready":
            return "not a response"
        if do == "coroutine-ready":
            return _answer("replaced later")
        if do == "replace-ready":
            return StreamingResponse(iter([b"replaced"]), 202)
        response.headers["x-misbehaving"] = "seen"
        return None


class AsyncMisbehaving(Misbehaving):
    """Misbehaving's hooks as ``async def``: finishing at once, or (``suspend``) after a real
    suspension (the Handed path, bounded by the hook timeout)."""

    def __init__(self, suspend=False):
        self.suspend = suspend

    @hookimpl
    async def request_received(self, request):
        if self.suspend:
            await asyncio.sleep(0)
        result = Misbehaving.request_received(self, request)
        return await result if inspect.isawaitable(result) else result

    @hookimpl
    async def response_ready(self, request, response):
        if self.suspend:
            await asyncio.sleep(0)
        result = Misbehaving.response_ready(self, request, response)
        return await result if inspect.isawaitable(result) else result


_MISBEHAVING = {"sync": Misbehaving, "async": AsyncMisbehaving, "suspending": lambda: AsyncMisbehaving(suspend=True)}


def _router_raising() -> Router:
    r = _router()

    @r.get("/boom")
    async def boom(request):
        raise KeyError("handler bug")

    return r


@pytest.fixture(params=[(chain, kind) for chain in ("sole", "runner") for kind in _MISBEHAVING],
                ids=lambda p: "-".join(p))
def misbehaving(request):
    chain, kind = request.param
    caught = Caught()
    plugins = [_MISBEHAVING[kind](), caught] + ([Passive()] if chain == "runner" else [])
    server = build(*plugins, router=_router_raising())
    route = next(r for r in server.app.build().routes if r.path == "/a")
    if chain == "sole":
        assert route.received_link is not None and route.ready_link is not None
    else:
        assert route.received_link is None and route.ready_link is None
    with TestClient(server) as client:
        yield client, caught


@pytest.mark.parametrize(("do", "hook", "message"), [
    ("raise-received", "request_received", "received bug"),
    ("wrong-received", "request_received", "returned int, not HttpResponse"),
    ("raise-ready", "response_ready", "ready bug"),
    ("wrong-ready", "response_ready", "returned str, not HttpResponse"),
])
def test_a_failing_hook_is_a_500_naming_its_plugin(misbehaving, do, hook, message, caplog):
    client, caught = misbehaving
    with caplog.at_level(logging.ERROR):
        got = client.get(f"/a?do={do}")
    assert got.status_code == 500
    assert len(caught.seen) == 1
    failure = caught.seen[0]
    assert isinstance(failure, PluginFailure)
    assert (failure.plugin, failure.hook) == ("misbehaving", hook)
    assert message in str(failure)
    assert client.get("/a").status_code == 200  # the next request is fine


def test_a_hook_may_answer_or_replace_with_any_response_or_awaitable(misbehaving):
    client, _ = misbehaving
    streamed = client.get("/a?do=answer-received")
    assert (streamed.status_code, streamed.text) == (203, "streamed")
    assert streamed.headers["x-misbehaving"] == "seen"  # an answer still passes response_ready
    later = client.get("/a?do=coroutine-received")
    assert (later.status_code, later.text) == (203, "from a coroutine")
    replaced = client.get("/a?do=replace-ready")
    assert (replaced.status_code, replaced.text) == (202, "replaced")
    awaited = client.get("/a?do=coroutine-ready")
    assert (awaited.status_code, awaited.text) == (203, "replaced later")
    plain = client.get("/a")
    assert (plain.text, plain.headers["x-misbehaving"]) == ("a", "seen")


def test_a_handler_failure_behind_a_hook_is_not_the_plugins(misbehaving):
    client, caught = misbehaving
    assert client.get("/boom").status_code == 500
    assert [type(exc) for exc in caught.seen] == [KeyError]


def test_unmatched_requests_call_a_sole_response_ready_too(misbehaving):
    client, caught = misbehaving
    missing = client.get("/missing")
    assert missing.status_code == 404 and missing.headers["x-misbehaving"] == "seen"
    assert client.get("/missing?do=raise-ready").status_code == 500
    assert isinstance(caught.seen[-1], PluginFailure) and caught.seen[-1].plugin == "misbehaving"


class Stamper:
    """Does the work the plugin below binds its hot hooks to."""

    def __init__(self, value):
        self.value = value
        self.seen = []

    def begin(self, request):
        self.seen.append(request.path)

    async def stamp(self, request, response):
        response.set_header("X-Bound", self.value)


class BindsInConfigure:
    """Registered methods that forward, and the same hooks bound to a ``Stamper`` in configure."""

    name = "binds"

    def __init__(self):
        self.stamper = None
        self.forwarded = 0

    @hookimpl
    def configure(self, app, config):
        self.stamper = Stamper("from-configure")
        self.request_received = self.stamper.begin
        self.response_ready = self.stamper.stamp

    @hookimpl(tryfirst=True)
    def request_received(self, request):
        self.forwarded += 1
        self.stamper.begin(request)

    @hookimpl(tryfirst=True)
    def response_ready(self, request, response):
        self.forwarded += 1
        response.set_header("X-Bound", "forwarded")


def test_a_hot_hook_bound_on_the_plugin_in_configure_is_called_with_no_forwarding():
    plugin = BindsInConfigure()
    server = build(plugin, Tagger())
    route = server.app.routes[0]
    # The chains hold the bound functions (the async one as async), in the registered order.
    assert [(name, fn) for name, fn, _ in route.request_chain] == [("binds", plugin.stamper.begin)]
    assert [(name, is_async) for name, _, is_async in route.response_chain] == [("binds", True), ("tagger", False)]
    with TestClient(server) as c:
        got = c.get("/a")
    assert got.headers["x-bound"] == "from-configure" and got.headers["x-tag"] == "tagger"
    assert plugin.stamper.seen == ["/a"]
    assert plugin.forwarded == 0  # the registered methods were never called


class BindsNonsense:
    name = "nonsense"

    @hookimpl
    def configure(self, app, config):
        self.response_ready = "not a function"

    @hookimpl
    def response_ready(self, request, response):
        pass


def test_a_hot_hook_bound_to_something_not_callable_fails_the_build_naming_the_plugin():
    with pytest.raises(TypeError, match="plugin 'nonsense': its attribute 'response_ready' is 'not a function'"):
        build(BindsNonsense())
