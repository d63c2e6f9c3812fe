"""The decision per response: whether to compress, with what, and how (buffered, streamed, file)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, Callable, Iterable
from typing import TYPE_CHECKING

from areion_core import FileResponse, HttpResponse, StandardMetrics, StreamingResponse, create_error_response

from .decorators import ROUTE_OPTION
from .negotiation import IDENTITY, EncodingNegotiator
from .representation import buffered_response, copy_extras, encoded_headers
from .settings import CompressionSettings
from .static import (
    BUFFERED_FILE_LIMIT,
    find_precompressed,
    precompressed_response,
    read_and_compress,
    streamed_file_response,
)
from .streaming import compress_async_chunks, compress_sync_chunks

if TYPE_CHECKING:
    from areion_core import HttpRequest, Route

# 206 is a slice of a representation; compressing it would break the byte offsets.
_NEVER_COMPRESSED = frozenset({204, 206, 304})


def accept_encoding(request: HttpRequest) -> str | None:
    """The request's ``Accept-Encoding``, several header lines joined as one list (RFC 9110 §5.3)."""
    # The raw pairs, not request.headers: indexing every header for this one costs more
    # than the rest of the decision when the answer is "leave it alone".
    values = [v for n, v in request.raw_headers if len(n) == 15 and n.lower() == b"accept-encoding"]
    if not values:
        return None
    text = values[0] if len(values) == 1 else b", ".join(values)
    return text.decode("latin-1")


def route_opted_out(route: Route | None) -> bool:
    """Whether ``route`` was marked ``@no_compression``."""
    return route is not None and bool(route.options.get(ROUTE_OPTION))


