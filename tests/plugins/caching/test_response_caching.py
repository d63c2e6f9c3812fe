"""Response caching through the real server: hits, misses and every peer's key pitfall."""

from __future__ import annotations

import time

from areion_caching import cache
from areion_caching.response_cache import STATE_KEY

from areion_core import HttpRequest, HttpResponse, Router, StreamingResponse
from areion_core.plugin_api import route_chain
from areion_core.testing import TestClient
from tests.plugins.caching._caching_support import Counter, build_server


def test_miss_then_hit_with_age_and_x_cache() -> None:
    router, runs = Router(), Counter()

    @router.get("/slow")
    @cache(ttl=60)
    async def slow(request: HttpRequest) -> dict[str, int]:
        return {"n": runs()}

    with TestClient(build_server(router)) as client:
        first = client.get("/slow")
        second = client.get("/slow")
    assert first.status_code == second.status_code == 200
    assert first.headers["x-cache"] == "MISS" and "age" not in first.headers
    assert second.headers["x-cache"] == "HIT" and second.headers["age"] == "0"
    assert first.content == second.content == b'{"n":1}'
    assert second.headers["content-type"] == "application/json"
    assert runs.n == 1


def test_age_counts_seconds_since_the_response_was_made() -> None:
    router = Router()

    @router.get("/a")
    @cache(ttl=60)
    async def a(request: HttpRequest) -> str:
        return "a"

    with TestClient(build_server(router)) as client:
        client.get("/a")
        time.sleep(1.1)
        assert int(client.get("/a").headers["age"]) >= 1


def test_expired_entries_are_recomputed() -> None:
    router, runs = Router(), Counter()

    @router.get("/short")
    @cache(ttl=0.2)
    async def short(request: HttpRequest) -> str:
        return str(runs())

    with TestClient(build_server(router)) as client:
        assert client.get("/short").text == "1"
        assert client.get("/short").text == "1"
        time.sleep(0.3)
        assert client.get("/short").text == "2"


def test_post_is_never_stored_nor_replayed_to_get() -> None:
    router, runs = Router(), Counter()

    @router.route("/thing", methods=["GET", "POST"])
    @cache(ttl=60)
    async def thing(request: HttpRequest) -> str:
        return f"{request.method} {runs()}"

    # invalidate_on_unsafe off: a POST leaves the stored GET (test_unsafe_invalidation.py has
    # the default, where it removes it).
    with TestClient(build_server(router, {"invalidate_on_unsafe": False})) as client:
        assert client.post("/thing").text == "POST 1"
        assert client.post("/thing").text == "POST 2"
        got = client.get("/thing")
        assert got.text == "GET 3" and got.headers["x-cache"] == "MISS"
        assert client.post("/thing").text == "POST 4"  # a stored GET is not an answer to POST
        assert client.get("/thing").text == "GET 3"


def test_set_cookie_responses_are_never_stored() -> None:
    router, runs = Router(), Counter()

    @router.get("/login")
    @cache(ttl=60)
    async def login(request: HttpRequest) -> HttpResponse:
        n = runs()
        response = HttpResponse(f"hello {n}")
        response.set_cookie("session", f"secret{n}")
        return response

    with TestClient(build_server(router)) as client:
        first = client.get("/login")
        second = client.get("/login")
    assert first.headers.get_all("set-cookie")[0].startswith("session=secret1")
    # The second client got its own cookie, never the first client's.
    assert second.headers.get_all("set-cookie")[0].startswith("session=secret2")
    assert second.headers["x-cache"] == "MISS"


def test_private_and_no_store_responses_are_not_stored() -> None:
    router, runs = Router(), Counter()

    @router.get("/private")
    @cache(ttl=60)
    async def private(request: HttpRequest) -> HttpResponse:
        return HttpResponse(str(runs()), headers={"Cache-Control": "private, max-age=60"})

    @router.get("/nostore")
    @cache(ttl=60)
    async def nostore(request: HttpRequest) -> HttpResponse:
        return HttpResponse(str(runs()), headers={"Cache-Control": "no-store"})

    with TestClient(build_server(router)) as client:
        assert [client.get("/private").text for _ in range(2)] == ["1", "2"]
        assert [client.get("/nostore").text for _ in range(2)] == ["3", "4"]


