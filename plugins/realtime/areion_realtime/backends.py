"""The channel backend the settings name: memory (one process) or Redis (every worker and host)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .channels import ChannelBackend, Channels, MemoryBackend

if TYPE_CHECKING:
    from areion_core import PluginApp

    from .settings import RealtimeSettings


def make_channels(settings: RealtimeSettings, app: PluginApp | None = None) -> Channels:
    """The app's ``Channels``; its backend is made on first use, in the worker process."""

    def backend() -> ChannelBackend:
        if settings.backend == "redis":
            from .redis_channels import RedisBackend  # redis is imported only when used

            return RedisBackend(settings.redis, settings.history_size, settings.key_prefix)
        return MemoryBackend(settings.history_size)

    return Channels(backend, settings.subscriber_queue, settings.on_unavailable == "drop", app)
