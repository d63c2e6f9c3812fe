"""The scrape endpoint: the registry (or every worker's files) in the format the scraper asks for."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

from areion_core import HttpRequest, HttpResponse, problem_response

from .multiprocess import scrape_registry
from .settings import MetricsSettings, Network


class MetricsEndpoint:
    """Answers ``GET <metrics.path>``: text format 0.0.4, or OpenMetrics when ``Accept`` asks for it."""

    def __init__(self, settings: MetricsSettings, registry: Callable[[], CollectorRegistry | None]) -> None:
        self.allow: tuple[Network, ...] = settings.allow
        #: The app's registry, or None: the multiprocess directory is read at each scrape.
        self.registry = registry
        self.multiprocess_dir: str | None = None
        #: Called before each scrape: the HTTP metrics move what they gathered into the registry.
        self.before_scrape: Callable[[], None] | None = None

    def allowed(self, request: HttpRequest) -> bool:
        """Whether the client may scrape (no allow-list: everyone)."""
        if not self.allow:
            return True
        client = request.client
        if client is None:
            return False
        try:
            address = ipaddress.ip_address(client[0])
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return any(address in network for network in self.allow)

    async def scrape(self, request: HttpRequest) -> HttpResponse:
        """The handler of ``metrics.path``."""
        if not self.allowed(request):
            return problem_response(403, "metrics are not served to this address")
        if self.before_scrape is not None:
            self.before_scrape()
        path = self.multiprocess_dir
        registry = scrape_registry(path) if path is not None else self.registry()
        if registry is None:
            return problem_response(404, "metrics are off")
        encoder, content_type = choose_encoder(request.headers.get("accept") or "")
        return HttpResponse(encoder(registry), 200, content_type=content_type,
                            headers={"cache-control": "no-store"})