class ResponseCompressor:
    """Applies the configured compression to responses; one per app, built at startup."""

    __slots__ = ("_suffixes", "_thread_min_size", "_types", "enabled", "min_size", "negotiator", "settings")

    def __init__(self, settings: CompressionSettings) -> None:
        self.settings = settings
        #: False with ``algorithms = []``: nothing is ever compressed, so no Vary either.
        self.enabled = bool(settings.codecs)
        self.negotiator = EncodingNegotiator(settings.preference, settings.preference)
        self._types = settings.content_type_filter()
        self.min_size = settings.min_size
        self._thread_min_size = settings.thread_min_size
        self._suffixes = tuple(
            (name, codec.file_suffix) for name, codec in settings.codecs.items() if codec.file_suffix
        )

    def encoding_for(self, request: HttpRequest) -> str:
        """What this request would be sent: a coding, ``identity``, or ``none`` (nothing acceptable).

        This is the ``accept-encoding`` vary normaliser: caches key variants by it, so every
        browser that accepts brotli shares one cached brotli copy.
        """
        if route_opted_out(request.route):
            return IDENTITY
        return self.negotiator.negotiate(accept_encoding(request)) or "none"

    async def process(self, request: HttpRequest, response: HttpResponse) -> HttpResponse | None:
        """The response to send instead of ``response``, or None to send it unchanged.

        Headers of ``response`` may gain ``Vary: Accept-Encoding`` even when None is returned.
        """
        status = response.status_code
        if status < 200 or status in _NEVER_COMPRESSED or not self.enabled:
            return None
        if response.__class__ is HttpResponse and len(response.body) < self.min_size:
            return None  # the commonest case first: a small API answer
        headers = response.headers
        if "content-encoding" in headers or "content-range" in headers:
            return None  # encoded already (never twice), or a slice of something
        if not self._types.allows(headers.get("content-type")):
            return None
        cache_control = headers.get("cache-control")
        if cache_control is not None and "no-transform" in cache_control.lower():
            return None  # RFC 9111 §5.2.2.6: intermediaries and we must not change the coding
        if route_opted_out(request.route):
            return None
        if isinstance(response, FileResponse):
            return await self._file(request, response)
        if isinstance(response, StreamingResponse):
            return self._stream(request, response)
        body = response.body
        if len(body) < self.min_size:
            return None  # the framing would eat the gain; no Vary: identity for everyone
        headers.add_vary("Accept-Encoding")
        # HEAD too: the body is GET's, and Content-Length must be what GET would send.
        encoding = self.negotiator.negotiate(accept_encoding(request))
        if encoding is None:
            return self._not_acceptable(response)
        if encoding == IDENTITY:
            return None
        codec = self.settings.codecs[encoding]
        if len(body) >= self._thread_min_size:
            compressed = await _in_thread(codec.compress, body)
        else:
            compressed = codec.compress(body)
        if len(compressed) >= len(body):
            return None  # incompressible (random or encrypted data): identity is smaller
        _report_saved(request, encoding, len(body) - len(compressed))
        return buffered_response(response, compressed, encoding)

    def _stream(self, request: HttpRequest, response: StreamingResponse) -> HttpResponse | None:
        declared = response.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) < self.min_size:
            return None
        response.headers.add_vary("Accept-Encoding")
        encoding = self.negotiator.negotiate(accept_encoding(request))
        if encoding is None:
            return self._not_acceptable(response)
        if encoding == IDENTITY:
            return None
        if request.method == "HEAD":
            # GET's headers (no Content-Length, chunked); the core closes the handler's
            # iterator unread, so no compressor wraps it and nothing is compressed.
            head = StreamingResponse(response.body_iterator, response.status_code)
            head.headers = encoded_headers(response, encoding)
            copy_extras(response, head, encoding)
            return head
        compressor = self.settings.codecs[encoding].compressor()
        source = response.body_iterator
        # Keep the iterator's kind: the core iterates a sync one as the handler intended.
        wrapped: AsyncIterable[bytes] | Iterable[bytes]
        if isinstance(source, AsyncIterable):
            wrapped = compress_async_chunks(source, compressor)
        else:
            wrapped = compress_sync_chunks(source, compressor)
        new = StreamingResponse(wrapped, response.status_code)
        new.headers = encoded_headers(response, encoding)
        copy_extras(response, new, encoding)
        return new

    async def _file(self, request: HttpRequest, response: FileResponse) -> HttpResponse | None:
        size = response.stat.st_size
        if size < self.min_size or getattr(response, "range", None) is not None:
            return None
        response.headers.add_vary("Accept-Encoding")
        if "range" in request.headers and request.method == "GET":
            return None  # ranges address the identity bytes; the core slices the original
        # HEAD takes GET's path (the core ignores Range on HEAD, RFC 9110 §14.2), so its
        # Content-Length is GET's: a precompressed file's size, or the compressed length.
        header = accept_encoding(request)
        encoding = self.negotiator.negotiate(header)
        if encoding is None:
            return self._not_acceptable(response)
        if encoding == IDENTITY:
            return None
        if self._suffixes:
            weights = self.negotiator.weights(header or "")
            star = weights.get("*")
            wanted = {name for name, _ in self._suffixes if weights.get(name, star)}
            variants = find_precompressed(response, self._suffixes, wanted)
            if variants:
                chosen = self.negotiator.negotiate_among(header, variants)
                if chosen is not None and chosen != IDENTITY:
                    return precompressed_response(response, chosen, variants[chosen])
        codec = self.settings.codecs[encoding]
        if size > BUFFERED_FILE_LIMIT:
            return streamed_file_response(response, codec)
        try:
            if size >= self._thread_min_size:
                compressed = await _in_thread(read_and_compress, response.path, codec)
            else:
                compressed = read_and_compress(response.path, codec)
        except OSError:
            return None  # gone since the handler stat'ed it: let the core report that
        _report_saved(request, encoding, size - len(compressed))
        return buffered_response(response, compressed, encoding)

    def _not_acceptable(self, response: HttpResponse) -> HttpResponse | None:
        # Only successful responses become 406: an error page in identity beats hiding the
        # error, and RFC 9110 §12.5.3 allows sending identity anyway.
        if not self.settings.not_acceptable_406 or not 200 <= response.status_code < 300:
            return None
        message = "Not Acceptable: no content coding in Accept-Encoding is available"
        answer = create_error_response(406, message)
        answer.headers.add_vary("Accept-Encoding")
        return answer


def _report_saved(request: HttpRequest, encoding: str, saved: int) -> None:
    """Bytes a buffered body lost to compression, to ``app.telemetry`` (streams are not counted)."""
    app = request.app
    if app is not None and saved > 0:
        app.telemetry.inc(StandardMetrics.compression_saved_bytes, saved, encoding=encoding)


async def _in_thread(func: Callable[..., bytes], *args: object) -> bytes:
    """Run a CPU-heavy compression off the event loop (brotli and zlib release the GIL)."""
    return await asyncio.get_running_loop().run_in_executor(None, func, *args)
