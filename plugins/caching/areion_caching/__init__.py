"""areion-caching: server-side response caching and Cache-Control for Areion."""

from .cache_control import CacheControl, CacheControlError, CacheTypes
from .hooks import CachingPlugin
from .record import CacheRecord
from .response_cache import ResponseCache, get_cache
from .rules import CacheRule, cache, etag
from .settings import CachingSettings
from .stores import CacheStore, FileSystemStore, MemoryStore, RedisStore, StoreError

__all__ = [
    "CacheControl",
    "CacheControlError",
    "CacheRecord",
    "CacheRule",
    "CacheStore",
    "CacheTypes",
    "CachingPlugin",
    "CachingSettings",
    "FileSystemStore",
    "MemoryStore",
    "RedisStore",
    "ResponseCache",
    "StoreError",
    "cache",
    "etag",
    "get_cache",
]
