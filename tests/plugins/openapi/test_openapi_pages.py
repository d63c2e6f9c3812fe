"""The plugin in an app: when it is on, what its routes answer, caching, prefixes, startup errors."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from areion_openapi import operation_id
from areion_openapi.pages import ASSET_CACHE_CONTROL, ASSETS, asset_version

from areion_core import NotFoundError, PluginError, Router
from areion_core.testing import TestClient
from tests.plugins.openapi._openapi_support import build_server, valid


@dataclass
class Pet:
    id: int
    name: str


def pets_router() -> Router:
    router = Router()
    api = router.group("/pets")

    @api.get("/:pet_id")
    def get_pet(request, pet_id: int) -> Pet:  # type: ignore[no-untyped-def]
        """Fetch a pet."""
        if pet_id > 10:
            raise NotFoundError("No such pet")
        return Pet(pet_id, "Rex")

    @api.post("/")
    def add_pet(request, pet: Pet) -> Pet:  # type: ignore[no-untyped-def]
        """Add a pet."""
        return pet

    return router


def _refs(page: str) -> list[str]:
    return re.findall(r'(?:src|href)="([^"]+)"', page)


def test_development_mode_serves_document_and_both_pages() -> None:
    with TestClient(build_server(pets_router())) as client:
        r = client.get("/openapi.json")
        assert r.status_code == 200
        assert r.headers["content-type"] == "application/json"
        doc = valid(r.json())
        assert set(doc["paths"]) == {"/pets/{pet_id}", "/pets"}  # the docs routes are not in it
        assert doc["paths"]["/pets/{pet_id}"]["get"]["tags"] == ["pets"]
        for path, marker in (("/docs", 'id="swagger-ui"'), ("/redoc", 'id="redoc"')):
            page = client.get(path)
            assert page.status_code == 200
            assert page.headers["content-type"] == "text/html; charset=utf-8"
            assert marker in page.text
            assert 'data-openapi-url="/openapi.json"' in page.text
            assert "content-security-policy" in page.headers


def test_production_mode_is_off_unless_enabled() -> None:
    with TestClient(build_server(pets_router(), development=False)) as client:
        for path in ("/openapi.json", "/docs", "/redoc"):
            assert client.get(path).status_code == 404
        assert client.get("/pets/1").json() == {"id": 1, "name": "Rex"}
    with TestClient(build_server(pets_router(), {"enabled": True}, development=False)) as client:
        assert client.get("/openapi.json").status_code == 200
        assert client.get("/docs").status_code == 200


def test_enabled_false_switches_it_off_in_development() -> None:
    with TestClient(build_server(pets_router(), {"enabled": False})) as client:
        assert client.get("/openapi.json").status_code == 404


def test_custom_paths_and_a_page_switched_off() -> None:
    section = {"docs_path": "/api/docs", "redoc_path": False, "openapi_path": "/api/schema.json",
               "title": "Pet <Shop>"}
    with TestClient(build_server(pets_router(), section)) as client:
        assert client.get("/api/schema.json").json()["info"]["title"] == "Pet <Shop>"
        page = client.get("/api/docs")
        assert 'data-openapi-url="/api/schema.json"' in page.text
        assert "<title>Pet &lt;Shop&gt; – Swagger UI</title>" in page.text  # escaped
        assert f"/api/docs/static/{asset_version()}/swagger-ui-bundle.js" in page.text
        for path in ("/docs", "/redoc", "/openapi.json"):
            assert client.get(path).status_code == 404


def test_assets_are_served_with_long_lived_cache_headers() -> None:
    with TestClient(build_server(pets_router())) as client:
        base = f"/docs/static/{asset_version()}"
        types = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8", ".png": "image/png"}
        for name in ASSETS:
            r = client.get(f"{base}/{name}")
            assert r.status_code == 200, name
            assert r.headers["cache-control"] == ASSET_CACHE_CONTROL
            assert r.headers["content-type"] == types[name[name.rindex("."):]]
            assert len(r.content) > 100
        assert client.get(f"{base}/redoc.LICENSE").status_code == 404  # shipped, not served
        assert client.get("/docs/static/0000/swagger-ui.css").status_code == 404  # other versions


def test_pages_link_a_favicon_so_the_browser_does_not_ask_for_favicon_ico() -> None:
    with TestClient(build_server(pets_router())) as client:
        for path in ("/docs", "/redoc", "/docs/oauth2-redirect"):
            page = client.get(path).text
            icon = re.search(r'<link rel="icon" type="image/png" href="([^"]+)">', page)
            assert icon is not None, path
            r = client.get(icon.group(1))
            assert r.status_code == 200 and r.content.startswith(b"\x89PNG")


def test_document_is_revalidated_with_its_etag() -> None:
    with TestClient(build_server(pets_router())) as client:
        first = client.get("/openapi.json")
        assert first.headers["cache-control"] == "no-cache"
        etag = first.headers["etag"]
        again = client.get("/openapi.json", headers={"If-None-Match": etag})
        assert again.status_code == 304
        assert again.content == b""
        head = client.head("/openapi.json")
        assert head.status_code == 200 and head.content == b""


def test_mounted_under_a_prefix_every_url_carries_it() -> None:
    with TestClient(build_server(pets_router(), extra={"root_path": "/shop"})) as client:
        for path in ("/docs", "/redoc", "/docs/oauth2-redirect"):
            page = client.get(path).text
            refs = _refs(page) + re.findall(r'data-[a-z0-9-]+-url="([^"]+)"', page)
            assert refs, path
            assert all(ref.startswith("/shop/") for ref in refs), (path, refs)
            for ref in _refs(page):
                assert client.get(ref.removeprefix("/shop")).status_code == 200, ref
        assert client.get("/openapi.json").json()["servers"] == [{"url": "/shop"}]


def test_document_is_built_once_and_reused() -> None:
    server = build_server(pets_router())
    with TestClient(server) as client:
        service = server.app.get_plugin("openapi").service
        first = service.document()
        client.get("/openapi.json")
        client.get("/openapi.json")
        assert service.document() is first
        server.app.routes = list(server.app.routes)[:-1]  # the routes change: a new document
        assert service.document() is not first


def test_duplicate_operation_id_stops_startup_naming_both_routes() -> None:
    router = Router()

    @operation_id("readPet")
    @router.get("/pets/:id")
    def get_pet(request, id: int):  # type: ignore[no-untyped-def]
        return {}

    @operation_id("readPet")
    @router.get("/animals/:id")
    def get_animal(request, id: int):  # type: ignore[no-untyped-def]
        return {}

    with pytest.raises(PluginError) as info:
        build_server(router)
    assert "GET /pets/{id} (handler get_pet)" in str(info.value)
    assert "GET /animals/{id} (handler get_animal)" in str(info.value)
    build_server(router, development=False)  # off in production: not its business


def test_handlers_still_answer_normally() -> None:
    with TestClient(build_server(pets_router())) as client:
        assert client.get("/pets/3").json() == {"id": 3, "name": "Rex"}
        assert client.get("/pets/30").status_code == 404


def test_live_server_serves_the_assets_byte_for_byte() -> None:
    import httpx
    from areion_openapi.pages import static_dir

    from areion_core.testing import LiveServer

    with LiveServer(build_server(pets_router())) as live, httpx.Client(base_url=live.url) as http:
        page = http.get("/docs").text
        refs = _refs(page)
        assert any("/static/" in ref for ref in refs), refs  # the assets below are really fetched
        for ref in refs:
            r = http.get(ref)
            assert r.status_code == 200, ref
            if "/static/" in ref:
                assert r.content == (static_dir() / ref.rsplit("/", 1)[-1]).read_bytes()
