"""What a request's own Cache-Control and Pragma do (RFC 9111 §5.2.1, §5.4).

By default ``no-cache``, ``max-age=0`` and ``Pragma: no-cache`` are ignored (any client could
otherwise run the handler at will); ``honour_request_no_cache = true`` runs the handler for
them and stores its answer in place of the entry. ``no-store`` is always honoured: the answer
to such a request is not stored. Real server, real sockets, every store.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from areion_caching import cache
from areion_caching._directives import RequestDirectives, request_directives

from areion_core import HttpRequest, Router
from areion_core.request import HttpRequest as Request
from areion_core.testing import LiveServer
from tests.plugins.caching._caching_support import Counter, build_server


def directives(*headers: tuple[str, str]) -> RequestDirectives:
    raw = [(name.encode(), value.encode()) for name, value in headers]
    return request_directives(Request("GET", "/", "", raw))


def test_parsing() -> None:
    assert directives() == RequestDirectives(None, False)
    assert directives(("Accept", "*/*")) == RequestDirectives(None, False)
    assert directives(("Cache-Control", "no-cache")) == RequestDirectives(0.0, False)
    assert directives(("cache-control", "Max-Age=0")) == RequestDirectives(0.0, False)
    assert directives(("Cache-Control", "max-age=30, no-store")) == RequestDirectives(30.0, True)
    assert directives(("Cache-Control", 'max-age="30"')) == RequestDirectives(30.0, False)
    assert directives(("Cache-Control", "max-age=soon")) == RequestDirectives(None, False)
    assert directives(("Cache-Control", "max-age=60"), ("Cache-Control", "max-age=5")).max_age == 5.0
    assert directives(("Cache-Control", "max-stale, only-if-cached")) == RequestDirectives(None, False)
    assert directives(("Pragma", "no-cache")) == RequestDirectives(0.0, False)
    assert directives(("Pragma", "x, NO-CACHE")) == RequestDirectives(0.0, False)
    assert directives(("Pragma", "no-cachex")) == RequestDirectives(None, False)
    # Cache-Control present: Pragma is ignored (§5.4).
    assert directives(("Pragma", "no-cache"), ("Cache-Control", "max-age=60")).max_age == 60.0


class App:
    def __init__(self, settings: dict[str, Any]) -> None:
        router, self.runs = Router(), Counter()

        @router.get("/report")
        @cache(ttl=60)
        async def report(request: HttpRequest) -> str:
            return f"report {self.runs()}"

        self.live = LiveServer(build_server(router, settings)).__enter__()
        self.client = httpx.Client(base_url=self.live.url)

    def get(self, **headers: str) -> tuple[str, str]:
        response = self.client.get("/report", headers=headers)
        return response.headers["x-cache"], response.text

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


@pytest.fixture
def default(store: dict[str, Any]) -> Iterator[App]:
    app = App(store)
    yield app
    app.close()


@pytest.fixture
def honouring(store: dict[str, Any]) -> Iterator[App]:
    app = App({**store, "honour_request_no_cache": True})
    yield app
    app.close()


NO_CACHE = [{"cache-control": "no-cache"}, {"cache-control": "max-age=0"}, {"pragma": "no-cache"},
            {"cache-control": "must-revalidate, no-cache"}]


def test_by_default_no_cache_is_ignored(default: App) -> None:
    assert default.get() == ("MISS", "report 1")
    for headers in NO_CACHE:
        assert default.get(**headers) == ("HIT", "report 1")


@pytest.mark.parametrize("headers", NO_CACHE, ids=["no-cache", "max-age=0", "pragma", "list"])
def test_honoured_no_cache_runs_the_handler_and_refreshes_the_entry(
    honouring: App, headers: dict[str, str]
) -> None:
    assert honouring.get() == ("MISS", "report 1")
    assert honouring.get(**headers) == ("MISS", "report 2")
    assert honouring.get() == ("HIT", "report 2")  # the entry was replaced
    # A Cache-Control that asks nothing of the cache hides the Pragma.
    assert honouring.get(pragma="no-cache", **{"cache-control": "max-age=600"}) == ("HIT", "report 2")


def test_honoured_max_age_refuses_older_entries() -> None:
    app = App({"honour_request_no_cache": True})  # the memory store: one is enough for the clock
    try:
        assert app.get() == ("MISS", "report 1")
        time.sleep(1.1)
        assert app.get(**{"cache-control": "max-age=60"}) == ("HIT", "report 1")
        assert app.get(**{"cache-control": "max-age=1"}) == ("MISS", "report 2")
        assert app.get(**{"cache-control": "max-age=1"}) == ("HIT", "report 2")
    finally:
        app.close()


@pytest.mark.parametrize("option", [False, True])
def test_no_store_is_always_honoured(store: dict[str, Any], option: bool) -> None:
    app = App({**store, "honour_request_no_cache": option})
    try:
        assert app.get(**{"cache-control": "no-store"}) == ("MISS", "report 1")
        assert app.get() == ("MISS", "report 2")  # the no-store answer was not stored
        assert app.get(**{"cache-control": "no-store"}) == ("HIT", "report 2")  # may be served
        # no-cache with no-store: the handler runs (when honoured), the entry stays as it was.
        expected = ("MISS", "report 3") if option else ("HIT", "report 2")
        assert app.get(**{"cache-control": "no-cache, no-store"}) == expected
        assert app.get() == ("HIT", "report 2")
    finally:
        app.close()