def test_query_string_is_part_of_the_key_in_any_order() -> None:
    router = Router()

    @router.get("/search")
    @cache(ttl=60)
    async def search(request: HttpRequest) -> dict[str, str | list[str]]:
        return request.get_parsed_query_params()

    with TestClient(build_server(router)) as client:
        assert client.get("/search?q=cats&page=1").json() == {"q": "cats", "page": "1"}
        other = client.get("/search?q=dogs&page=1")
        assert other.json() == {"q": "dogs", "page": "1"} and other.headers["x-cache"] == "MISS"
        same = client.get("/search?page=1&q=cats")
        assert same.headers["x-cache"] == "HIT" and same.json() == {"q": "cats", "page": "1"}
        assert client.get("/search").headers["x-cache"] == "MISS"


def test_response_vary_selects_the_variant() -> None:
    router, runs = Router(), Counter()

    @router.get("/greeting")
    @cache(ttl=60)
    async def greeting(request: HttpRequest) -> HttpResponse:
        runs()
        lang = request.get_header("accept-language") or "en"
        text = {"de": "Hallo", "fr": "Bonjour"}.get(lang, "Hello")
        return HttpResponse(text, headers={"Vary": "Accept-Language"})

    with TestClient(build_server(router)) as client:
        assert client.get("/greeting", headers={"Accept-Language": "de"}).text == "Hallo"
        fr = client.get("/greeting", headers={"Accept-Language": "fr"})
        assert fr.text == "Bonjour" and fr.headers["x-cache"] == "MISS"
        de = client.get("/greeting", headers={"Accept-Language": "de"})
        assert de.text == "Hallo" and de.headers["x-cache"] == "HIT"
        assert de.headers["vary"] == "Accept-Language"
        assert client.get("/greeting").text == "Hello"
    assert runs.n == 3


def test_declared_vary_keys_and_is_announced() -> None:
    router = Router()

    @router.get("/tenant")
    @cache(ttl=60, vary=["X-Tenant"])
    async def tenant(request: HttpRequest) -> str:
        return request.get_header("x-tenant") or "none"

    with TestClient(build_server(router)) as client:
        a = client.get("/tenant", headers={"X-Tenant": "a"})
        b = client.get("/tenant", headers={"X-Tenant": "b"})
        a2 = client.get("/tenant", headers={"X-Tenant": "a"})
    assert (a.text, b.text, a2.text) == ("a", "b", "a")
    assert a2.headers["x-cache"] == "HIT"
    assert "x-tenant" in a.headers["vary"].lower()


def test_vary_star_is_never_stored() -> None:
    router, runs = Router(), Counter()

    @router.get("/star")
    @cache(ttl=60)
    async def star(request: HttpRequest) -> HttpResponse:
        return HttpResponse(str(runs()), headers={"Vary": "*"})

    with TestClient(build_server(router)) as client:
        assert [client.get("/star").text for _ in range(2)] == ["1", "2"]


def test_authorization_and_cookie_bypass_the_cache_by_default() -> None:
    router, runs = Router(), Counter()

    @router.get("/me")
    @cache(ttl=60)
    async def me(request: HttpRequest) -> str:
        who = request.get_header("authorization") or request.cookies.get("sid") or "anonymous"
        return f"{who} {runs()}"

    with TestClient(build_server(router)) as client:
        assert client.get("/me", headers={"Authorization": "Bearer alice"}).text == "Bearer alice 1"
        anon = client.get("/me")
        assert anon.text == "anonymous 2" and anon.headers["x-cache"] == "MISS"
        assert client.get("/me").headers["x-cache"] == "HIT"
        # An anonymous entry exists, but credentialed requests never read it.
        bob = client.get("/me", headers={"Authorization": "Bearer bob"})
        assert bob.text == "Bearer bob 3" and "x-cache" not in bob.headers
        carol = client.get("/me", headers={"Cookie": "sid=carol"})
        assert carol.text == "carol 4"
        assert client.get("/me", headers={"Cookie": "sid=carol"}).text == "carol 5"


