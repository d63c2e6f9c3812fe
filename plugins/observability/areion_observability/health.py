"""``/healthz`` (the process answers) and ``/readyz`` (it should be sent traffic).

Ready means: the app's startup finished, the server is not draining (SIGTERM, a SIGHUP
reload, ``stop()``: ``app.draining``), and every Redis the loaded plugins need in order to
serve (``plugin_redis``: caching's Redis store, realtime's Redis channels, security's Redis
rate limits when they fail closed) answers a PING within ``health.check_timeout``. A load balancer that polls
``/readyz`` stops sending requests to a worker that drains or lost its store, while
``/healthz`` stays 200 so that nobody restarts a process that is only waiting.
"""

from __future__ import annotations

import logging

from areion_redis import RedisSettings, acquire_client, check, release_client

from areion_core import HttpRequest, HttpResponse, PluginApp, create_json_response

from .settings import HealthSettings

log = logging.getLogger("areion.observability")


def plugin_redis(app: PluginApp) -> dict[str, RedisSettings]:
    """The Redis servers that the loaded plugins need in order to serve, by plugin name.

    A plugin says so through its ``settings`` object's ``readiness_redis()`` method, returning
    the RedisSettings it needs (or None): the caching plugin's Redis store, the realtime
    plugin's Redis channels, the security plugin's Redis rate limits when they fail closed.
    Plugins do not import each other; this is duck typing, documented in docs/plugins.md.
    Asked at startup, after every plugin's ``configure``.
    """
    found: dict[str, RedisSettings] = {}
    for plugin in app.pm.get_plugins():
        ask = getattr(getattr(plugin, "settings", None), "readiness_redis", None)
        settings = ask() if callable(ask) else None
        if isinstance(settings, RedisSettings):
            found[str(getattr(plugin, "name", type(plugin).__name__))] = settings
    return found


class Health:
    """The two endpoints' handlers and the readiness checks behind them."""

    def __init__(self, app: PluginApp, settings: HealthSettings) -> None:
        self.app = app
        self.settings = settings
        #: The plugins' Redis servers (``plugin_redis``), by plugin; found at startup.
        self.redis: dict[str, RedisSettings] = {}
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
        if self.redis:
            checks["redis"] = await self._redis()
        ready = all(value == "ok" for value in checks.values())
        return create_json_response({"status": "ready" if ready else "not ready", "checks": checks},
                                    200 if ready else 503, headers={"cache-control": "no-store"})

    async def _redis(self) -> str:
        # areion_redis's check: a PING (on every primary of a Cluster, through the sentinels to
        # the current primary) within the timeout, for each plugin's Redis (one check per
        # distinct server); any failure is "down", never a 500. The reason goes to the log
        # (once per change), not to the probe's public answer: it names internal hosts.
        results: dict[RedisSettings, tuple[bool, str]] = {}
        for settings in self.redis.values():
            if settings not in results:
                results[settings] = await check(settings, self.settings.check_timeout)
        ok = all(good for good, _ in results.values())
        if ok != self._redis_was_ok:
            self._redis_was_ok = ok
            detail = "; ".join(f"{name}: {results[settings][1]}" for name, settings in self.redis.items())
            log.log(logging.INFO if ok else logging.WARNING, "readiness: Redis %s", detail)
        return "ok" if ok else "down"

    def start(self) -> None:
        """This process serves now: ready once the other checks pass; hold the Redis client."""
        self.started = True
        self.redis = plugin_redis(self.app)
        for settings in self.redis.values():
            acquire_client(settings)  # areion_redis's, shared; released by close()

    async def close(self) -> None:
        """Give the Redis client back (at shutdown): the last holder's release closes it."""
        for settings in self.redis.values():
            await release_client(settings)
        self.redis = {}
