"""Areion's one Redis connection layer: standalone, Sentinel and Cluster, shared by the plugins."""

from .client import acquire_client, check, close_clients, get_client, ready, release_client
from .keys import escape_glob, hash_tag, scan_prefix
from .settings import RedisSettings

__all__ = [
    "RedisSettings",
    "acquire_client",
    "check",
    "close_clients",
    "escape_glob",
    "get_client",
    "hash_tag",
    "ready",
    "release_client",
    "scan_prefix",
]
