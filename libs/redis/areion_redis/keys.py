"""Keys that work the same on one server and on a Cluster.

A Redis Cluster spreads keys over 16384 hash slots; a command, a script or a MULTI that
touches several keys must keep them in one slot, or the cluster refuses it (CROSSSLOT). The
hash slot of a key with ``{...}`` in it is the hash of what the braces hold, so prefixing
the keys of one operation with the same ``hash_tag`` keeps them together. And ``KEYS`` (or
one ``SCAN``) sees one node only: ``scan_prefix`` walks every primary.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from .client import ready

if TYPE_CHECKING:
    from redis.asyncio import Redis, RedisCluster

__all__ = ["escape_glob", "hash_tag", "scan_prefix"]

_GLOB_SPECIAL = re.compile(r"([*?\[\]\\])")


def hash_tag(namespace: str) -> str:
    """``{namespace}``: put it at the start of every key of one operation to keep them in one slot.

    Refuses braces in ``namespace`` (the tag would end at the first ``}``) and an empty one
    (``{}`` is no tag: the whole key would be hashed).
    """
    if not namespace or "{" in namespace or "}" in namespace:
        raise ValueError(f"a hash tag needs a non-empty namespace without braces, not {namespace!r}")
    return "{" + namespace + "}"


def escape_glob(text: str) -> str:
    """``text`` with SCAN's glob characters escaped, so it matches only itself in a ``match``."""
    return _GLOB_SPECIAL.sub(r"\\\1", text)


async def scan_prefix(client: Redis | RedisCluster, match: str, count: int = 500) -> AsyncIterator[bytes | str]:
    """Every key matching the glob ``match``, by ``SCAN`` (never ``KEYS``), on every primary of a cluster.

    ``count`` is SCAN's hint of keys per round trip. A key may come twice when it moved slot
    during the walk (SCAN's own guarantee), so deleting what this yields is safe, counting
    it is approximate.
    """
    from redis.asyncio import RedisCluster

    if isinstance(client, RedisCluster):
        # Before its first command the client knows no nodes: discover them first (once).
        await ready(client)
        for node in client.get_primaries():
            async for key in client.scan_iter(match=match, count=count, target_nodes=node):
                yield key
    else:
        async for key in client.scan_iter(match=match, count=count):
            yield key
