"""Strong ETags on cached and opted-in responses; If-None-Match / If-Modified-Since → 304."""

from __future__ import annotations

from areion_caching import cache, etag

from areion_core import HttpRequest, HttpResponse, Router
from areion_core.testing import TestClient
from tests.plugins.caching._caching_support import Counter, build_server


def router_with(runs: Counter) -> Router:
    router = Router()

    @router.get("/cached")
    @cache(ttl=60)
    async def cached(request: HttpRequest) -> str:
        runs()
        return "cached body"

    @router.get("/dynamic")
    @etag
    async def dynamic(request: HttpRequest) -> str:
        return f"dynamic {request.get_query_param('v', '1')}"

    @router.get("/own-etag")
    @cache(ttl=60)
    async def own(request: HttpRequest) -> HttpResponse:
        return HttpResponse("mine", headers={"ETag": '"v42"'})

    @router.get("/plain")
    async def plain(request: HttpRequest) -> str:
        return "no validators"

    return router


def test_cached_responses_carry_one_strong_etag_and_answer_304() -> None:
    runs = Counter()
    with TestClient(build_server(router_with(runs))) as client:
        miss = client.get("/cached")
        hit = client.get("/cached")
        tag = miss.headers["etag"]
        assert tag.startswith('"') and not tag.startswith("W/")
        assert (
            hit.headers["etag"] == tag
            and hit.headers["last-modified"] == miss.headers["last-modified"]
        )
        not_modified = client.get("/cached", headers={"If-None-Match": tag})
        assert not_modified.status_code == 304 and not_modified.content == b""
        assert not_modified.headers["etag"] == tag
        assert client.get("/cached", headers={"If-None-Match": '"other"'}).status_code == 200
        since = client.get("/cached", headers={"If-Modified-Since": miss.headers["last-modified"]})
        assert since.status_code == 304
    assert runs.n == 1


def test_the_handlers_own_etag_is_kept() -> None:
    with TestClient(build_server(router_with(Counter()))) as client:
        assert client.get("/own-etag").headers["etag"] == '"v42"'
        assert client.get("/own-etag", headers={"If-None-Match": '"v42"'}).status_code == 304


def test_opted_in_dynamic_responses_get_an_etag_of_their_body() -> None:
    with TestClient(build_server(router_with(Counter()))) as client:
        one = client.get("/dynamic?v=1")
        again = client.get("/dynamic?v=1")
        two = client.get("/dynamic?v=2")
        assert one.headers["etag"] == again.headers["etag"] != two.headers["etag"]
        assert "x-cache" not in one.headers  # not server-cached, only validated
        assert (
            client.get("/dynamic?v=1", headers={"If-None-Match": one.headers["etag"]}).status_code
            == 304
        )
        assert (
            client.get("/dynamic?v=2", headers={"If-None-Match": one.headers["etag"]}).status_code
            == 200
        )
        assert "etag" not in client.get("/plain").headers


def test_etag_routes_from_config() -> None:
    with TestClient(build_server(router_with(Counter()), {"etag": ["/pl*"]})) as client:
        assert client.get("/plain").headers["etag"].startswith('"')
