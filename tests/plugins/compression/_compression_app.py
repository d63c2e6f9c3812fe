"""The app the compression tests talk to, and reference decoders for what comes back."""

from __future__ import annotations

import asyncio
import gzip
import os
import zlib
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import brotli
import zstandard
from areion_compression import no_compression

from areion_core import (
    AreionServer,
    AreionServerBuilder,
    HttpResponse,
    NotFoundError,
    Router,
    StreamingResponse,
)

BIG_TEXT = "The quick brown fox jumps over the lazy dog. " * 60  # ~2.7 KB, very compressible
BIG_JSON: dict[str, Any] = {"items": [{"id": i, "name": f"item {i}", "tags": ["x", "y"]} for i in range(80)]}
SSE_EVENTS = [f"data: event {i} {'.' * 40}\n\n" for i in range(5)]
RANDOM = os.urandom(4096)
# A prebuilt response returned by reference on every request (handlers do this for speed).
SHARED = HttpResponse(BIG_TEXT, headers={"etag": '"shared"'})


def _decode_zstd(data: bytes) -> bytes:
    return zstandard.ZstdDecompressor().decompressobj().decompress(data)


DECODERS: dict[str, Callable[[bytes], bytes]] = {
    "br": brotli.decompress,
    "gzip": gzip.decompress,
    "zstd": _decode_zstd,
    "deflate": zlib.decompress,
}
ALGORITHMS = ("br", "gzip", "zstd")


def decode(encoding: str | None, data: bytes) -> bytes:
    """The body as the client sees it after undoing ``Content-Encoding``."""
    return data if encoding is None else DECODERS[encoding](data)


class IncrementalDecoder:
    """Decodes a body piece by piece, as a browser does while a stream arrives."""

    def __init__(self, encoding: str) -> None:
        if encoding == "br":
            self.feed: Callable[[bytes], bytes] = brotli.Decompressor().process
        elif encoding == "gzip":
            self.feed = zlib.decompressobj(31).decompress
        else:
            self.feed = zstandard.ZstdDecompressor().decompressobj().decompress


async def sse_events(delay: float = 0.0) -> AsyncIterator[str]:
    for event in SSE_EVENTS:
        if delay:
            await asyncio.sleep(delay)
        yield event


def make_router() -> Router:
    router = Router()

    @router.get("/text")
    async def text(request: Any) -> HttpResponse:
        return HttpResponse(BIG_TEXT, headers=dict(request.query_params))

    @router.get("/json")
    async def json(request: Any) -> dict[str, Any]:
        return BIG_JSON

    @router.get("/small")
    async def small(request: Any) -> str:
        return "tiny"

    @router.get("/png")
    async def png(request: Any) -> HttpResponse:
        return HttpResponse(BIG_TEXT.encode(), content_type="image/png")

    @router.get("/octet")
    async def octet(request: Any) -> bytes:
        return BIG_TEXT.encode()

    @router.get("/pre-encoded")
    async def pre_encoded(request: Any) -> HttpResponse:
        return HttpResponse(gzip.compress(BIG_TEXT.encode()), content_type="text/plain",
                            headers={"content-encoding": "gzip"})

    @router.get("/no-transform")
    async def no_transform(request: Any) -> HttpResponse:
        return HttpResponse(BIG_TEXT, headers={"cache-control": "public, No-Transform"})

    @router.get("/secret")
    @no_compression
    async def secret(request: Any) -> str:
        return BIG_TEXT

    @no_compression
    @router.get("/secret-above")
    async def secret_above(request: Any) -> str:
        return BIG_TEXT

    @router.get("/empty")
    async def empty(request: Any) -> None:
        return None

    @router.get("/partial")
    async def partial(request: Any) -> HttpResponse:
        return HttpResponse(BIG_TEXT[:1000], 206, "text/plain",
                            headers={"content-range": f"bytes 0-999/{len(BIG_TEXT)}"})

    @router.get("/not-modified")
    async def not_modified(request: Any) -> HttpResponse:
        return HttpResponse(None, 304, headers={"etag": '"x"'})

    @router.get("/random")
    async def random(request: Any) -> HttpResponse:
        return HttpResponse(RANDOM, content_type="text/plain")

    @router.get("/cookie")
    async def cookie(request: Any) -> HttpResponse:
        response = HttpResponse(BIG_TEXT)
        response.set_cookie("session", "abc", httponly=True)
        return response

    @router.get("/missing")
    async def missing(request: Any) -> HttpResponse:
        return HttpResponse(BIG_TEXT, 404)

    @router.get("/raises")
    async def raises(request: Any) -> None:
        raise NotFoundError("x" * 1000)

    @router.get("/shared")
    async def shared(request: Any) -> HttpResponse:
        return SHARED

    @router.get("/stream")
    async def stream(request: Any) -> StreamingResponse:
        delay = float(request.query_params.get("delay", "0"))
        return StreamingResponse(sse_events(delay), content_type="text/event-stream")

    @router.get("/stream-sync")
    async def stream_sync(request: Any) -> StreamingResponse:
        return StreamingResponse(iter([e.encode() for e in SSE_EVENTS]), content_type="text/plain")

    @router.get("/stream-short")
    async def stream_short(request: Any) -> StreamingResponse:
        return StreamingResponse(iter([b"hi"]), content_type="text/plain", headers={"content-length": "2"})

    @router.get("/stream-binary")
    async def stream_binary(request: Any) -> StreamingResponse:
        return StreamingResponse(iter([RANDOM]), content_type="application/octet-stream")

    return router


def make_server(
    config: Mapping[str, Any] | None = None,
    *,
    static_dir: str | os.PathLike[str] | None = None,
    router: Router | None = None,
) -> AreionServer:
    """The test app with the compression plugin loaded through its entry point."""
    builder = (
        AreionServerBuilder()
        .with_router(router or make_router())
        .without_config_file()
        .with_config({"plugins": {"enabled": ["compression"], "compression": dict(config or {})}})
    )
    if static_dir is not None:
        builder = builder.with_static_dir(static_dir)
    return builder.build()
