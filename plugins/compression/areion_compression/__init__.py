"""areion-compression: gzip, brotli and zstd responses for Areion, negotiated per request."""

from .codecs import BrotliCodec, Codec, GzipCodec, StreamCompressor, ZstdCodec, register_codec
from .content_types import DEFAULT_CONTENT_TYPES, ContentTypeFilter
from .decorators import no_compression
from .hooks import CompressionPlugin
from .negotiation import (
    DEFAULT_PREFERENCE,
    EncodingNegotiator,
    negotiate_encoding,
    parse_accept_encoding,
)
from .settings import CompressionSettings

__all__ = [
    "DEFAULT_CONTENT_TYPES",
    "DEFAULT_PREFERENCE",
    "BrotliCodec",
    "Codec",
    "CompressionPlugin",
    "CompressionSettings",
    "ContentTypeFilter",
    "EncodingNegotiator",
    "GzipCodec",
    "StreamCompressor",
    "ZstdCodec",
    "negotiate_encoding",
    "no_compression",
    "parse_accept_encoding",
    "register_codec",
]