def test_allow_authorized_never_mixes_with_anonymous() -> None:
    router, runs = Router(), Counter()

    @router.get("/catalog")
    @cache(ttl=60, allow_authorized=True)
    async def catalog(request: HttpRequest) -> str:
        return f"{'member' if request.get_header('authorization') else 'guest'} {runs()}"

    with TestClient(build_server(router)) as client:
        assert client.get("/catalog", headers={"Authorization": "Bearer a"}).text == "member 1"
        hit = client.get("/catalog", headers={"Authorization": "Bearer b"})
        assert hit.text == "member 1" and hit.headers["x-cache"] == "HIT"
        guest = client.get("/catalog")
        assert guest.text == "guest 2" and guest.headers["x-cache"] == "MISS"
        assert client.get("/catalog").text == "guest 2"


def test_only_cacheable_statuses_are_stored() -> None:
    router, runs = Router(), Counter()

    @router.get("/status/:code")
    @cache(ttl=60)
    async def status(request: HttpRequest, code: int) -> HttpResponse:
        return HttpResponse(str(runs()), code)

    with TestClient(build_server(router)) as client:
        for code, stored in (
            (200, True),
            (404, True),
            (410, True),
            (201, False),
            (500, False),
            (503, False),
            (302, False),
        ):
            first = client.get(f"/status/{code}")
            second = client.get(f"/status/{code}")
            assert first.status_code == second.status_code == code
            assert (second.headers.get("x-cache") == "HIT") is stored, code
            assert (first.content == second.content) is stored, code


def test_cacheable_statuses_are_configurable() -> None:
    router, runs = Router(), Counter()

    @router.get("/nf")
    @cache(ttl=60)
    async def nf(request: HttpRequest) -> HttpResponse:
        return HttpResponse(str(runs()), 404)

    with TestClient(build_server(router, {"cacheable_statuses": [200]})) as client:
        assert [client.get("/nf").text for _ in range(2)] == ["1", "2"]


def test_streaming_responses_are_not_stored() -> None:
    router, runs = Router(), Counter()

    @router.get("/stream")
    @cache(ttl=60)
    async def stream(request: HttpRequest) -> StreamingResponse:
        n = runs()

        async def body():  # type: ignore[no-untyped-def]
            yield f"chunk {n}"

        return StreamingResponse(body(), content_type="text/plain")

    with TestClient(build_server(router)) as client:
        assert [client.get("/stream").text for _ in range(2)] == ["chunk 1", "chunk 2"]


def test_head_runs_the_get_pipeline_and_stores_like_get() -> None:
    router, runs = Router(), Counter()

    @router.get("/page")
    @cache(ttl=60)
    async def page(request: HttpRequest) -> str:
        return f"page {runs()}"

    with TestClient(build_server(router)) as client:
        head = client.head("/page")
        assert head.headers["x-cache"] == "MISS" and head.content == b""
        # A HEAD miss has the validators a GET miss gets: it stored GET's body.
        assert "etag" in head.headers and "last-modified" in head.headers
        get = client.get("/page")
        assert get.headers["x-cache"] == "HIT" and get.text == "page 1"
        assert get.headers["etag"] == head.headers["etag"]
        assert get.headers["last-modified"] == head.headers["last-modified"]
        assert get.headers["content-length"] == head.headers["content-length"] == str(len(b"page 1"))
        head = client.head("/page")
        assert head.headers["x-cache"] == "HIT" and head.content == b""


