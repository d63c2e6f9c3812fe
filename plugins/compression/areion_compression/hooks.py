"""The plugin's hook implementations: wiring only, the logic lives in ``compressor``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Mapping
from typing import TYPE_CHECKING

from areion_core import HttpResponse, hookimpl, skip_replayed, skip_small_bodies

from .compressor import ResponseCompressor, route_opted_out
from .settings import CompressionSettings

if TYPE_CHECKING:
    from areion_core import App, AreionConfig, HttpRequest, Route


class CompressionPlugin:
    """gzip, brotli and zstd for responses, negotiated per request (``[plugins.compression]``)."""

    name = "compression"

    def __init__(self) -> None:
        # The defaults, for an embedding that registers the plugin without running configure.
        self.compressor = ResponseCompressor(CompressionSettings.from_section({}))
        self.min_size = self.compressor.min_size

    @hookimpl
    def configure(self, app: App, config: AreionConfig) -> None:
        self.compressor = ResponseCompressor(CompressionSettings.from_section(config.section(self.name)))
        self.min_size = self.compressor.min_size

    @hookimpl
    def hot_hooks_for_route(self, app: App, route: Route) -> Collection[str] | None:
        # A @no_compression route, or an app with every algorithm disabled, pays nothing.
        if route_opted_out(route) or not self.compressor.enabled:
            return ()
        return None

    @hookimpl
    def vary_normalizers(self, app: App) -> Mapping[str, Callable[[HttpRequest], str]] | None:
        return {"accept-encoding": self.compressor.encoding_for}

    @skip_replayed  # a replayed response (a cache hit) was negotiated and encoded when stored
    @skip_small_bodies(lambda plugin: plugin.min_size)  # the test below, made by the core instead of a call
    @hookimpl
    def response_ready(
        self, request: HttpRequest, response: HttpResponse
    ) -> Awaitable[HttpResponse | None] | None:
        # A small plain answer (most API responses) is decided here, without a coroutine.
        if response.__class__ is HttpResponse and len(response.body) < self.min_size:
            return None
        return self.compressor.process(request, response)
