"""get_client, check and close_clients against real private redis-servers (TCP, ACL user, unix socket)."""

from __future__ import annotations

import asyncio
import dataclasses
import signal
import time
from pathlib import Path

import pytest
import redis
import redis.asyncio as aioredis
from areion_redis import RedisSettings, acquire_client, check, close_clients, get_client, release_client
from redis.exceptions import AuthenticationError, NoPermissionError, TimeoutError

from tests._redis import RedisServer

pytestmark = pytest.mark.usefixtures("clients_closed")

FAST = {"socket_timeout": 0.5, "connect_timeout": 0.5, "retries": 1, "backoff_base": 0.01, "backoff_cap": 0.05}


def settings_for(url: str, **options: object) -> RedisSettings:
    return RedisSettings.from_config({"url": url, **FAST, **options}, "redis")


async def test_standalone_round_trip_shares_one_client(redis_url: str) -> None:
    settings = settings_for(redis_url)
    client = get_client(settings)
    assert isinstance(client, aioredis.Redis)
    await client.set("areion-redis:greeting", "hello", px=5000)
    # The same settings, read again from config, are the same client and pool.
    again = get_client(settings_for(redis_url))
    assert again is client
    assert await again.get("areion-redis:greeting") == b"hello"
    with redis.Redis.from_url(redis_url) as direct:  # what Redis holds, seen by another client
        assert direct.get("areion-redis:greeting") == b"hello"
        assert 0 < direct.pttl("areion-redis:greeting") <= 5000


@pytest.mark.parametrize("protocol", [2, 3])
async def test_the_resp_protocol_is_used(redis_url: str, protocol: int) -> None:
    client = get_client(settings_for(redis_url, protocol=protocol))
    await client.set("areion-redis:resp", "1", px=5000)
    assert int((await client.client_info())["resp"]) == protocol


async def test_the_database_number_is_used(redis_server: RedisServer) -> None:
    client = get_client(settings_for(f"redis://127.0.0.1:{redis_server.port}/3"))
    await client.set("areion-redis:db", "three")
    with redis.Redis(port=redis_server.port, db=3) as db3, redis.Redis(port=redis_server.port, db=0) as db0:
        assert db3.get("areion-redis:db") == b"three"
        assert db0.get("areion-redis:db") is None
        db3.delete("areion-redis:db")


async def test_options_reach_the_connection_pool(redis_url: str) -> None:
    settings = settings_for(redis_url, retries=4, max_connections=3, health_check_interval=15)
    pool = get_client(settings).connection_pool
    assert isinstance(pool, aioredis.BlockingConnectionPool)
    assert pool.max_connections == 3
    kwargs = pool.connection_kwargs
    assert kwargs["retry"].get_retries() == 4
    assert (kwargs["socket_timeout"], kwargs["socket_connect_timeout"], kwargs["health_check_interval"]) == (
        0.5, 0.5, 15.0)


async def test_a_timeout_is_retried_unless_retry_on_timeout_is_off(own_redis: RedisServer) -> None:
    patient = settings_for(own_redis.url, socket_timeout=0.2, retries=2, backoff_base=0.01, backoff_cap=0.01)
    hasty = dataclasses.replace(patient, retry_on_timeout=False)
    for settings in (patient, hasty):
        await get_client(settings).ping()  # connected before the server stops answering
    assert own_redis.proc is not None
    own_redis.proc.send_signal(signal.SIGSTOP)  # the kernel still accepts connections; nobody answers
    try:
        took = {}
        for name, settings in (("hasty", hasty), ("patient", patient)):
            started = time.monotonic()
            with pytest.raises(TimeoutError):
                await get_client(settings).get("areion-redis:slow")
            took[name] = time.monotonic() - started
    finally:
        own_redis.proc.send_signal(signal.SIGCONT)
    assert took["hasty"] < 0.45, took  # one socket_timeout
    assert took["patient"] >= 0.55, took  # three: the first try and two retries


