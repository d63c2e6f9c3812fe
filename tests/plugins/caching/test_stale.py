"""stale-while-revalidate (stale served, one background refresh) and stale-if-error."""

from __future__ import annotations

import asyncio
import time

import pytest
from areion_caching import cache

from areion_core import HttpRequest, HttpResponse, Router
from areion_core.testing import AsyncTestClient, TestClient
from tests.plugins.caching._caching_support import Counter, build_server


@pytest.fixture(params=["memory", "redis"])
def store_settings(request: pytest.FixtureRequest) -> dict[str, object]:
    if request.param == "redis":
        return {"store": "redis", "url": request.getfixturevalue("redis_url")}
    return {"store": "memory"}


async def test_stale_while_revalidate_serves_stale_and_refreshes_once(
    store_settings: dict[str, object],
) -> None:
    router, runs = Router(), Counter()

    @router.get("/news")
    @cache(ttl=0.3, stale_while_revalidate=30)
    async def news(request: HttpRequest) -> str:
        n = runs()
        await asyncio.sleep(0.2)
        return f"edition {n}"

    async with AsyncTestClient(build_server(router, store_settings)) as client:
        before = time.time()
        first = await client.get("/news")
        assert (first.text, first.headers["x-cache"]) == ("edition 1", "MISS")
        await asyncio.sleep(0.4)
        stale = await asyncio.gather(*(client.get("/news") for _ in range(20)))
        assert {(r.status_code, r.text, r.headers["x-cache"]) for r in stale} == {
            (200, "edition 1", "STALE")
        }
        # Age counts whole seconds since the stored copy was made (RFC 9111 §5.1): at most
        # the seconds since the first request, however slow the machine is.
        ages = {int(r.headers["age"]) for r in stale}
        assert ages <= set(range(int(time.time() - before) + 1)), ages
        deadline = time.monotonic() + 5
        while True:
            fresh = await client.get("/news")
            if fresh.text == "edition 2" or time.monotonic() > deadline:
                break
            assert fresh.headers["x-cache"] == "STALE"
            await asyncio.sleep(0.05)
        assert fresh.text == "edition 2"
        assert fresh.headers["x-cache"] == "HIT"
    assert runs.n == 2  # twenty stale readers, one refresh


async def test_stale_while_revalidate_answers_before_the_refresh_finishes() -> None:
    router, runs = Router(), Counter()
    release = asyncio.Event()

    @router.get("/slow")
    @cache(ttl=0.2, stale_while_revalidate=30)
    async def slow(request: HttpRequest) -> str:
        n = runs()
        if n > 1:
            await release.wait()  # the refresh cannot finish until the test says so
        return f"v{n}"

    async with AsyncTestClient(build_server(router)) as client:
        await client.get("/slow")
        await asyncio.sleep(0.3)
        stale = await client.get("/slow", timeout=5)
        assert (stale.text, stale.headers["x-cache"]) == ("v1", "STALE")
        assert runs.n == 2  # the refresh is running, and the client already has its answer
        release.set()


def test_stale_if_error_serves_the_stale_copy_when_the_handler_fails() -> None:
    router, runs = Router(), Counter()
    mode = {"now": "ok"}

    @router.get("/quote")
    @cache(ttl=0.2, stale_if_error=30)
    async def quote(request: HttpRequest) -> HttpResponse:
        if mode["now"] == "raise":
            raise RuntimeError("backend down")
        if mode["now"] == "503":
            return HttpResponse("down", 503)
        return HttpResponse(f"quote {runs()}")

    with TestClient(build_server(router)) as client:
        assert client.get("/quote").text == "quote 1"
        time.sleep(0.3)
        mode["now"] = "raise"
        raised = client.get("/quote")
        assert (raised.status_code, raised.text, raised.headers["x-cache"]) == (
            200,
            "quote 1",
            "STALE",
        )
        mode["now"] = "503"
        unavailable = client.get("/quote")
        assert (unavailable.status_code, unavailable.text, unavailable.headers["x-cache"]) == (
            200,
            "quote 1",
            "STALE",
        )
        mode["now"] = "ok"
        recovered = client.get("/quote")
        assert (recovered.text, recovered.headers["x-cache"]) == ("quote 2", "MISS")
        assert client.get("/quote").headers["x-cache"] == "HIT"


def test_errors_pass_through_without_a_window_or_after_it() -> None:
    router = Router()
    mode = {"fail": False}

    @router.get("/no-window")
    @cache(ttl=0.1)
    async def no_window(request: HttpRequest) -> HttpResponse:
        return HttpResponse("down", 503) if mode["fail"] else HttpResponse("fine")

    @router.get("/short-window")
    @cache(ttl=0.1, stale_if_error=0.2)
    async def short_window(request: HttpRequest) -> HttpResponse:
        return HttpResponse("down", 503) if mode["fail"] else HttpResponse("fine")

    with TestClient(build_server(router)) as client:
        client.get("/no-window")
        client.get("/short-window")
        time.sleep(0.5)
        mode["fail"] = True
        assert client.get("/no-window").status_code == 503
        assert client.get("/short-window").status_code == 503


@pytest.mark.parametrize("window", ["stale_while_revalidate", "stale_if_error"])
def test_windows_must_be_seconds(window: str) -> None:
    with pytest.raises(ValueError):
        cache(ttl=1, **{window: -1})  # type: ignore[arg-type]
