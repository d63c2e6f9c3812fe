"""Cache-Control on routes: the decorator, config patterns, static files, startup errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from areion_caching import CacheControl, CacheTypes, cache

from areion_core import (
    AreionServerBuilder,
    ConfigError,
    HttpRequest,
    HttpResponse,
    PluginError,
    Router,
)
from areion_core.testing import TestClient
from tests.plugins.caching._caching_support import build_server


def test_decorator_sets_the_header_on_cache_on_status_only() -> None:
    router = Router()

    @router.get("/item/:code")
    @CacheControl(CacheTypes.PUBLIC, max_age=300, stale_if_error=86400, cache_on_status=[200, 404])
    async def item(request: HttpRequest, code: int) -> HttpResponse:
        return HttpResponse("x", code)

    with TestClient(build_server(router)) as client:
        for code, expected in ((200, True), (404, True), (500, False), (410, False)):
            response = client.get(f"/item/{code}")
            assert response.status_code == code
            if expected:
                assert (
                    response.headers["cache-control"] == "public, max-age=300, stale-if-error=86400"
                )
            else:
                assert "cache-control" not in response.headers


def test_decorator_order_does_not_matter_and_handler_header_wins() -> None:
    router = Router()

    @CacheControl(CacheTypes.NO_CACHE)
    @router.get("/above")
    async def above(request: HttpRequest) -> str:
        return "a"

    @router.get("/own")
    @CacheControl(CacheTypes.PUBLIC, max_age=60)
    async def own(request: HttpRequest) -> HttpResponse:
        return HttpResponse("o", headers={"Cache-Control": "no-store"})

    with TestClient(build_server(router)) as client:
        assert client.get("/above").headers["cache-control"] == "no-cache"
        assert client.get("/own").headers["cache-control"] == "no-store"


def test_private_cache_control_keeps_the_server_cache_out() -> None:
    router = Router()
    runs = [0]

    @router.get("/account")
    @cache(ttl=60)
    @CacheControl(CacheTypes.PRIVATE, max_age=60)
    async def account(request: HttpRequest) -> str:
        runs[0] += 1
        return str(runs[0])

    with TestClient(build_server(router)) as client:
        assert [client.get("/account").text for _ in range(2)] == ["1", "2"]
        assert client.get("/account").headers["cache-control"] == "private, max-age=60"


def test_server_cache_and_browser_revalidation_together() -> None:
    router = Router()

    @router.get("/feed")
    @cache(ttl=60)
    @CacheControl(
        CacheTypes.NO_CACHE
    )  # browsers revalidate every time; the server answers from cache
    async def feed(request: HttpRequest) -> str:
        return "feed"

    with TestClient(build_server(router)) as client:
        first = client.get("/feed")
        again = client.get("/feed", headers={"If-None-Match": first.headers["etag"]})
    assert first.headers["cache-control"] == again.headers["cache-control"] == "no-cache"
    assert (again.status_code, again.headers["x-cache"]) == (304, "HIT")


def test_config_patterns_and_route_options() -> None:
    router = Router()

    @router.get("/api/users")
    async def users(request: HttpRequest) -> str:
        return "u"

    @router.get("/api/special")
    @CacheControl(CacheTypes.NO_STORE)
    async def special(request: HttpRequest) -> str:
        return "s"

    async def plain(request: HttpRequest) -> str:
        return "p"

    router.add_route("/opt", plain, ["GET"], [], cache_control="public, max-age=5")
    config = {
        "cache_control": {
            "/api/*": "public, max-age=30",
            "/assets/*": {"public": True, "immutable": True, "max-age": 31536000},
        }
    }
    with TestClient(build_server(router, config)) as client:
        assert client.get("/api/users").headers["cache-control"] == "public, max-age=30"
        assert client.get("/api/special").headers["cache-control"] == "no-store"
        assert client.get("/opt").headers["cache-control"] == "public, max-age=5"


def test_static_files_get_the_static_cache_control(tmp_path: Path) -> None:
    (tmp_path / "app.css").write_text("body{}")
    router = Router()
    server = (
        AreionServerBuilder()
        .with_router(router)
        .without_config_file()
        .with_access_log(False)
        .with_static_dir(str(tmp_path))
        .with_config(
            {
                "plugins": {
                    "enabled": ["caching"],
                    "caching": {"static_cache_control": {"public": True, "max-age": 3600}},
                }
            }
        )
        .build()
    )
    with TestClient(server) as client:
        css = client.get("/static/app.css")
        assert css.status_code == 200 and css.content == b"body{}"
        assert css.headers["cache-control"] == "public, max-age=3600"
        assert "cache-control" not in client.get("/static/missing.css").headers


@pytest.mark.parametrize(
    "bad",
    [
        {"cache_control": {"/api/*": "public, private"}},
        {"cache_control": {"/api/*": "no-store, max-age=60"}},
        {"cache_control": {"/api/*": "max_age=60"}},
        {"static_cache_control": {"public": True, "private": True}},
    ],
)
def test_contradictions_in_config_stop_startup(bad: dict[str, object]) -> None:
    with pytest.raises(ConfigError) as info:
        build_server(Router(), bad)
    assert "plugins.caching." in str(info.value)


def test_contradiction_in_a_decorator_fails_at_import_time() -> None:
    with pytest.raises(ValueError, match="public and private"):
        CacheControl([CacheTypes.PUBLIC, CacheTypes.PRIVATE])


def test_bad_route_option_stops_startup() -> None:
    router = Router()

    async def h(request: HttpRequest) -> str:
        return ""

    router.add_route("/x", h, ["GET"], [], cache_control="public, private")
    with pytest.raises(PluginError, match="caching"):
        build_server(router)
