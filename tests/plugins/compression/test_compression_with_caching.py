"""With areion-caching: a cached route is compressed once per encoding, then served from the cache.

The two plugins cooperate only through core hooks: our ``vary_normalizers`` entry keys cache
variants by the coding we would send, and the cache stores responses after our
``response_ready`` (it runs ``trylast``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from areion_compression import BrotliCodec, Codec, register_codec
from areion_compression.codecs import registered_codecs
from areion_compression.representation import suffix_etag

from areion_core import AreionServerBuilder, HttpResponse, Router
from areion_core.testing import TestClient
from tests.plugins.compression._compression_app import BIG_TEXT, decode

caching = pytest.importorskip("areion_caching")


class _CountingBrotli(BrotliCodec):
    """The real brotli codec, counting whole-body compressions."""

    calls = 0

    def compress(self, data: bytes) -> bytes:
        type(self).calls += 1
        return super().compress(data)


@pytest.fixture
def counting_brotli() -> Iterator[type[_CountingBrotli]]:
    original = registered_codecs()["br"]
    _CountingBrotli.calls = 0
    register_codec("br", lambda options: _CountingBrotli(int(options["brotli_quality"])), replace=True)
    try:
        yield _CountingBrotli
    finally:
        register_codec("br", original.factory, config_keys=original.config_keys, replace=True)


def _server() -> tuple[Any, dict[str, int]]:
    calls = {"handler": 0}
    router = Router()

    @router.get("/page")
    @caching.cache(ttl=60)
    async def page(request: Any) -> HttpResponse:
        calls["handler"] += 1
        return HttpResponse(BIG_TEXT, headers={"etag": '"page"'})

    server = (
        AreionServerBuilder()
        .with_router(router)
        .without_config_file()
        .with_config({"plugins": {"enabled": ["caching", "compression"], "caching": {"store": "memory"}}})
        .build()
    )
    return server, calls


def test_compressed_once_per_encoding_then_served_from_cache(counting_brotli: type[Codec]) -> None:
    server, calls = _server()
    with TestClient(server) as client:
        bodies: dict[str | None, set[bytes]] = {}
        headers_seen = [
            "br", "gzip, deflate, br, zstd", "br;q=1.0, gzip;q=0.5",  # all normalise to "br"
            "gzip", "gzip, deflate",                                   # "gzip"
            None, "deflate",                                           # "identity"
        ] * 3
        for header in headers_seen:
            r = client.get("/page", headers={"Accept-Encoding": header} if header else {})
            assert r.status_code == 200
            encoding = r.headers.get("content-encoding")
            assert decode(encoding, r.content).decode() == BIG_TEXT
            assert "accept-encoding" in r.headers["vary"].lower()
            bodies.setdefault(encoding, set()).add(r.content)
        assert set(bodies) == {"br", "gzip", None}
        assert all(len(variants) == 1 for variants in bodies.values())  # served from the cache
        assert calls["handler"] == 3  # one miss per encoding
        assert counting_brotli.calls == 1  # brotli ran once; every other br answer was a hit


def test_cached_variants_keep_distinct_etags(counting_brotli: type[Codec]) -> None:
    server, _ = _server()
    with TestClient(server) as client:
        for _ in range(2):
            br = client.get("/page", headers={"Accept-Encoding": "br"})
            plain = client.get("/page")
            assert br.headers["etag"] == suffix_etag('"page"', "br")
            assert plain.headers["etag"] == '"page"'
        r = client.get("/page", headers={"Accept-Encoding": "br", "If-None-Match": br.headers["etag"]})
        assert r.status_code == 304
        r = client.get("/page", headers={"Accept-Encoding": "gzip", "If-None-Match": br.headers["etag"]})
        assert r.status_code == 200
        assert r.headers["content-encoding"] == "gzip"
