"""One client, one pool, per process and event loop for each distinct ``RedisSettings``.

redis-py's asyncio connections belong to the event loop that opened them: a client reused
from another loop fails in ways that look like network errors. So clients are kept per loop
(a weak map: a loop that is gone takes its clients with it) and, inside one loop, per
settings. An Areion worker serves from one loop, so in production this is one pool per
process for each Redis a deployment names, shared by every plugin that names the same one.
A forked worker is a new process and builds its own clients on first use.

redis-py is imported on the first ``get_client``, not when this module is: it costs memory
that an app which never reaches Redis should not pay.
"""

from __future__ import annotations

import asyncio
import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from .settings import RedisSettings

if TYPE_CHECKING:
    from redis.asyncio import Redis, RedisCluster

__all__ = ["acquire_client", "check", "close_clients", "get_client", "ready", "release_client"]

_C = TypeVar("_C", bound="Redis | RedisCluster")


@dataclass
class _Handle:
    """A client and what else must be closed with it (a Sentinel's own clients)."""

    client: Redis | RedisCluster
    extra: list[Redis] = field(default_factory=list)
    #: Holders that called acquire_client and not yet release_client.
    users: int = 0
    #: A cluster's first slot discovery (``ready``): None before it starts, done once it succeeded.
    discovered: asyncio.Future[None] | None = None

    async def aclose(self) -> None:
        await self.client.aclose()
        for other in self.extra:
            await other.aclose()


_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[RedisSettings, _Handle]] = (
    weakref.WeakKeyDictionary()
)


def get_client(settings: RedisSettings) -> Redis | RedisCluster:
    """The client for ``settings`` in the running event loop, made on first use.

    Call it from code running in the serving loop (a startup hook, a handler, a task): the
    same settings give the same client, so keep the settings, not the client, if in doubt.
    Sentinel settings give a client whose pool asks the sentinels for the primary on every
    new connection, so a failover is followed without a new client; Cluster settings give a
    ``RedisCluster`` that discovers the slots from ``nodes``. A plugin that holds the client
    from startup to shutdown uses ``acquire_client``/``release_client`` instead.
    """
    return _handle(settings).client


def acquire_client(settings: RedisSettings) -> Redis | RedisCluster:
    """``get_client``, counted: the client stays open until every holder has released it.

    For a plugin's startup hook; its shutdown hook calls ``release_client``. Two plugins
    pointed at the same Redis share one client, and the first to shut down does not close
    it under the other.
    """
    handle = _handle(settings)
    handle.users += 1
    return handle.client


async def release_client(settings: RedisSettings) -> None:
    """Give back an ``acquire_client``: the last holder's release closes the client.

    Releasing what was not acquired (or was closed by ``close_clients``) does nothing.
    """
    per_loop = _clients.get(asyncio.get_running_loop(), {})
    handle = per_loop.get(settings)
    if handle is None or handle.users <= 0:
        return
    handle.users -= 1
    if handle.users == 0:
        del per_loop[settings]
        await handle.aclose()


async def ready(client: _C) -> _C:
    """``client``, once it can take commands: a cluster's slots discovered once, whoever asks first.

    redis-py (8.1) makes an asyncio ``RedisCluster`` discover its slots on its first command,
    and many first commands at once (the first burst of requests) each start a discovery that
    replaces the nodes under the others' connections ("Connection closed", a cascade of
    reconnections). Awaiting ``ready`` before a command makes the first caller discover and the
    others wait for it; afterwards it returns at once. A failed discovery raises (redis-py's
    error) to the caller and to those waiting, and the next call tries again. A standalone or
    Sentinel client is returned as it is. For a client from ``get_client``/``acquire_client``;
    another cluster client is simply initialised.
    """
    from redis.asyncio import RedisCluster

    if not isinstance(client, RedisCluster):
        return client
    handle = next((h for h in _clients.get(asyncio.get_running_loop(), {}).values() if h.client is client), None)
    if handle is None:
        await client.initialize()
        return client
    discovered = handle.discovered
    if discovered is None:
        discovered = handle.discovered = asyncio.get_running_loop().create_future()
        try:
            await client.initialize()
        except BaseException as exc:
            handle.discovered = None
            discovered.set_exception(exc)
            discovered.exception()  # retrieved: nobody need be waiting for it
            raise
        discovered.set_result(None)
    elif not discovered.done():
        await asyncio.shield(discovered)
    return client


def _handle(settings: RedisSettings) -> _Handle:
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        raise RuntimeError(
            "areion_redis needs a running event loop for a client: call it in a startup hook or a handler"
        ) from None
    per_loop = _clients.get(loop)
    if per_loop is None:
        per_loop = _clients[loop] = {}
    handle = per_loop.get(settings)
    if handle is None:
        handle = per_loop[settings] = _connect(settings)
    return handle


async def close_clients() -> None:
    """Close every client of the running loop, acquired or not (the end of a process or a test).

    Clients of other loops are left alone: they cannot be closed from this loop, and they
    are forgotten when their loop is. Closing twice is harmless, and ``get_client``
    afterwards makes a new client.
    """
    per_loop = _clients.pop(asyncio.get_running_loop(), {})
    for handle in per_loop.values():
        await handle.aclose()


