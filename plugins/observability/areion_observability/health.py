"""``/healthz`` (the process answers) and ``/readyz`` (it should be sent traffic).

Ready means: the app's startup finished, the server is not draining (SIGTERM, a SIGHUP
reload, ``stop()``: ``app.draining``), and, when the caching plugin keeps its entries in
Redis, that Redis answers a PING within ``health.check_timeout``. A load balancer that polls
``/readyz`` stops sending requests to a worker that drains or lost its store, while
``/healthz`` stays 200 so that nobody restarts a process that is only waiting.
"""

from __future__ import annotations

import logging

from areion_redis import RedisSettings, acquire_client, check, release_client

from areion_core import HttpRequest, HttpResponse, PluginApp, create_json_response
from areion_core.plugin_api import SettingsReader

from .settings import HealthSettings

_SECTION = "plugins.caching"
log = logging.getLogger("areion.observability")


def caching_redis(app: PluginApp) -> RedisSettings | None:
    """Where the caching plugin keeps its entries, when that plugin is loaded and uses Redis:
    its ``redis`` value (a URL or a table: standalone, Sentinel, Cluster) or its ``url`` alias.

    Read from the caching plugin's configuration (``[plugins.caching]``), not from the plugin:
    plugins do not import each other.
    """
    if app.get_plugin("caching") is None:
        return None
    section = app.config.section("caching")
    read = SettingsReader(_SECTION, section)
    if read.value("store") != "redis":
        return None
    key = "redis" if "redis" in read else "url"
    return RedisSettings.from_config(read.value(key), f"{_SECTION}.{key}")


class Health:
    """The two endpoints' handlers and the readiness checks behind them."""

    def __init__(self, app: PluginApp, settings: HealthSettings, redis: RedisSettings | None) -> None:
        self.app = app
        self.settings = settings
        self.redis = redis
        #: Set by the plugin's startup hook, once this process serves.
        self.started = False
        self._redis_was_ok = True

    async def liveness(self, request: HttpRequest) -> HttpResponse:
        """200 while the process answers at all."""
        return create_json_response({"status": "ok"})

    async def readiness(self, request: HttpRequest) -> HttpResponse:
        """200 with every check "ok", else 503 naming the checks that failed."""
        checks: dict[str, str] = {
            "startup": "ok" if self.started else "starting",
            "draining": "draining" if self.app.draining else "ok",
        }
        if self.redis is not None:
            checks["redis"] = await self._redis(self.redis)
        ready = all(value == "ok" for value in checks.values())
        return create_json_response({"status": "ready" if ready else "not ready", "checks": checks},
                                    200 if ready else 503, headers={"cache-control": "no-store"})

    async def _redis(self, settings: RedisSettings) -> str:
        # areion_redis's check: a PING (on every primary of a Cluster, through the sentinels to
        # the current primary) within the timeout; any failure is "not ready", never a 500.
        # The reason goes to the log (once per change), not to the probe's public answer: it
        # names internal hosts.
        ok, detail = await check(settings, self.settings.check_timeout)
        if ok != self._redis_was_ok:
            self._redis_was_ok = ok
            log.log(logging.INFO if ok else logging.WARNING, "readiness: Redis %s", detail)
        return "ok" if ok else "down"

    def start(self) -> None:
        """This process serves now: ready once the other checks pass; hold the Redis client."""
        self.started = True
        if self.redis is not None:
            acquire_client(self.redis)  # areion_redis's, shared; released by close()

    async def close(self) -> None:
        """Give the Redis client back (at shutdown): the last holder's release closes it."""
        if self.redis is not None:
            await release_client(self.redis)
