"""The plugin's hook implementations: wiring only, the logic lives in ``compressor``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Mapping
from typing import TYPE_CHECKING

from areion_core import HttpResponse, hookimpl, skip_replayed

from .compressor import ResponseCompressor, route_opted_out
from .settings import CompressionSettings

if TYPE_CHECKING:
    from areion_core.app import App
    from areion_core.config import AreionConfig
    from areion_core.request import HttpRequest
    from areion_core.routing import Route


class CompressionPlugin:
    """gzip, brotli and zstd for responses, negotiated per request (``[plugins.compression]``)."""

    name = "compression"

    def __init__(self) -> None:
        self.compressor: ResponseCompressor | None = None
        self._min_size = 0  # until configured, every response goes to the compressor

    @hookimpl
    def configure(self, app: App, config: AreionConfig) -> None:
        settings = CompressionSettings.from_config(app.config.section("compression"))
        self.compressor = ResponseCompressor(settings)
        self._min_size = settings.min_size

    @hookimpl
    def hot_hooks_for_route(self, app: App, route: Route) -> Collection[str] | None:
        # A @no_compression route, or an app with every algorithm disabled, pays nothing.
        if route_opted_out(route) or not self._configured().enabled:
            return ()
        return None

    @hookimpl
    def vary_normalizers(self, app: App) -> Mapping[str, Callable[[HttpRequest], str]] | None:
        return {"accept-encoding": self._configured().encoding_for}

    @skip_replayed  # a replayed response (a cache hit) was negotiated and encoded when stored
    @hookimpl
    def response_ready(
        self, request: HttpRequest, response: HttpResponse
    ) -> Awaitable[HttpResponse | None] | None:
        # A small plain answer (most API responses) is decided here, without a coroutine.
        if response.__class__ is HttpResponse and len(response.body) < self._min_size:
            return None
        return self._configured().process(request, response)

    def _configured(self) -> ResponseCompressor:
        compressor = self.compressor
        if compressor is None:
            # Registered without the configure hook having run (an unusual embedding): defaults.
            compressor = self.compressor = ResponseCompressor(CompressionSettings.from_config({}))
        return compressor
