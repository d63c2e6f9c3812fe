"""Context processors: registered on the engine or by plugins through a hook; sync or async."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from areion_templates import DefaultEngine, render_template_async

from areion_core import HttpResponse, Router, hookimpl
from areion_core.exceptions import PluginError
from areion_core.testing import TestClient
from tests.plugins.templates._templates_support import make_server

TEMPLATE = "{{ site }}|{{ user }}|{{ path }}"


def _router() -> Router:
    router = Router()

    @router.get("/async-handler")
    async def async_handler(request: Any) -> HttpResponse:
        return request.render_template("p.html")  # type: ignore[no-any-return]

    @router.get("/sync-handler")
    def sync_handler(request: Any) -> HttpResponse:
        return request.render_template("p.html")  # type: ignore[no-any-return]

    @router.get("/async-render")
    async def async_render(request: Any) -> HttpResponse:
        return await render_template_async(request, "p.html")

    @router.get("/override")
    async def override(request: Any) -> HttpResponse:
        return request.render_template("p.html", {"site": "mine"})  # type: ignore[no-any-return]

    return router


def _site(request: Any) -> dict[str, str]:
    return {"site": "Areion"}


async def _user_after_io(request: Any) -> dict[str, str]:
    await asyncio.sleep(0.001)  # waits for the loop, like a session lookup in Redis
    return {"user": "ann"}


async def _path_no_io(request: Any) -> dict[str, str]:
    return {"path": request.path}


def _engine_server(tmp_path: Path, *processors: Any, development: bool = False) -> Any:
    engine = DefaultEngine()  # directories come from the config section
    for func in processors:
        engine.context_processor(func)
    return make_server(tmp_path, _router(), {"p.html": TEMPLATE}, engine=engine, development=development)


def test_sync_and_async_processors_with_async_rendering(tmp_path: Path) -> None:
    with TestClient(_engine_server(tmp_path, _site, _user_after_io, _path_no_io)) as client:
        assert client.get("/async-render").text == "Areion|ann|/async-render"


def test_async_processor_waiting_for_io_works_from_a_sync_handler(tmp_path: Path) -> None:
    # A plain def handler runs in the thread pool: the processor runs on the app's loop.
    with TestClient(_engine_server(tmp_path, _site, _user_after_io, _path_no_io)) as client:
        assert client.get("/sync-handler").text == "Areion|ann|/sync-handler"


def test_async_processor_without_io_works_with_sync_render_on_the_loop(tmp_path: Path) -> None:
    with TestClient(_engine_server(tmp_path, _site, _path_no_io)) as client:
        r = client.get("/async-handler")
    assert r.text == "Areion||/async-handler"


def test_async_processor_waiting_for_io_in_sync_render_on_the_loop_says_what_to_do(tmp_path: Path) -> None:
    with TestClient(_engine_server(tmp_path, _user_after_io, development=True)) as client:
        r = client.get("/async-handler")
    assert r.status_code == 500
    assert "AsyncProcessorError" in r.text and "render_template_async" in r.text


def test_handler_context_wins_over_processors(tmp_path: Path) -> None:
    with TestClient(_engine_server(tmp_path, _site)) as client:
        assert client.get("/override").text.startswith("mine|")


def test_processor_returning_a_non_mapping_is_an_error(tmp_path: Path) -> None:
    with TestClient(_engine_server(tmp_path, lambda request: ["no"], development=True)) as client:
        r = client.get("/async-render")
    assert r.status_code == 500
    assert "returned list, expected a mapping" in r.text


class CurrentUserPlugin:
    """What another plugin (an auth plugin, say) does to put values in every template."""

    name = "current_user"

    @hookimpl
    def template_context_processors(self, app: Any) -> list[Any]:
        return [_user_after_io, _site]


def test_plugins_add_processors_through_the_hook(tmp_path: Path) -> None:
    server = make_server(tmp_path, _router(), {"p.html": TEMPLATE}, plugins=[CurrentUserPlugin()])
    with TestClient(server) as client:
        assert client.get("/async-render").text == "Areion|ann|"
        assert client.get("/sync-handler").text == "Areion|ann|"


def test_hook_processors_reach_an_engine_given_with_with_engine(tmp_path: Path) -> None:
    engine = DefaultEngine(context_processors=[_path_no_io])
    server = make_server(tmp_path, _router(), {"p.html": TEMPLATE}, engine=engine, plugins=[CurrentUserPlugin()])
    with TestClient(server) as client:
        assert client.get("/async-render").text == "Areion|ann|/async-render"


def test_hook_processors_without_the_plugin_loaded(tmp_path: Path) -> None:
    # The engine adds the hook specs itself when the templates plugin is not registered.
    server = make_server(tmp_path, _router(), {"p.html": TEMPLATE}, engine=DefaultEngine(),
                         plugins=[CurrentUserPlugin()], templates_plugin=False)
    with TestClient(server) as client:
        assert client.get("/async-render").text == "Areion|ann|"


class WrongSignaturePlugin:
    name = "wrong"

    @hookimpl
    def template_context_processors(self, app: Any, request: Any) -> list[Any]:
        return []


def test_a_wrong_hook_signature_fails_at_startup(tmp_path: Path) -> None:
    with pytest.raises(PluginError, match="template_context_processors"):
        make_server(tmp_path, _router(), plugins=[WrongSignaturePlugin()])