def test_unless_skips_the_cache() -> None:
    router, runs = Router(), Counter()

    @router.get("/maybe")
    @cache(ttl=60, unless=lambda request: request.get_query_param("fresh") == "1")
    async def maybe(request: HttpRequest) -> str:
        return str(runs())

    with TestClient(build_server(router)) as client:
        assert client.get("/maybe").text == "1"
        assert client.get("/maybe?fresh=1").text == "2"
        assert client.get("/maybe?fresh=1").text == "3"
        assert client.get("/maybe").text == "1"


def test_custom_key_function() -> None:
    router, runs = Router(), Counter()

    @router.get("/article/:slug")
    @cache(ttl=60, key=lambda request: request.path)  # tracking parameters do not matter here
    async def article(request: HttpRequest, slug: str) -> str:
        return f"{slug} {runs()}"

    with TestClient(build_server(router)) as client:
        assert client.get("/article/x?utm_source=a").text == "x 1"
        assert client.get("/article/x?utm_source=b").text == "x 1"
        assert client.get("/article/y").text == "y 2"


def test_hit_header_can_be_renamed_or_disabled() -> None:
    router = Router()

    @router.get("/h")
    @cache(ttl=60)
    async def h(request: HttpRequest) -> str:
        return "h"

    with TestClient(build_server(router, {"hit_header": "X-Areion-Cache"})) as client:
        client.get("/h")
        hit = client.get("/h")
        assert hit.headers["x-areion-cache"] == "HIT" and "x-cache" not in hit.headers
    with TestClient(build_server(router, {"hit_header": False})) as client:
        client.get("/h")
        hit = client.get("/h")
        assert "x-cache" not in hit.headers and hit.headers["age"] == "0"


def test_routes_config_caches_by_pattern_and_decorator_wins() -> None:
    router, runs = Router(), Counter()

    @router.get("/api/items")
    async def items(request: HttpRequest) -> str:
        return f"items {runs()}"

    @router.get("/api/live")
    @cache(False)
    async def live(request: HttpRequest) -> str:
        return f"live {runs()}"

    @router.get("/other")
    async def other(request: HttpRequest) -> str:
        return f"other {runs()}"

    with TestClient(build_server(router, {"routes": {"/api/*": 30}})) as client:
        assert client.get("/api/items").text == client.get("/api/items").text == "items 1"
        assert client.get("/api/live").text == "live 2"
        assert client.get("/api/live").text == "live 3"
        assert client.get("/other").text == "other 4"
        assert "x-cache" not in client.get("/other").headers


def test_add_route_options() -> None:
    router, runs = Router(), Counter()

    async def handler(request: HttpRequest) -> str:
        return str(runs())

    router.add_route("/opt", handler, ["GET"], [], cache=60)
    with TestClient(build_server(router)) as client:
        assert client.get("/opt").text == client.get("/opt").text == "1"


def test_routes_with_the_same_handler_name_keep_their_own_rules() -> None:
    api, site, runs = Router(prefix="/api"), Router(), Counter()

    @api.get("/index")
    @cache(ttl=60)
    async def index(request: HttpRequest) -> str:
        return f"api {runs()}"

    @site.get("/index")
    async def index(request: HttpRequest) -> str:  # noqa: F811 - the same name on purpose
        return f"site {runs()}"

    site.include_router(api)
    with TestClient(build_server(site)) as client:
        assert [client.get("/api/index").text for _ in range(2)] == ["api 1", "api 1"]
        assert [client.get("/index").text for _ in range(2)] == ["site 2", "site 3"]


def test_registered_directly_with_with_plugins() -> None:
    from areion_caching.hooks import CachingPlugin

    from areion_core import AreionServerBuilder

    router, runs = Router(), Counter()

    @router.get("/direct")
    @cache(ttl=60)
    async def direct(request: HttpRequest) -> str:
        return str(runs())

    server = (
        AreionServerBuilder().with_router(router).without_config_file().with_access_log(False)
        .with_plugins(CachingPlugin()).with_config({"plugins": {"enabled": []}}).build()
    )
    with TestClient(server) as client:
        assert client.get("/direct").text == client.get("/direct").text == "1"
    assert server.app.get_plugin("caching") is not None


