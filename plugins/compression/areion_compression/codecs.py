"""Compression algorithms behind one small interface, and the registry that names them.

A codec is a content coding (RFC 9110 §8.4.1): ``compress`` for a whole body and
``compressor()`` for a stream. To add one, subclass ``Codec`` and register a factory that
builds it from the plugin's config section::

    class DeflateCodec(Codec):
        name = "deflate"
        ...

    register_codec("deflate", lambda options: DeflateCodec(), config_keys=())

then list it in ``[plugins.compression] algorithms``.
"""

from __future__ import annotations

import threading
import zlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

import brotli  # type: ignore[import-untyped, unused-ignore]

zstandard: Any
try:  # zstd is an optional extra: pip install "areion-compression[zstd]"
    import zstandard
except ImportError:  # pragma: no cover - exercised only where zstandard is missing
    zstandard = None


class StreamCompressor(Protocol):
    """Compresses one body chunk by chunk; every method returns the bytes to send next."""

    def compress(self, chunk: bytes) -> bytes:
        """Feed a chunk; may return nothing until ``flush``/``finish``."""

    def flush(self) -> bytes:
        """Emit everything fed so far so the client can decode it now (SSE, long polls)."""

    def finish(self) -> bytes:
        """End the stream; the compressor cannot be used afterwards."""


class Codec(ABC):
    """One content coding: its token, its precompressed-file suffix and its compressors.

    ``compress`` may be called from worker threads (large bodies are compressed off the
    event loop), so it must be thread-safe; ``compressor()`` returns a fresh object each time.
    """

    #: The content-coding token sent in ``Content-Encoding`` (lower case).
    name: ClassVar[str]
    #: Suffix of a precompressed sibling file (``app.js`` → ``app.js.br``); None: not looked for.
    file_suffix: ClassVar[str | None] = None

    @abstractmethod
    def compress(self, data: bytes) -> bytes:
        """Compress a whole body into one complete encoded stream."""

    @abstractmethod
    def compressor(self) -> StreamCompressor:
        """A new streaming compressor for one body."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"


# --- brotli -------------------------------------------------------------------------------


class _BrotliStream:
    __slots__ = ("_c",)

    def __init__(self, quality: int) -> None:
        self._c = brotli.Compressor(quality=quality)

    def compress(self, chunk: bytes) -> bytes:
        out: bytes = self._c.process(chunk)
        return out

    def flush(self) -> bytes:
        out: bytes = self._c.flush()
        return out

    def finish(self) -> bytes:
        out: bytes = self._c.finish()
        return out


class BrotliCodec(Codec):
    """Brotli (RFC 7932). Quality 4 by default: quality 11 costs ~100× the CPU for ~10% less."""

    name = "br"
    file_suffix = ".br"

    def __init__(self, quality: int = 4) -> None:
        self.quality = quality

    def compress(self, data: bytes) -> bytes:
        out: bytes = brotli.compress(data, quality=self.quality)
        return out

    def compressor(self) -> StreamCompressor:
        return _BrotliStream(self.quality)


# --- gzip ---------------------------------------------------------------------------------

# wbits 16 + 15: a gzip header and trailer around a 32 KiB-window deflate stream.
_GZIP_WBITS = 31


class _GzipStream:
    __slots__ = ("_c",)

    def __init__(self, level: int) -> None:
        self._c = zlib.compressobj(level, zlib.DEFLATED, _GZIP_WBITS)

    def compress(self, chunk: bytes) -> bytes:
        return self._c.compress(chunk)

    def flush(self) -> bytes:
        # Z_SYNC_FLUSH ends on a byte boundary so everything so far decodes, without
        # ending the gzip member (Z_FULL_FLUSH would also reset the window: worse ratio).
        return self._c.flush(zlib.Z_SYNC_FLUSH)

    def finish(self) -> bytes:
        return self._c.flush(zlib.Z_FINISH)


class GzipCodec(Codec):
    """gzip from the standard library; the header's mtime is 0, so output is deterministic."""

    name = "gzip"
    file_suffix = ".gz"

    def __init__(self, level: int = 6) -> None:
        self.level = level

    def compress(self, data: bytes) -> bytes:
        return zlib.compress(data, self.level, wbits=_GZIP_WBITS)

    def compressor(self) -> StreamCompressor:
        return _GzipStream(self.level)


# --- zstd ---------------------------------------------------------------------------------


class _ZstdStream:
    __slots__ = ("_c",)

    def __init__(self, level: int) -> None:
        # A ZstdCompressor must not run two operations at once, so each stream gets its own.
        self._c = zstandard.ZstdCompressor(level=level).compressobj()

    def compress(self, chunk: bytes) -> bytes:
        out: bytes = self._c.compress(chunk)
        return out

    def flush(self) -> bytes:
        out: bytes = self._c.flush(zstandard.COMPRESSOBJ_FLUSH_BLOCK)
        return out

    def finish(self) -> bytes:
        out: bytes = self._c.flush(zstandard.COMPRESSOBJ_FLUSH_FINISH)
        return out


class ZstdCodec(Codec):
    """Zstandard (RFC 8878), when the ``zstandard`` package is installed."""

    name = "zstd"
    file_suffix = ".zst"

    def __init__(self, level: int = 3) -> None:
        if zstandard is None:
            raise RuntimeError("zstd needs the zstandard package: pip install 'areion-compression[zstd]'")
        self.level = level
        # ZstdCompressor objects are not thread-safe; one per thread keeps compress() safe.
        self._local = threading.local()

    def compress(self, data: bytes) -> bytes:
        cctx = getattr(self._local, "cctx", None)
        if cctx is None:
            cctx = self._local.cctx = zstandard.ZstdCompressor(level=self.level)
        result: bytes = cctx.compress(data)
        return result

    def compressor(self) -> StreamCompressor:
        return _ZstdStream(self.level)


# --- registry -----------------------------------------------------------------------------

CodecFactory = Callable[[Mapping[str, Any]], Codec]


@dataclass(frozen=True, slots=True)
class CodecEntry:
    """A registered codec: how to build it from the plugin's config, and which keys it reads."""

    name: str
    factory: CodecFactory
    config_keys: tuple[str, ...]


_REGISTRY: dict[str, CodecEntry] = {}


def register_codec(
    name: str, factory: CodecFactory, *, config_keys: tuple[str, ...] = (), replace: bool = False
) -> None:
    """Make a codec available under its content-coding ``name``.

    ``factory(options)`` receives the ``[plugins.compression]`` section (built-in keys already
    validated and defaulted) and returns the codec; it may raise ``ConfigError`` for its own
    ``config_keys``, which the plugin then accepts instead of rejecting as unknown.
    """
    key = name.lower()
    if key in _REGISTRY and not replace:
        raise ValueError(f"a codec named {key!r} is already registered (pass replace=True)")
    _REGISTRY[key] = CodecEntry(key, factory, tuple(config_keys))


def registered_codecs() -> dict[str, CodecEntry]:
    """Every registered codec by name (a copy)."""
    return dict(_REGISTRY)


def zstd_installed() -> bool:
    """Whether the optional ``zstandard`` package is importable."""
    return zstandard is not None


register_codec("br", lambda o: BrotliCodec(int(o["brotli_quality"])), config_keys=("brotli_quality",))
register_codec("gzip", lambda o: GzipCodec(int(o["gzip_level"])), config_keys=("gzip_level",))
if zstandard is not None:
    register_codec("zstd", lambda o: ZstdCodec(int(o["zstd_level"])), config_keys=("zstd_level",))
