"""hash_tag, escape_glob and scan_prefix on a single server (the cluster side is in test_cluster.py)."""

from __future__ import annotations

import pytest
from areion_redis import RedisSettings, escape_glob, get_client, scan_prefix

pytestmark = pytest.mark.usefixtures("clients_closed")


def test_escape_glob_escapes_what_scan_would_read_as_a_pattern() -> None:
    assert escape_glob("a*b?c[d]e\\f") == "a\\*b\\?c\\[d\\]e\\\\f"
    assert escape_glob("plain:key") == "plain:key"


async def test_scan_prefix_on_one_server_matches_only_the_literal_prefix(redis_url: str) -> None:
    client = get_client(RedisSettings.from_config(redis_url, "redis"))
    wanted = {f"areion-keys:a*[1]:{i}" for i in range(25)}
    for key in [*wanted, "areion-keys:ab[1]:x", "areion-keys:a1:x"]:
        await client.set(key, "1", px=60_000)
    found = [key async for key in scan_prefix(client, escape_glob("areion-keys:a*[1]:") + "*", count=5)]
    assert {key.decode() if isinstance(key, bytes) else key for key in found} == wanted
