"""Invalidation by key, prefix, tag and all: from handlers and from ``areion cache clear``."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest
import redis
from areion_caching import cache, get_cache

from areion_core import HttpRequest, Router
from areion_core.cli import main as areion
from areion_core.testing import TestClient
from tests.plugins.caching._caching_support import Counter, build_server


def app_router(runs: Counter) -> Router:
    router = Router()

    @router.get("/users")
    @cache(ttl=60, tags=["users"])
    async def users(request: HttpRequest) -> str:
        return f"users {runs()}"

    @router.get("/users/:id")
    @cache(ttl=60, tags=lambda request: ["users", f"user:{request.path_params['id']}"])
    async def user(request: HttpRequest, id: int) -> str:
        return f"user {id} {runs()}"

    @router.get("/posts")
    @cache(ttl=60, tags=["posts"])
    async def posts(request: HttpRequest) -> str:
        return f"posts {runs()}"

    @router.post("/invalidate")
    async def invalidate(request: HttpRequest) -> dict[str, Any]:
        body = request.get_parsed_body()
        cache_ = get_cache(request.app)
        if body.get("all"):
            await cache_.clear()
            return {"removed": "all"}
        removed = await cache_.invalidate(
            body.get("key"), prefix=body.get("prefix"), tag=body.get("tag")
        )
        return {"removed": removed}

    return router


def labels(client: TestClient, *paths: str) -> list[str]:
    return [client.get(p).headers["x-cache"] for p in paths]


PATHS = ("/users", "/users/1", "/users/2?x=1", "/posts")


@pytest.fixture(params=["memory", "filesystem", "redis"])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, Any]:
    if request.param == "redis":
        return {"store": "redis", "url": request.getfixturevalue("redis_url")}
    if request.param == "filesystem":
        return {"store": "filesystem", "path": str(tmp_path / "cache")}
    return {"store": "memory"}


def test_invalidate_by_tag_from_a_handler(settings: dict[str, Any]) -> None:
    with TestClient(build_server(app_router(Counter()), settings)) as client:
        assert labels(client, *PATHS) == ["MISS"] * 4
        assert labels(client, *PATHS) == ["HIT"] * 4
        assert client.post("/invalidate", json={"tag": "users"}).json() == {"removed": 3}
        assert labels(client, *PATHS) == ["MISS", "MISS", "MISS", "HIT"]
        assert client.post("/invalidate", json={"tag": "user:1"}).json() == {"removed": 1}
        assert labels(client, *PATHS) == ["HIT", "MISS", "HIT", "HIT"]


def test_invalidate_by_key_and_prefix(settings: dict[str, Any]) -> None:
    with TestClient(build_server(app_router(Counter()), settings)) as client:
        labels(client, *PATHS)
        assert client.post("/invalidate", json={"key": "/users/2?x=1"}).json() == {"removed": 1}
        assert labels(client, *PATHS) == ["HIT", "HIT", "MISS", "HIT"]
        assert client.post("/invalidate", json={"prefix": "/users/"}).json() == {"removed": 2}
        assert labels(client, *PATHS) == ["HIT", "MISS", "MISS", "HIT"]
        client.post("/invalidate", json={"all": True})
        assert labels(client, *PATHS) == ["MISS"] * 4


def test_key_invalidation_removes_every_vary_variant() -> None:
    router = Router()

    @router.get("/hello")
    @cache(ttl=60, vary=["Accept-Language"])
    async def hello(request: HttpRequest) -> str:
        return request.get_header("accept-language") or "-"

    server = build_server(router)
    with TestClient(server) as client:
        for lang in ("en", "de"):
            client.get("/hello", headers={"Accept-Language": lang})
        cache_ = get_cache(server.app)
        assert client.get("/hello", headers={"Accept-Language": "de"}).headers["x-cache"] == "HIT"
        removed = client._run(cache_.invalidate("/hello"))
        assert removed == 3  # the Vary index and both variants
        assert client.get("/hello", headers={"Accept-Language": "de"}).headers["x-cache"] == "MISS"


def test_invalidate_takes_exactly_one_selector() -> None:
    server = build_server(Router())
    cache_ = get_cache(server.app)
    with TestClient(server) as client:
        with pytest.raises(TypeError):
            client._run(cache_.invalidate())
        with pytest.raises(TypeError):
            client._run(cache_.invalidate("/a", tag="b"))


def test_get_cache_without_the_plugin() -> None:
    server = build_server(Router(), plugins=())
    with pytest.raises(RuntimeError, match="caching plugin is not enabled"):
        get_cache(server.app)


def write_app(tmp_path: Path, redis_url: str) -> str:
    module = tmp_path / "cached_app.py"
    module.write_text(
        textwrap.dedent(f"""
        from areion_core import AreionServerBuilder, Router
        from areion_caching import cache

        router = Router()

        @router.get("/users/:id")
        @cache(ttl=60, tags=["users"])
        async def user(request, id: int):
            return f"user {{id}}"

        @router.get("/posts/:id")
        @cache(ttl=60, tags=["posts"])
        async def post(request, id: int):
            return f"post {{id}}"

        server = (AreionServerBuilder().with_router(router).without_config_file()
                  .with_access_log(False).with_config({{"plugins": {{"enabled": ["caching"],
                                "caching": {{"store": "redis", "url": {redis_url!r}}}}}}}).build())
    """)
    )
    return f"{module}:server"


def cached_keys(redis_url: str) -> list[str]:
    raw = redis.Redis.from_url(redis_url)
    try:
        return sorted(
            k.decode().removeprefix("areion:cache:k:") for k in raw.keys("areion:cache:k:*")
        )
    finally:
        raw.close()


def test_cli_cache_clear(
    tmp_path: Path, redis_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = write_app(tmp_path, redis_url)
    from areion_core.cli import load_target

    server = load_target(spec)
    with TestClient(server) as client:
        for path in ("/users/1", "/users/2", "/posts/1", "/posts/2"):
            client.get(path)
    assert cached_keys(redis_url) == [
        "GET:/posts/1",
        "GET:/posts/2",
        "GET:/users/1",
        "GET:/users/2",
    ]

    assert areion(["cache", "clear", "--app", spec, "--key", "/users/1"]) == 0
    assert "removed 1 cached entry" in capsys.readouterr().out
    assert cached_keys(redis_url) == ["GET:/posts/1", "GET:/posts/2", "GET:/users/2"]

    assert areion(["cache", "--app", spec, "clear", "--prefix", "/posts/"]) == 0
    assert cached_keys(redis_url) == ["GET:/users/2"]

    with TestClient(server) as client:
        client.get("/posts/1")
    assert areion(["cache", "clear", "--app", spec, "--tag", "users"]) == 0
    assert cached_keys(redis_url) == ["GET:/posts/1"]

    assert areion(["cache", "clear", "--app", spec]) == 0
    assert "cleared the cache" in capsys.readouterr().out
    assert cached_keys(redis_url) == []


def test_cli_cache_clear_reports_an_unreachable_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests._redis import free_port

    spec = write_app(tmp_path, f"redis://127.0.0.1:{free_port()}/0")
    assert areion(["cache", "clear", "--app", spec]) == 1
    assert "redis cache at" in capsys.readouterr().err


def test_cli_cache_clear_explains_the_memory_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    module = tmp_path / "memory_app.py"
    module.write_text(
        textwrap.dedent("""
        from areion_core import AreionServerBuilder, Router
        server = (AreionServerBuilder().with_router(Router()).without_config_file()
                  .with_config({"plugins": {"enabled": ["caching"]}}).build())
    """)
    )
    assert areion(["cache", "clear", "--app", f"{module}:server"]) == 1
    assert "memory store lives inside each server process" in capsys.readouterr().err
