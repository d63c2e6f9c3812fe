"""Invalidation by key, prefix, tag and all: from handlers, across worker processes, and from ``areion cache clear``."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import httpx
import pytest
import redis
from areion_caching import cache, get_cache

from areion_core import HttpRequest, Router
from areion_core.cli import main as areion
from areion_core.testing import TestClient
from tests._redis import free_port
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
    origin = "#@http://testserver"  # TestClient's Host: every key holds its origin
    assert cached_keys(redis_url) == [
        f"GET:/posts/1{origin}",
        f"GET:/posts/2{origin}",
        f"GET:/users/1{origin}",
        f"GET:/users/2{origin}",
    ]

    assert areion(["cache", "clear", "--app", spec, "--key", "/users/1"]) == 0
    assert "removed 1 cached entry" in capsys.readouterr().out
    assert cached_keys(redis_url) == [f"GET:/posts/1{origin}", f"GET:/posts/2{origin}",
                                      f"GET:/users/2{origin}"]

    assert areion(["cache", "--app", spec, "clear", "--prefix", "/posts/"]) == 0
    assert cached_keys(redis_url) == [f"GET:/users/2{origin}"]

    with TestClient(server) as client:
        client.get("/posts/1")
    assert areion(["cache", "clear", "--app", spec, "--tag", "users"]) == 0
    assert cached_keys(redis_url) == [f"GET:/posts/1{origin}"]

    assert areion(["cache", "clear", "--app", spec]) == 0
    assert "cleared the cache" in capsys.readouterr().out
    assert cached_keys(redis_url) == []


def test_cli_cache_clear_reports_an_unreachable_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
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


# --- several workers on the memory store: an invalidation reaches every worker --------------

ROOT = Path(__file__).resolve().parents[3]  # the app is imported as tests.plugins.caching...
WORKERS_APP = "tests.plugins.caching._memory_workers_app"
INVALIDATIONS = {"key": {"key": "/items/1"}, "prefix": {"prefix": "/items/"},
                 "tag": {"tag": "items"}, "clear": {"all": True}}


def command(runner: str, port: int) -> list[str]:
    """How each server is started with two worker processes."""
    if runner == "areion":
        return ["areion_core", "run", f"{WORKERS_APP}:server", "--workers", "2",
                "--host", "127.0.0.1", "--port", str(port), "--no-access-log"]
    if runner.startswith("uvicorn"):
        # "uvicorn-no-lifespan": no startup hook runs; workers join when they first store.
        lifespan = "off" if runner.endswith("no-lifespan") else "on"
        return ["uvicorn", f"{WORKERS_APP}:server.asgi", "--workers", "2", "--host", "127.0.0.1",
                "--port", str(port), "--no-access-log", "--log-level", "warning",
                "--lifespan", lifespan]
    if runner == "hypercorn":
        return ["hypercorn", f"{WORKERS_APP}:server.asgi", "--workers", "2",
                "--bind", f"127.0.0.1:{port}"]
    return ["granian", "--interface", "asgi", f"{WORKERS_APP}:server.asgi", "--workers", "2",
            "--host", "127.0.0.1", "--port", str(port)]


class Deployment:
    """``_memory_workers_app`` served by two worker processes of ``areion run``, uvicorn, ..."""

    def __init__(self, runner: str, folder: Path, *, broadcast: bool = True) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.version = folder / "version"
        self.version.write_text("1")
        # Short: an AF_UNIX path is limited to 108 bytes.
        self.runtime = Path(tempfile.mkdtemp(prefix="rt", dir="/tmp"))
        self.log = folder / f"{runner}.log"
        env = {**os.environ, "CACHE_TEST_VERSION": str(self.version),
               "CACHE_TEST_BROADCAST": "true" if broadcast else "false",
               "XDG_RUNTIME_DIR": str(self.runtime),
               "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
        with open(self.log, "wb") as out:
            # A session of its own, so that whatever is left can be killed as a group.
            self.proc = subprocess.Popen([sys.executable, "-m", *command(runner, self.port)],
                                         stdout=out, stderr=subprocess.STDOUT, env=env, cwd=ROOT,
                                         start_new_session=True)
        deadline = time.monotonic() + 20
        while not self._ready():
            if time.monotonic() > deadline:
                raise AssertionError(f"not serving after 20 s:\n{self.log.read_text()}")
            time.sleep(0.05)

    def _ready(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"exited early:\n{self.log.read_text()}")
        try:
            return httpx.get(self.url + "/ping", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    def sample(self, path: str, enough: Callable[[list[Served]], bool]) -> list[Served]:
        """GET ``path`` on new connections, eight at once, until ``enough`` of the answers."""
        return asyncio.run(self._sample(path, enough))

    async def _sample(self, path: str, enough: Callable[[list[Served]], bool]) -> list[Served]:
        served: list[Served] = []
        # No keep-alive: every request is a new connection, which the kernel hands to either
        # worker, so both are reached.
        limits = httpx.Limits(max_keepalive_connections=0)
        deadline = time.monotonic() + 12
        async with httpx.AsyncClient(base_url=self.url, limits=limits, timeout=10) as client:
            while time.monotonic() < deadline:
                answers = await asyncio.gather(*(client.get(path) for _ in range(8)))
                served += [Served(int(r.headers["x-worker-pid"]), r.headers["x-cache"],
                                  r.json()["version"]) for r in answers]
                if enough(served):
                    return served
                await asyncio.sleep(0.01)
        raise AssertionError(f"not enough after {len(served)} requests: {collections.Counter(served)}")

    def warm(self, path: str) -> set[int]:
        """Request ``path`` until both workers have answered it from their cache; their pids."""
        served = self.sample(path, lambda s: len({x.pid for x in s if x.label == "HIT"}) == 2)
        return {x.pid for x in served}

    def invalidate(self, body: dict[str, Any]) -> int:
        response = httpx.post(self.url + "/invalidate", json=body, timeout=10)
        assert response.status_code == 200, response.text
        return int(response.headers["x-worker-pid"])

    def sockets(self) -> list[str]:
        return sorted(p.name for p in self.runtime.glob("areion-cache-*/*/*.sock"))

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(15)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)  # workers left behind, if any
            self.proc.wait(5)
            shutil.rmtree(self.runtime, ignore_errors=True)


class Served(NamedTuple):
    pid: int
    label: str
    version: str


@pytest.fixture(scope="module", params=["areion", "uvicorn", "uvicorn-no-lifespan", "granian", "hypercorn"])
def deployment(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    started = Deployment(request.param, tmp_path_factory.mktemp(request.param))
    try:
        yield started
    finally:
        started.stop()


@pytest.mark.slow
@pytest.mark.parametrize("kind", INVALIDATIONS)
def test_an_invalidation_reaches_every_worker(deployment: Deployment, kind: str) -> None:
    old = deployment.version.read_text()
    pids = deployment.warm("/items/1")
    assert len(pids) == 2
    new = str(int(old) + 1)
    deployment.version.write_text(new)
    invalidated_by = deployment.invalidate(INVALIDATIONS[kind])
    assert invalidated_by in pids
    # Both workers, the one that invalidated and the other, answer the new version at once.
    served = deployment.sample("/items/1", lambda s: {x.pid for x in s} == pids)
    assert {x.version for x in served} == {new}, served
    assert {x.pid for x in served if x.label == "MISS"} == pids  # each computed it again


@pytest.mark.slow
def test_without_broadcast_the_other_worker_keeps_its_entry(tmp_path: Path) -> None:
    deployment = Deployment("areion", tmp_path, broadcast=False)
    try:
        pids = deployment.warm("/items/1")
        deployment.version.write_text("2")
        invalidated_by = deployment.invalidate({"tag": "items"})
        served = deployment.sample("/items/1", lambda s: {x.pid for x in s} == pids)
        assert {x.version for x in served if x.pid == invalidated_by} == {"2"}
        assert {(x.version, x.label) for x in served if x.pid != invalidated_by} == {("1", "HIT")}
        assert deployment.sockets() == []
    finally:
        assert deployment.stop() == 0


@pytest.mark.slow
def test_a_restarted_worker_joins_and_a_dead_ones_socket_goes(tmp_path: Path) -> None:
    deployment = Deployment("areion", tmp_path)
    try:
        first = deployment.warm("/items/1")
        assert deployment.sockets() == sorted(f"{pid}-0.sock" for pid in first)
        killed = min(first)
        os.kill(killed, signal.SIGKILL)  # leaves its socket behind
        # The supervisor starts a replacement: warm it too.
        served = deployment.sample(
            "/items/1", lambda s: len({x.pid for x in s if x.label == "HIT"} - {killed}) == 2)
        pids = {x.pid for x in served} - {killed}
        assert killed not in pids and len(pids) == 2
        assert f"{killed}-0.sock" in deployment.sockets()
        deployment.version.write_text("2")
        deployment.invalidate({"prefix": "/items/"})
        served = deployment.sample("/items/1", lambda s: {x.pid for x in s} == pids)
        assert {x.version for x in served} == {"2"}, served
        assert deployment.sockets() == sorted(f"{pid}-0.sock" for pid in pids)
    finally:
        assert deployment.stop() == 0
    assert list(deployment.runtime.glob("areion-cache-*/*")) == []  # sockets and group removed


@pytest.mark.slow
def test_a_sighup_roll_hands_the_group_to_the_new_workers(tmp_path: Path) -> None:
    deployment = Deployment("areion", tmp_path)
    try:
        old = deployment.warm("/items/1")
        deployment.proc.send_signal(signal.SIGHUP)  # each new worker starts beside an old one
        served = deployment.sample(
            "/items/1", lambda s: len({x.pid for x in s if x.label == "HIT"} - old) == 2)
        new = {x.pid for x in served if x.label == "HIT"} - old
        deadline = time.monotonic() + 10
        while deployment.sockets() != sorted(f"{pid}-0.sock" for pid in new):
            assert time.monotonic() < deadline, (deployment.sockets(), old, new)
            time.sleep(0.05)  # the old workers drain, and leave the group as they stop
        deployment.version.write_text("2")
        deployment.invalidate({"tag": "items"})
        served = deployment.sample("/items/1", lambda s: {x.pid for x in s} == new)
        assert {x.version for x in served} == {"2"}, served
    finally:
        assert deployment.stop() == 0