async def check(settings: RedisSettings, timeout: float | None = None) -> tuple[bool, str]:
    """PING the Redis of ``settings``: ``(True, description)`` or ``(False, why)``, for ``/readyz``.

    Bounded by ``timeout`` (default: connect plus socket timeout), retries included, so a
    readiness probe never hangs on a dead server. A cluster answers only when every primary
    answers.
    """
    from redis.exceptions import RedisClusterException, RedisError

    limit = timeout if timeout is not None else settings.connect_timeout + settings.socket_timeout
    where = settings.describe()
    try:
        client = get_client(settings)
        async with asyncio.timeout(limit):
            if settings.mode == "cluster":
                from redis.asyncio import RedisCluster

                assert isinstance(client, RedisCluster)
                answers = await client.ping(target_nodes=RedisCluster.PRIMARIES)
            else:
                answers = await client.ping()
    except TimeoutError:
        return False, f"{where}: no answer within {limit:g} s"
    except (RedisError, RedisClusterException, OSError) as exc:  # a cluster's is no RedisError
        return False, f"{where}: {type(exc).__name__}: {_shorten(str(exc))}"
    if answers is not True:
        return False, f"{where}: PING answered {answers!r}"
    return True, f"{where}: ok"


def _shorten(text: str, limit: int = 240) -> str:
    # Some redis-py errors carry the repr of a whole client (MasterNotFoundError): too long for a probe.
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _connect(settings: RedisSettings) -> _Handle:
    if settings.mode == "sentinel":
        return _sentinel(settings)
    if settings.mode == "cluster":
        return _cluster(settings)
    return _standalone(settings)


def _retry(settings: RedisSettings) -> Any:
    from redis.asyncio.retry import Retry
    from redis.backoff import ExponentialWithJitterBackoff
    from redis.exceptions import ConnectionError, TimeoutError

    # Jitter keeps every worker of every host from reconnecting in step after a failover.
    backoff = ExponentialWithJitterBackoff(cap=settings.backoff_cap, base=settings.backoff_base)
    errors = (ConnectionError, TimeoutError) if settings.retry_on_timeout else (ConnectionError,)
    return Retry(backoff, settings.retries, supported_errors=errors)


def _tls_kwargs(settings: RedisSettings) -> dict[str, Any]:
    if not settings.tls:
        return {}
    return {
        "ssl_ca_certs": settings.tls_ca_file,
        "ssl_certfile": settings.tls_cert_file,
        "ssl_keyfile": settings.tls_key_file,
        "ssl_cert_reqs": "required" if settings.tls_verify else "none",
        "ssl_check_hostname": settings.tls_verify,
    }


def _common_kwargs(settings: RedisSettings) -> dict[str, Any]:
    return {
        "username": settings.username,
        "password": settings.password,
        "socket_timeout": settings.socket_timeout,
        "socket_connect_timeout": settings.connect_timeout,
        "health_check_interval": settings.health_check_interval,
        "retry": _retry(settings),
        "protocol": settings.protocol,
    }


def _standalone(settings: RedisSettings) -> _Handle:
    import redis.asyncio as aioredis

    kwargs = _common_kwargs(settings)
    if settings.path is not None:
        kwargs.update(connection_class=aioredis.UnixDomainSocketConnection, path=settings.path)
    else:
        kwargs.update(host=settings.host, port=settings.port)
        if settings.tls:
            kwargs.update(connection_class=aioredis.SSLConnection, **_tls_kwargs(settings))
    # A blocking pool makes a burst wait (up to the socket timeout) for a free connection
    # rather than fail at once with "too many connections".
    pool = aioredis.BlockingConnectionPool(
        db=settings.db, max_connections=settings.max_connections, timeout=settings.socket_timeout, **kwargs
    )
    return _Handle(aioredis.Redis.from_pool(pool))


def _sentinel(settings: RedisSettings) -> _Handle:
    from redis.asyncio.sentinel import Sentinel

    sentinel_kwargs: dict[str, Any] = {
        "username": settings.sentinel_username,
        "password": settings.sentinel_password,
        "socket_timeout": settings.socket_timeout,
        "socket_connect_timeout": settings.connect_timeout,
        # Without it redis-py's default retry (backoff up to seconds) would run inside each
        # question to a sentinel, inside the retry of the command that asked.
        "retry": _retry(settings),
    }
    if settings.tls:
        sentinel_kwargs.update(ssl=True, **_tls_kwargs(settings))
    sentinel = Sentinel(list(settings.sentinels), sentinel_kwargs=sentinel_kwargs)  # type: ignore[no-untyped-call, unused-ignore]  # typed from redis-py 8.2
    kwargs = _common_kwargs(settings)
    if settings.tls:
        kwargs.update(ssl=True, **_tls_kwargs(settings))
    client = sentinel.master_for(settings.service, db=settings.db, max_connections=settings.max_connections, **kwargs)
    return _Handle(client, list(sentinel.sentinels))


def _cluster(settings: RedisSettings) -> _Handle:
    from redis.asyncio.cluster import ClusterNode, RedisCluster

    kwargs = _common_kwargs(settings)
    if settings.tls:
        kwargs.update(ssl=True, **_tls_kwargs(settings))
    client = RedisCluster(
        startup_nodes=[ClusterNode(host, port) for host, port in settings.nodes],
        max_connections=settings.max_connections, **kwargs,
    )
    return _Handle(client)
