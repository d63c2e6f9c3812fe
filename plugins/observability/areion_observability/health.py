"""``/healthz`` (the process answers) and ``/readyz`` (it should be sent traffic).

Ready means: the app's startup finished, the server is not draining (SIGTERM, a SIGHUP
reload, ``stop()``: ``app.draining``), and, when the caching plugin keeps its entries in
Redis, that Redis answers a PING within ``health.check_timeout``. A load balancer that polls
``/readyz`` stops sending requests to a worker that drains or lost its store, while
``/healthz`` stays 200 so that nobody restarts a process that is only waiting.
"""

from __future__ import annotations

import asyncio
from typing import Any

from areion_core import HttpRequest, HttpResponse, PluginApp, create_json_response
from areion_core.plugin_api import SettingsReader

from .settings import HealthSettings


def caching_redis_url(app: PluginApp) -> str | None:
    """The Redis URL of the caching plugin's store, when that plugin is loaded and uses Redis.

    Read from the caching plugin's configuration (``[plugins.caching]``), not from the plugin:
    plugins do not import each other.
    """
    if app.get_plugin("caching") is None:
        return None
    read = SettingsReader("plugins.caching", app.config.section("caching"))
    if read.value("store") != "redis":
        return None
    return str(read.value("url") or "redis://127.0.0.1:6379/0")


class Health:
    """The two endpoints' handlers and the readiness checks behind them."""

    def __init__(self, app: PluginApp, settings: HealthSettings, redis_url: str | None) -> None:
        self.app = app
        self.settings = settings
        self.redis_url = redis_url
        #: Set by the plugin's startup hook, once this process serves.
        self.started = False
        self._client: Any = None

    async def liveness(self, request: HttpRequest) -> HttpResponse:
        """200 while the process answers at all."""
        return create_json_response({"status": "ok"})

    async def readiness(self, request: HttpRequest) -> HttpResponse:
        """200 with every check "ok", else 503 naming the checks that failed."""
        checks: dict[str, str] = {
            "startup": "ok" if self.started else "starting",
            "draining": "draining" if self.app.draining else "ok",
        }
        if self.redis_url is not None:
            checks["redis"] = await self._redis()
        ready = all(value == "ok" for value in checks.values())
        return create_json_response({"status": "ready" if ready else "not ready", "checks": checks},
                                    200 if ready else 503, headers={"cache-control": "no-store"})

    async def _redis(self) -> str:
        try:
            client = self._client
            if client is None:
                import redis.asyncio as aioredis

                client = self._client = aioredis.Redis.from_url(
                    str(self.redis_url), socket_connect_timeout=self.settings.check_timeout,
                    socket_timeout=self.settings.check_timeout)
            async with asyncio.timeout(self.settings.check_timeout):
                await client.ping()
        except ImportError:
            return "down: the redis package is not installed"
        except Exception as exc:  # any failure to answer is "not ready", never a 500
            return f"down: {type(exc).__name__}"
        return "ok"

    async def close(self) -> None:
        """Close the Redis connection (at shutdown)."""
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()