def test_hits_are_replayed_past_caching_and_compression_but_not_past_other_plugins() -> None:
    """A hit skips the impls that already ran when it was stored, and no one else's."""
    from areion_caching.hooks import CachingPlugin

    from areion_core import REPLAYED, AreionServerBuilder, hookimpl

    class Stamp:
        name = "stamp"

        def __init__(self) -> None:
            self.seen: list[tuple[str | None, bool]] = []

        @hookimpl
        def response_ready(self, request: HttpRequest, response: HttpResponse) -> None:
            ext = response.extensions or {}
            self.seen.append((ext.get("caching.status"), bool(ext.get(REPLAYED))))
            response.headers["x-stamp"] = str(len(self.seen))
            if "x-cache" in response.headers:
                response.headers["x-cache"] += "-stamped"

    router, runs = Router(), Counter()

    @router.get("/page")
    @cache(ttl=60)
    async def page(request: HttpRequest) -> str:
        return "x" * 2000 + str(runs())

    stamp = Stamp()
    server = (
        AreionServerBuilder().with_router(router).without_config_file().with_access_log(False)
        .with_config({"plugins": {"enabled": ["compression"]}})
        .with_plugins(CachingPlugin(), stamp).build()
    )
    with TestClient(server) as client:
        miss = client.get("/page", headers={"Accept-Encoding": "gzip"})
        hit = client.get("/page", headers={"Accept-Encoding": "gzip"})
        plain_hit = client.get("/page", headers={"Accept-Encoding": "identity"})
        plain_again = client.get("/page", headers={"Accept-Encoding": "identity"})
    assert miss.headers["x-cache"] == "MISS" and miss.headers["content-encoding"] == "gzip"
    # The stored gzip variant comes back as stored (not compressed twice), with the other
    # plugin's per-response header on top: written to the hit, not to the stored copy.
    assert hit.headers["content-encoding"] == "gzip" and hit.content == miss.content
    assert hit.headers["x-cache"] == "HIT-stamped" and hit.headers["x-stamp"] == "2"
    assert plain_hit.headers["x-cache"] == "MISS" and "content-encoding" not in plain_hit.headers
    assert plain_again.headers["x-cache"] == "HIT-stamped" and plain_again.headers["x-stamp"] == "4"
    assert stamp.seen == [(None, False), ("HIT", True), (None, False), ("HIT", True)]
    assert runs.n == 2  # one run per encoding variant


def test_last_modified_is_never_later_than_date() -> None:
    from areion_core.server.dates import parse_http_date

    router = Router()

    @router.get("/t")
    @cache(ttl=60)
    async def t(request: HttpRequest) -> str:
        return "t"

    with TestClient(build_server(router)) as client:
        deadline = time.monotonic() + 2.2  # across at least two second boundaries
        i = 0
        while time.monotonic() < deadline:
            i += 1
            response = client.get(f"/t?i={i}")  # a new key: a miss, validators made now
            assert response.headers["x-cache"] == "MISS"
            assert parse_http_date(response.headers["last-modified"]) <= parse_http_date(response.headers["date"])


def test_a_cached_routes_request_received_link_is_the_caches_own_method() -> None:
    # A hit is the path that must cost least: the compiled chain calls the cache itself, with
    # no call through the plugin class (bound in configure), and a hit still answers.
    router, runs = Router(), Counter()

    @router.get("/thing")
    @cache(ttl=60)
    async def thing(request: HttpRequest) -> str:
        return f"thing {runs()}"

    server = build_server(router)
    route = next(route for route in server.app.routes if route.path == "/thing")
    links = route_chain(route, "request_received")
    assert [link.plugin for link in links] == ["caching"]
    cache_object = server.app.state[STATE_KEY]
    assert links[0].function == cache_object.on_request
    with TestClient(server) as client:
        assert client.get("/thing").text == "thing 1"
        second = client.get("/thing")
    assert (second.text, second.headers["x-cache"]) == ("thing 1", "HIT")
