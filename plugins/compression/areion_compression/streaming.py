"""Compressing bodies that arrive in chunks: streamed responses and large files."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator

from .codecs import StreamCompressor

#: Read size when compressing a large file on the fly.
FILE_CHUNK_SIZE = 64 * 1024


def _as_bytes(chunk: bytes | str) -> bytes:
    # The core sends str chunks as UTF-8, so they must be compressed as UTF-8 too.
    return chunk.encode() if isinstance(chunk, str) else bytes(chunk)


async def compress_async_chunks(
    source: AsyncIterable[bytes | str], compressor: StreamCompressor
) -> AsyncIterator[bytes]:
    """Compress each chunk of ``source`` and flush it, so the client can decode it on arrival.

    Flushing after every chunk costs some ratio but is what server-sent events and long polls
    need: without it the compressor would hold small events back until its buffer fills.
    """
    iterator = source.__aiter__()
    try:
        async for chunk in iterator:
            data = _as_bytes(chunk)
            if not data:
                continue  # an empty chunk would end a chunked body; nothing to flush either
            out = compressor.compress(data) + compressor.flush()
            if out:
                yield out
        tail = compressor.finish()
        if tail:
            yield tail
    finally:
        # The core closes us when the client goes away; pass that on so the handler's
        # generator runs its own cleanup (finally blocks, released resources).
        aclose = getattr(iterator, "aclose", None)
        if aclose is not None:
            await aclose()


def compress_sync_chunks(source: Iterable[bytes | str], compressor: StreamCompressor) -> Iterator[bytes]:
    """The synchronous twin of ``compress_async_chunks`` (the core iterates it as it would the original)."""
    iterator = iter(source)
    try:
        for chunk in iterator:
            data = _as_bytes(chunk)
            if not data:
                continue
            out = compressor.compress(data) + compressor.flush()
            if out:
                yield out
        tail = compressor.finish()
        if tail:
            yield tail
    finally:
        close = getattr(iterator, "close", None)
        if close is not None:
            close()


def compress_file_chunks(path: str, compressor: StreamCompressor) -> Iterator[bytes]:
    """Read ``path`` in blocks and yield its compressed form (no per-block flush: nobody waits)."""
    with open(path, "rb") as file:
        while block := file.read(FILE_CHUNK_SIZE):
            out = compressor.compress(block)
            if out:
                yield out
    tail = compressor.finish()
    if tail:
        yield tail
