"""areion_core/plugins.py: the plugin registry — registration, call order, cold-hook calls."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from areion_core import AreionServerBuilder, ConfigError, HttpResponse, PluginError, Router, hookimpl
from areion_core.plugins import PluginRegistry
from areion_core.testing import TestClient

#: Part of the smoke suite run on every supported Python (scripts/smoke.sh).
pytestmark = pytest.mark.smoke


class Plain:
    def __init__(self, name: str, seen: list[str]) -> None:
        self.name = name
        self.seen = seen

    @hookimpl
    def route_added(self, app: Any, route: Any) -> None:
        self.seen.append(self.name)

    @hookimpl
    def response_ready(self, request: Any, response: HttpResponse) -> None:
        self.seen.append(self.name)


class First(Plain):
    @hookimpl(tryfirst=True)
    def route_added(self, app: Any, route: Any) -> None:
        self.seen.append(self.name)

    @hookimpl(tryfirst=True)
    def response_ready(self, request: Any, response: HttpResponse) -> None:
        self.seen.append(self.name)


class Last(Plain):
    @hookimpl(trylast=True)
    def route_added(self, app: Any, route: Any) -> None:
        self.seen.append(self.name)

    @hookimpl(trylast=True)
    def response_ready(self, request: Any, response: HttpResponse) -> None:
        self.seen.append(self.name)


def registry_of(*plugins: Plain) -> PluginRegistry:
    registry = PluginRegistry()
    for plugin in plugins:
        registry.register(plugin, plugin.name)
    return registry


def test_tryfirst_runs_first_last_registered_first() -> None:
    seen: list[str] = []
    registry = registry_of(First("f1", seen), First("f2", seen), Plain("p", seen))
    registry.call_each("route_added", app=None, route=None)
    assert seen == ["f2", "f1", "p"]


def test_plain_implementations_run_last_registered_first() -> None:
    seen: list[str] = []
    registry = registry_of(Plain("a", seen), Plain("b", seen), Plain("c", seen))
    registry.call_each("route_added", app=None, route=None)
    assert seen == ["c", "b", "a"]


def test_trylast_runs_last_first_registered_first() -> None:
    seen: list[str] = []
    registry = registry_of(Last("l1", seen), Plain("p", seen), Last("l2", seen))
    registry.call_each("route_added", app=None, route=None)
    assert seen == ["p", "l1", "l2"]


def test_the_order_is_the_one_pluggy_calls_in() -> None:
    # The registry works the order out from the rules; pluggy's own call must agree with it.
    ours: list[str] = []
    theirs: list[str] = []
    names = ("l1", "a", "f1", "b", "l2", "f2")
    kinds = {"l": Last, "f": First, "a": Plain, "b": Plain}
    registry = PluginRegistry()
    for name in names:
        registry.register(kinds[name[0]](name, ours), name)
    registry.call_each("route_added", app=None, route=None)
    for plugin in registry.by_name.values():
        plugin.seen = theirs
    registry.pm.hook.route_added(app=None, route=None)
    assert ours == theirs == ["f2", "f1", "b", "a", "l1", "l2"]


def test_compiled_hot_chains_follow_the_same_order_and_builtins_run_last() -> None:
    seen: list[str] = []
    router = Router()
    router.get("/x")(lambda request: "x")
    builder = (AreionServerBuilder().with_router(router).without_config_file().with_access_log(False)
               .with_config(plugins=[])
               .with_plugins(Last("l1", seen), Plain("a", seen), First("f", seen), Plain("b", seen), Last("l2", seen)))
    server = builder.build()
    routes = {route.path: route for route in server.app.routes}
    assert [link.plugin for link in routes["/x"].response_chain] == ["f", "b", "a", "l1", "l2"]
    # The built-in error pages answer exceptions after every plugin's implementation.
    assert [link.plugin for link in routes["/x"].exception_chain][-1] == "areion.errors"
    seen.clear()
    with TestClient(server) as client:
        assert client.get("/x").status_code == 200
    assert seen == ["f", "b", "a", "l1", "l2"]


class WrapperOnHotHook:
    name = "wrapping"

    @hookimpl(wrapper=True)
    def response_ready(self, request: Any, response: HttpResponse) -> Any:
        return (yield)


class OldStyleWrapperOnHotHook:
    name = "old_wrapping"

    @hookimpl(hookwrapper=True)
    def request_received(self, request: Any) -> Any:
        yield


@pytest.mark.parametrize(("plugin", "hook"), [(WrapperOnHotHook(), "response_ready"),
                                              (OldStyleWrapperOnHotHook(), "request_received")])
def test_a_wrapper_on_a_hot_hook_is_a_startup_error_naming_the_plugin(plugin: Any, hook: str) -> None:
    router = Router()
    router.get("/x")(lambda request: "x")
    builder = (AreionServerBuilder().with_router(router).without_config_file().with_access_log(False)
               .with_config(plugins=[]).with_plugins(plugin))
    with pytest.raises(PluginError, match=rf"plugin '{plugin.name}': {hook} is a hot hook and cannot be a wrapper"):
        builder.build()


class Configures:
    def __init__(self, name: str, error: Exception | None = None) -> None:
        self.name = name
        self.error = error
        self.calls = 0

    @hookimpl
    def configure(self, app: Any, config: Any) -> None:
        self.calls += 1
        if self.error is not None:
            raise self.error


def test_a_config_error_is_named_under_the_plugins_section() -> None:
    registry = registry_of(Configures("mine", ConfigError("size", -1, "a size > 0")))  # type: ignore[arg-type]
    with pytest.raises(ConfigError) as caught:
        registry.call_each("configure", app=None, config=None)
    assert caught.value.key == "plugins.mine.size"


def test_any_other_failure_is_a_plugin_error_naming_plugin_and_hook() -> None:
    registry = registry_of(Configures("mine", ValueError("no")))  # type: ignore[arg-type]
    with pytest.raises(PluginError, match=r"^plugin 'mine' failed in configure: ValueError\('no'\)$"):
        registry.call_each("configure", app=None, config=None)


def test_logged_failures_let_the_other_implementations_run(caplog: pytest.LogCaptureFixture) -> None:
    good = Configures("good")
    registry = registry_of(good, Configures("bad", RuntimeError("boom")))  # type: ignore[arg-type]
    with caplog.at_level(logging.ERROR, logger="areion.plugins"):
        results = list(registry.call("configure", {"app": None, "config": None}, errors="log"))
    assert [name for name, _ in results] == ["good"]
    assert good.calls == 1
    assert "plugin 'bad' failed in configure" in caplog.text


def test_call_first_stops_at_the_first_answer() -> None:
    class Engine:
        def __init__(self, name: str, answer: Any) -> None:
            self.name = name
            self.answer = answer
            self.asked = False

        @hookimpl
        def template_engine(self, app: Any) -> Any:
            self.asked = True
            return self.answer

    early, answering, late = Engine("early", None), Engine("answering", "engine"), Engine("late", "other")
    registry = PluginRegistry()
    for plugin in (late, answering, early):  # last registered is called first
        registry.register(plugin, plugin.name)
    assert registry.call_first("template_engine", app=None) == "engine"
    assert early.asked and answering.asked and not late.asked


def test_two_plugins_with_one_name_are_refused() -> None:
    registry = registry_of(Plain("twin", []))
    with pytest.raises(PluginError, match="two plugins are named 'twin'"):
        registry.register(Plain("twin", []), "twin")
