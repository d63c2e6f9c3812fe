"""``metrics.port``: the scrape endpoint on a port of its own, away from the app's traffic.

It is a second, minimal Areion server (no plugin, no access log) in each process. Several
workers share the port through SO_REUSEPORT; whichever one the kernel hands a scrape to
answers with every worker's numbers (multiprocess mode), so it does not matter which.
"""

from __future__ import annotations

import socket
from collections.abc import Awaitable, Callable

from areion_core import AreionServer, AreionServerBuilder, HttpRequest, HttpResponse, Router

from .settings import MetricsSettings


class MetricsListener:
    """Serves ``settings.path`` on ``settings.host:settings.port`` with ``endpoint``."""

    def __init__(self, settings: MetricsSettings, endpoint: Callable[[HttpRequest], Awaitable[HttpResponse]]) -> None:
        self.settings = settings
        router = Router()
        router.add_route(settings.path, endpoint, methods=["GET"], name="metrics", include_in_schema=False)
        self.server: AreionServer = (AreionServerBuilder().with_router(router).without_config_file()
                                     .with_config(plugins=[], access_log=False).build())

    async def start(self, shared: bool) -> None:
        """Listen (``shared``: beside the other workers, through SO_REUSEPORT)."""
        family = socket.AF_INET6 if ":" in self.settings.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if shared:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        try:
            sock.bind((self.settings.host, self.settings.port))
            sock.listen(128)
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        await self.server.start(sock)

    @property
    def port(self) -> int:
        """The port listened on."""
        return self.server.port

    async def stop(self) -> None:
        """Stop listening (a scrape in progress is finished first)."""
        await self.server.stop(1.0)
