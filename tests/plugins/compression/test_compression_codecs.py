"""One conformance suite for every registered codec, plus the registry itself."""

from __future__ import annotations

import gzip
import os
import zlib
from collections.abc import Callable

import brotli
import pytest
from areion_compression import Codec, CompressionSettings, register_codec
from areion_compression.codecs import registered_codecs, zstd_installed

try:
    import zstandard
except ImportError:  # pragma: no cover
    zstandard = None


def _zstd_decompress(data: bytes) -> bytes:
    # Streamed frames carry no content size, so decode through a decompressobj.
    return zstandard.ZstdDecompressor().decompressobj().decompress(data)


# Reference decoders, independent of the code under test.
DECODERS: dict[str, Callable[[bytes], bytes]] = {
    "br": brotli.decompress,
    "gzip": gzip.decompress,
    "zstd": _zstd_decompress,
}


class _Incremental:
    """A decoder fed piece by piece, as a browser decodes a streamed body."""

    def __init__(self, name: str) -> None:
        if name == "br":
            self._feed: Callable[[bytes], bytes] = brotli.Decompressor().process
        elif name == "gzip":
            self._feed = zlib.decompressobj(31).decompress
        else:
            self._feed = zstandard.ZstdDecompressor().decompressobj().decompress

    def feed(self, data: bytes) -> bytes:
        return self._feed(data)


def _codecs() -> dict[str, Codec]:
    return dict(CompressionSettings.from_section({}).codecs)


ALGORITHMS = sorted(_codecs())
TEXT = b"".join(b'{"id": %d, "name": "item %d", "tags": ["a", "b", "c"]}\n' % (i, i) for i in range(2000))


def test_every_builtin_is_registered() -> None:
    expected = {"br", "gzip"} | ({"zstd"} if zstd_installed() else set())
    assert expected <= set(registered_codecs())
    assert set(ALGORITHMS) == expected


@pytest.fixture(params=ALGORITHMS)
def codec(request: pytest.FixtureRequest) -> Codec:
    return _codecs()[request.param]


def test_name_and_suffix(codec: Codec) -> None:
    assert codec.name in DECODERS
    assert codec.file_suffix == {"br": ".br", "gzip": ".gz", "zstd": ".zst"}[codec.name]


@pytest.mark.parametrize("data", [b"", b"x", TEXT, os.urandom(5000)], ids=["empty", "one", "text", "random"])
def test_whole_body_round_trip(codec: Codec, data: bytes) -> None:
    assert DECODERS[codec.name](codec.compress(data)) == data


def test_text_gets_much_smaller(codec: Codec) -> None:
    assert len(codec.compress(TEXT)) < len(TEXT) / 5


def test_stream_round_trip(codec: Codec) -> None:
    stream = codec.compressor()
    pieces = [stream.compress(TEXT[i:i + 7000]) for i in range(0, len(TEXT), 7000)]
    pieces.append(stream.finish())
    assert DECODERS[codec.name](b"".join(pieces)) == TEXT


def test_flush_makes_everything_so_far_decodable(codec: Codec) -> None:
    stream = codec.compressor()
    decoder = _Incremental(codec.name)
    events = [b"data: event %d\n\n" % i for i in range(5)]
    for event in events:
        wire = stream.compress(event) + stream.flush()
        assert wire, "a flushed chunk must produce bytes"
        assert decoder.feed(wire) == event  # nothing held back
    assert decoder.feed(stream.finish()) == b""


def test_stream_of_nothing_is_a_valid_empty_body(codec: Codec) -> None:
    assert DECODERS[codec.name](codec.compressor().finish()) == b""


def test_compressors_are_independent(codec: Codec) -> None:
    a, b = codec.compressor(), codec.compressor()
    out_a = a.compress(b"A" * 1000) + a.flush()
    out_b = b.compress(b"B" * 1000) + b.flush()
    assert DECODERS[codec.name](out_a + a.finish()) == b"A" * 1000
    assert DECODERS[codec.name](out_b + b.finish()) == b"B" * 1000


def test_levels_come_from_config() -> None:
    settings = CompressionSettings.from_section({"brotli_quality": 9, "gzip_level": 1, "zstd_level": 12})
    assert settings.codecs["br"].quality == 9  # type: ignore[attr-defined]
    assert settings.codecs["gzip"].level == 1  # type: ignore[attr-defined]
    if zstd_installed():
        assert settings.codecs["zstd"].level == 12  # type: ignore[attr-defined]
    # Brotli defaults to a dynamic-response quality, not the library's slow 11.
    assert CompressionSettings.from_section({}).codecs["br"].quality == 4  # type: ignore[attr-defined]


def test_gzip_output_is_deterministic() -> None:
    # No timestamp in the header: the same body gives the same bytes (cache- and ETag-friendly).
    codec = _codecs()["gzip"]
    assert codec.compress(TEXT) == codec.compress(TEXT)


class _DeflateCodec(Codec):
    name = "deflate"

    def compress(self, data: bytes) -> bytes:
        return zlib.compress(data)

    def compressor(self):  # type: ignore[no-untyped-def]
        raise NotImplementedError


def test_registering_another_codec() -> None:
    register_codec("deflate", lambda options: _DeflateCodec(), replace=True)
    try:
        with pytest.raises(ValueError, match="already registered"):
            register_codec("deflate", lambda options: _DeflateCodec())
        settings = CompressionSettings.from_section({"algorithms": ["deflate", "gzip"]})
        assert list(settings.codecs) == ["deflate", "gzip"]
        assert zlib.decompress(settings.codecs["deflate"].compress(TEXT)) == TEXT
        # Not enabled unless listed: defaults stay the built-ins.
        assert "deflate" not in CompressionSettings.from_section({}).codecs
    finally:
        from areion_compression import codecs

        codecs._REGISTRY.pop("deflate", None)
