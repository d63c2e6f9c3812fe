"""Cache stores: one async interface, three implementations."""

from .base import CacheStore, StoreError
from .filesystem import FileSystemStore
from .memory import MemoryStore
from .redis_store import RedisStore

__all__ = [
    "CacheStore",
    "FileSystemStore",
    "MemoryStore",
    "RedisStore",
    "StoreError",
]
