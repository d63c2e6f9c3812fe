"""With areion-compression: one variant per negotiated encoding, never sent to the wrong client."""

from __future__ import annotations

import asyncio
import gzip
import time

import brotli
from areion_caching import cache

from areion_core import HttpRequest, Router
from areion_core.testing import AsyncTestClient, TestClient
from tests.plugins.caching._caching_support import Counter, build_server

PAYLOAD = {
    "items": [{"id": i, "name": f"item number {i}", "tags": ["a", "b", "c"]} for i in range(200)]
}


def decoded(response: object) -> bytes:
    encoding = response.headers.get("content-encoding")  # type: ignore[attr-defined]
    body: bytes = response.content  # type: ignore[attr-defined]
    if encoding == "br":
        return brotli.decompress(body)
    if encoding == "gzip":
        return gzip.decompress(body)
    assert encoding is None, encoding
    return body


def catalog_router(runs: Counter, **rule: float) -> Router:
    router = Router()

    @router.get("/catalog")
    @cache(**({"ttl": 60} | rule))  # type: ignore[arg-type]
    async def catalog(request: HttpRequest) -> dict[str, object]:
        runs()
        return PAYLOAD

    return router


def test_each_client_gets_an_encoding_it_accepted() -> None:
    runs = Counter()
    server = build_server(catalog_router(runs), plugins=("caching", "compression"))
    with TestClient(server) as client:
        br = client.get("/catalog", headers={"Accept-Encoding": "gzip, deflate, br"})
        assert (br.headers["content-encoding"], br.headers["x-cache"]) == ("br", "MISS")
        identity = client.get("/catalog")
        assert "content-encoding" not in identity.headers and identity.headers["x-cache"] == "MISS"
        gz = client.get("/catalog", headers={"Accept-Encoding": "gzip"})
        assert (gz.headers["content-encoding"], gz.headers["x-cache"]) == ("gzip", "MISS")

        # Later clients share the variant for what they negotiate, whatever their header text.
        br_hit = client.get("/catalog", headers={"Accept-Encoding": "br, gzip"})
        gz_hit = client.get("/catalog", headers={"Accept-Encoding": "gzip, br;q=0"})
        identity_hit = client.get("/catalog", headers={"Accept-Encoding": "identity"})
        assert (br_hit.headers["content-encoding"], br_hit.headers["x-cache"]) == ("br", "HIT")
        assert (gz_hit.headers["content-encoding"], gz_hit.headers["x-cache"]) == ("gzip", "HIT")
        assert (
            "content-encoding" not in identity_hit.headers
            and identity_hit.headers["x-cache"] == "HIT"
        )

        bodies = {decoded(r) for r in (br, identity, gz, br_hit, gz_hit, identity_hit)}
        assert len(bodies) == 1 and b"item number 199" in bodies.pop()
        assert "accept-encoding" in br_hit.headers["vary"].lower()
        # Each representation has its own validator.
        assert len({br.headers["etag"], gz.headers["etag"], identity.headers["etag"]}) == 3
        revalidated = client.get(
            "/catalog", headers={"Accept-Encoding": "gzip", "If-None-Match": gz.headers["etag"]}
        )
        assert revalidated.status_code == 304
        cross = client.get(
            "/catalog", headers={"Accept-Encoding": "gzip", "If-None-Match": br.headers["etag"]}
        )
        assert cross.status_code == 200 and cross.headers["content-encoding"] == "gzip"
    assert runs.n == 3  # one handler run per encoding


async def test_background_refresh_stores_compressed_variants_too() -> None:
    runs = Counter()
    server = build_server(
        catalog_router(runs, ttl=0.2, stale_while_revalidate=30), plugins=("caching", "compression")
    )
    async with AsyncTestClient(server) as client:
        await client.get("/catalog", headers={"Accept-Encoding": "br"})
        await asyncio.sleep(0.3)
        stale = await client.get("/catalog", headers={"Accept-Encoding": "br"})
        assert (stale.headers["x-cache"], stale.headers["content-encoding"]) == ("STALE", "br")
        deadline = time.monotonic() + 5
        while runs.n < 2 and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.05)
        fresh = await client.get("/catalog", headers={"Accept-Encoding": "br"})
        assert (fresh.headers["x-cache"], fresh.headers["content-encoding"]) == ("HIT", "br")
        assert int(fresh.headers["age"]) == 0
        plain = await client.get("/catalog")
        assert plain.headers["x-cache"] == "MISS" and "content-encoding" not in plain.headers
        assert decoded(fresh) == decoded(plain)
