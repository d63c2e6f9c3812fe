"""rediss:// against a real TLS-only redis-server: the CA is checked, a client certificate is sent."""

from __future__ import annotations

import pytest
from areion_redis import RedisSettings, check, get_client

from tests._redis import RedisTlsServer

pytestmark = pytest.mark.usefixtures("clients_closed")

FAST = {"socket_timeout": 1, "connect_timeout": 1, "retries": 0}


async def test_server_verified_against_the_configured_ca() -> None:
    with RedisTlsServer() as server:
        settings = RedisSettings.from_config({"url": server.url, "tls_ca_file": server.ca_file, **FAST}, "redis")
        client = get_client(settings)
        await client.set("areion-tls:x", "over tls")
        assert await client.get("areion-tls:x") == b"over tls"
        # Without the CA the certificate is refused: verification is really on by default.
        ok, why = await check(RedisSettings.from_config({"url": server.url, **FAST}, "redis"))
        assert not ok and "CERTIFICATE_VERIFY_FAILED" in why
        # tls_verify = false is the explicit way round it.
        unverified = RedisSettings.from_config({"url": server.url, "tls_verify": False, **FAST}, "redis")
        assert (await check(unverified))[0]


async def test_client_certificate_for_mutual_tls() -> None:
    with RedisTlsServer(client_certs=True) as server:
        settings = RedisSettings.from_config({
            "url": server.url, "tls_ca_file": server.ca_file, "tls_cert_file": server.client_cert_file,
            "tls_key_file": server.client_key_file, **FAST}, "redis")
        assert await check(settings) == (True, f"{server.url}: ok")
        without = RedisSettings.from_config({"url": server.url, "tls_ca_file": server.ca_file, **FAST}, "redis")
        assert not (await check(without))[0]