async def test_tls_options_reach_the_connection_pool(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("")
    settings = RedisSettings.from_config({"url": "rediss://cache.internal:6380/0", "tls_ca_file": str(ca)}, "redis")
    pool = get_client(settings).connection_pool
    assert pool.connection_class is aioredis.SSLConnection
    assert (pool.connection_kwargs["ssl_ca_certs"], pool.connection_kwargs["ssl_cert_reqs"]) == (str(ca), "required")
    unverified = get_client(dataclasses.replace(settings, tls_verify=False)).connection_pool.connection_kwargs
    assert (unverified["ssl_cert_reqs"], unverified["ssl_check_hostname"]) == ("none", False)


async def test_acl_user_and_password(own_redis: RedisServer) -> None:
    with redis.Redis(port=own_redis.port) as admin:
        admin.acl_setuser("areion-app", enabled=True, passwords=["+s3cret"], keys=["app:*"],
                          commands=["+@all"])
    port = own_redis.port
    client = get_client(settings_for(f"redis://areion-app:s3cret@127.0.0.1:{port}/0"))
    await client.set("app:x", "1")
    assert await client.acl_whoami() in ("areion-app", b"areion-app")
    with pytest.raises(NoPermissionError):
        await client.set("other:x", "1")  # the ACL user's key pattern is enforced: we are that user
    # The password may also come beside the URL (from ${VAR}, typically).
    beside = RedisSettings.from_config(
        {"url": f"redis://127.0.0.1:{port}/0", "username": "areion-app", "password": "s3cret", **FAST}, "redis")
    assert await get_client(beside).get("app:x") == b"1"
    wrong = settings_for(f"redis://areion-app:wrong@127.0.0.1:{port}/0")
    with pytest.raises(AuthenticationError):
        await get_client(wrong).ping()
    ok, why = await check(wrong)
    assert not ok and "AuthenticationError" in why and "wrong" not in why


async def test_unix_socket(tmp_path: Path) -> None:
    socket_path = tmp_path / "redis.sock"
    with RedisServer(extra_args=["--unixsocket", str(socket_path), "--unixsocketperm", "700"]):
        client = get_client(settings_for(f"unix://{socket_path}?db=2"))
        await client.set("areion-redis:unix", "yes")
        assert await client.get("areion-redis:unix") == b"yes"
        info = await client.client_info()
        assert info["db"] == 2
        assert client.connection_pool.connection_class is aioredis.UnixDomainSocketConnection


async def test_check_is_true_while_up_and_false_soon_after_a_stop(own_redis: RedisServer) -> None:
    settings = settings_for(own_redis.url)
    assert await check(settings) == (True, f"redis://127.0.0.1:{own_redis.port}/0: ok")
    own_redis.stop()
    started = time.monotonic()
    ok, why = await check(settings)
    assert not ok
    assert why.startswith(f"redis://127.0.0.1:{own_redis.port}/0: ")
    assert time.monotonic() - started < settings.connect_timeout + settings.socket_timeout + 0.5
    own_redis.start()
    assert (await check(settings))[0]  # the same client recovers once the server is back


def test_one_client_per_event_loop(redis_url: str) -> None:
    settings = settings_for(redis_url)

    async def clients() -> tuple[object, object, object]:
        first, same = get_client(settings), get_client(settings)
        other_db = get_client(dataclasses.replace(settings, db=1))
        await first.ping()
        await close_clients()
        return first, same, other_db

    async def after_close() -> tuple[object, object]:
        before = get_client(settings)
        await close_clients()
        after = get_client(settings)
        await close_clients()
        return before, after

    loop_one, loop_two = asyncio.run(clients()), asyncio.run(clients())
    assert loop_one[0] is loop_one[1] and loop_one[0] is not loop_one[2]
    assert loop_one[0] is not loop_two[0]  # a client never crosses into another loop
    before, after = asyncio.run(after_close())
    assert before is not after


def test_get_client_needs_a_running_loop() -> None:
    with pytest.raises(RuntimeError, match="running event loop"):
        get_client(RedisSettings())
    with pytest.raises(RuntimeError, match="running event loop"):
        acquire_client(RedisSettings())


async def test_a_shared_client_stays_open_until_its_last_holder_releases_it(redis_url: str) -> None:
    settings = settings_for(redis_url)
    cache, scheduler = acquire_client(settings), acquire_client(settings)  # two plugins, one Redis
    assert cache is scheduler
    await release_client(settings)  # the first to shut down
    await scheduler.set("areion-redis:still-open", "1", px=5000)  # still usable by the other
    assert get_client(settings) is scheduler
    await release_client(settings)  # the last: closed and forgotten
    assert get_client(settings) is not scheduler
    await release_client(settings)  # more releases than acquires: nothing happens
    with redis.Redis.from_url(redis_url) as direct:
        assert direct.get("areion-redis:still-open") == b"1"


@pytest.mark.parametrize("form", ["redis://127.0.0.1:{port}/0", "unix:///nonexistent/areion-redis.sock",
                                  "redis+sentinel://127.0.0.1:{port}/mymaster", "redis+cluster://127.0.0.1:{port}"])
async def test_check_is_false_and_quick_when_nothing_answers(form: str, unused_port: int) -> None:
    settings = settings_for(form.format(port=unused_port))
    started = time.monotonic()
    ok, why = await check(settings)
    assert not ok
    assert why.startswith(settings.describe() + ": ") and len(why) < 400
    assert time.monotonic() - started < settings.connect_timeout + settings.socket_timeout + 0.5


def test_closing_one_loops_clients_leaves_another_loops_alone(redis_url: str) -> None:
    settings = settings_for(redis_url)

    async def use() -> object:
        client = get_client(settings)
        await client.ping()
        return client

    other = asyncio.new_event_loop()
    try:
        kept = other.run_until_complete(use())
        asyncio.run(close_clients())  # a shutdown in another loop
        assert other.run_until_complete(use()) is kept  # still this loop's one client, still working
        other.run_until_complete(close_clients())
        assert other.run_until_complete(use()) is not kept
        other.run_until_complete(close_clients())
    finally:
        other.close()
