"""Redis channels on a real Redis Cluster (3 primaries, 3 replicas) and a Sentinel setup.

Two ``Channels`` with different settings have two clients and two pools, as two processes
would; a third pair runs in two live servers (their own threads and event loops). A primary
killed mid-broadcast: every publish that returned an id reaches every subscriber once, in
order; a publish that raised ``ChannelUnavailable`` is not delivered, except possibly the one
in flight at the instant the primary died (Redis ran it; its reply was lost with the
connection), which then comes once, in its place.
"""

from __future__ import annotations

import asyncio
import threading
import time
import tomllib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from areion_realtime import ChannelMessage, Channels, ChannelUnavailable, RealtimeSettings, make_channels
from areion_realtime.channels import id_key
from areion_redis import RedisSettings, close_clients, get_client
from websockets.sync.client import connect

from areion_core import ConfigError
from areion_core.testing import LiveServer
from tests._redis import RedisCluster, RedisSentinel, _command
from tests.integration._showcase_processes import ShowcaseProcess

from ._realtime_app import live_ws
from .test_realtime_sse import read_events

__all__ = ["live_ws"]


def channels_on(redis: object, **extra: object) -> Channels:
    return make_channels(RealtimeSettings.from_section({"backend": "redis", "redis": redis, **extra}))


@pytest.fixture
async def pair() -> AsyncIterator[Callable[[object, object], Any]]:
    """``await pair(redis_a, redis_b)``: two started Channels, closed (with every client) after the test."""
    made: list[Channels] = []

    async def start(a: object, b: object) -> tuple[Channels, Channels]:
        for redis in (a, b):
            channels = channels_on(redis)
            made.append(channels)
            await channels.start()
            await asyncio.wait_for(channels.backend.listening.wait(), 10)  # type: ignore[attr-defined]
        return made[-2], made[-1]

    yield start
    for channels in made:
        await channels.close()
    await close_clients()


async def next_message(messages: AsyncIterator[ChannelMessage], timeout: float = 10.0) -> ChannelMessage:
    return await asyncio.wait_for(messages.__anext__(), timeout)


def stream_key(channel: str) -> str:
    """The documented key of a channel's history: a hash tag per channel."""
    return f"areion:channel:{{{channel}}}"


# --- settings -------------------------------------------------------------------------------------
def test_the_redis_key_takes_every_form_and_url_stays_an_alias() -> None:
    cluster = RealtimeSettings.from_section({"redis": "redis+cluster://127.0.0.1:7000,127.0.0.1:7001"})
    assert (cluster.redis.mode, cluster.redis.nodes) == ("cluster", (("127.0.0.1", 7000), ("127.0.0.1", 7001)))
    table = RealtimeSettings.from_section({"redis": {"mode": "sentinel", "sentinels": ["s1:26379", "s2"],
                                                     "service": "main", "socket_timeout": 0.5}})
    assert (table.redis.mode, table.redis.service, table.redis.sentinels) == (
        "sentinel", "main", (("s1", 26379), ("s2", 26379)))
    assert table.redis.socket_timeout == 0.5
    alias = RealtimeSettings.from_section({"url": "redis+sentinel://s1:26379/main/2"})
    assert (alias.redis.mode, alias.redis.db) == ("sentinel", 2)
    assert RealtimeSettings().redis == RedisSettings.from_url("redis://127.0.0.1:6379/0")


def test_bad_redis_settings_name_the_key() -> None:
    with pytest.raises(ConfigError, match=r"plugins\.realtime\.url"):
        RealtimeSettings.from_section({"redis": "redis://a:6379/0", "url": "redis://b:6379/0"})
    with pytest.raises(ConfigError, match=r"plugins\.realtime\.redis\.nodes"):
        RealtimeSettings.from_section({"redis": {"mode": "cluster"}})
    with pytest.raises(ConfigError, match=r"plugins\.realtime\.redis"):
        RealtimeSettings.from_section({"redis": "http://x"})


def test_the_readme_redis_forms_are_accepted() -> None:
    text = (Path(__file__).parents[3] / "plugins" / "realtime" / "README.md").read_text(encoding="utf-8")
    block = text.split("### Redis: standalone, Sentinel, Cluster", 1)[1].split("```toml\n", 1)[1].split("```", 1)[0]
    lines = [line.removeprefix("# ") for line in block.splitlines()]
    one_line = [line for line in lines if line.startswith("redis = ")]
    modes = {RealtimeSettings.from_section(tomllib.loads(line)).redis.mode for line in one_line}
    assert modes == {"standalone", "sentinel", "cluster"}
    table = tomllib.loads("\n".join(lines[lines.index("[plugins.realtime.redis]"):]))
    settings = RealtimeSettings.from_section(table["plugins"]["realtime"])
    assert (settings.redis.mode, settings.redis.service, settings.redis.socket_timeout) == ("sentinel", "mymaster", 0.5)


# --- Cluster --------------------------------------------------------------------------------------
async def test_cluster_every_message_reaches_every_subscriber(redis_cluster: RedisCluster, pair: Any) -> None:
    a, b = await pair(redis_cluster.url, {"url": redis_cluster.url, "max_connections": 16})
    client = get_client(a.backend.settings)
    names = [f"room-{i}" for i in range(12)]
    assert len({client.get_node_from_key(stream_key(n)).port for n in names}) == 3  # every primary holds some
    subscriptions = [[a.subscribe(n), b.subscribe(n)] for n in names]
    for pair_of in subscriptions:
        for subscription in pair_of:
            await subscription.start()
    try:
        sent: dict[str, list[tuple[str | None, str]]] = {n: [] for n in names}
        for i in range(3):
            for n, publisher in zip(names, [a, b] * 6, strict=True):
                text = f"{n}:{i}"
                sent[n].append((await publisher.publish(n, text), text))
        for n, pair_of in zip(names, subscriptions, strict=True):
            for subscription in pair_of:
                got = [await next_message(subscription) for _ in range(3)]
                assert [(m.id, m.data) for m in got] == sent[n]
            # The history is one stream per channel, in that channel's slot.
            stored = await client.xrange(stream_key(n))
            assert [entry_id.decode() for entry_id, _ in stored] == [i for i, _ in sent[n]]
    finally:
        for pair_of in subscriptions:
            for subscription in pair_of:
                subscription.close()


def test_cluster_sse_resumes_from_the_history_on_another_server(
        redis_cluster: RedisCluster, live_ws: Callable[..., LiveServer]) -> None:
    one = live_ws(backend="redis", redis=redis_cluster.url)
    other = live_ws(backend="redis", redis={"url": redis_cluster.url, "max_connections": 16})
    ids = [httpx.post(f"{one.url}/publish/cluster-news", content=f"n{i}").json()["id"] for i in range(4)]
    with httpx.stream("GET", f"{other.url}/events/cluster-news", headers={"Last-Event-ID": ids[1]},
                      timeout=10) as response:
        assert response.status_code == 200
        later = threading.Timer(0.3, lambda: httpx.post(f"{one.url}/publish/cluster-news", content="live"))
        later.start()
        blocks = list(read_events(response, 4))
        later.join()
    assert blocks[1:3] == [f"id: {ids[2]}\ndata: n2", f"id: {ids[3]}\ndata: n3"]
    assert blocks[3].endswith("\ndata: live")


@pytest.mark.slow
def test_showcase_rooms_across_two_processes_on_the_cluster(redis_cluster: RedisCluster, tmp_path: Path) -> None:
    """Two `areion run` processes of the showcase, channels on the Cluster: a room's members on
    either process see every message, and an event stream on one resumes what the other published."""
    env = {"SHOWCASE_CHANNELS": "redis", "SHOWCASE_REDIS_URL": redis_cluster.url}
    a = ShowcaseProcess(tmp_path / "a.log", env)
    try:
        b = ShowcaseProcess(tmp_path / "b.log", env)
        try:
            with connect(a.ws_url + "/ws/rooms/spread") as on_a, connect(b.ws_url + "/ws/rooms/spread") as on_b:
                on_b.send("from b")
                assert on_a.recv(10) == on_b.recv(10) == "from b"
                on_a.send("from a")
                assert on_a.recv(10) == on_b.recv(10) == "from a"
                posted = httpx.post(b.url + "/rooms/spread/messages", content="posted on b").json()
                assert on_a.recv(10) == on_b.recv(10) == "posted on b"
            with httpx.stream("GET", a.url + "/events/rooms/spread", headers={"Last-Event-ID": "0-0"},
                              timeout=10) as events:
                blocks = list(read_events(events, 4))
            assert [block.split("\ndata: ", 1)[1] for block in blocks[1:]] == ["from b", "from a", "posted on b"]
            assert blocks[3] == f"id: {posted['id']}\ndata: posted on b"
        finally:
            b.stop()
    finally:
        a.stop()


class Broadcast:
    """Publishes numbered messages, noting which were acknowledged (an id) and which raised."""

    def __init__(self, channels: Channels, channel: str) -> None:
        self.channels, self.channel = channels, channel
        self.acked: list[tuple[str, str]] = []
        self.failed: list[str] = []

    async def send(self, text: str) -> None:
        try:
            message_id = await self.channels.publish(self.channel, text)
        except ChannelUnavailable:
            self.failed.append(text)
        else:
            assert message_id is not None
            self.acked.append((message_id, text))

    async def during(self, outage: asyncio.Future[Any]) -> None:
        n = 0
        while not outage.done():
            await self.send(f"during {n}")
            n += 1
            await asyncio.sleep(0.02)


async def expect_exactly(subscription: AsyncIterator[ChannelMessage], broadcast: Broadcast) -> None:
    """Every acknowledged message once, in order; of the publishes that raised, at most the one
    in flight at the instant the primary died (Redis ran it, the reply was lost); nothing else."""
    last = broadcast.acked[-1][0]
    got: list[tuple[str, str]] = []
    while not got or got[-1][0] != last:
        message = await next_message(subscription, 20)
        got.append((message.id, message.data))
    with pytest.raises(TimeoutError):
        await next_message(subscription, 0.5)
    acked = {message_id for message_id, _ in broadcast.acked}
    assert [m for m in got if m[0] in acked] == broadcast.acked
    assert [text for message_id, text in got if message_id not in acked] in ([], broadcast.failed[:1])
    assert [id_key(message_id) for message_id, _ in got] == sorted(id_key(message_id) for message_id, _ in got)


@pytest.mark.slow
async def test_cluster_primary_killed_mid_broadcast(redis_cluster: RedisCluster, pair: Any) -> None:
    a, b = await pair(redis_cluster.url, {"url": redis_cluster.url, "max_connections": 16})
    listening_on = a.backend.node
    victim = int(listening_on.rsplit(":", 1)[1])
    assert redis_cluster.roles()[victim] is None  # the listener is on a primary
    client = get_client(a.backend.settings)
    # A channel whose history lives on that primary: its stream and a's pub/sub both go down.
    channel = next(n for n in (f"failover-{i}" for i in range(1000))
                   if client.get_node_from_key(stream_key(n)).port == victim)
    async with a.subscribe(channel) as on_a, b.subscribe(channel) as on_b:
        broadcast = Broadcast(b, channel)
        for i in range(5):
            await broadcast.send(f"before {i}")
        outage = asyncio.ensure_future(asyncio.to_thread(redis_cluster.failover_by_killing_primary, victim))
        await broadcast.during(outage)
        await outage
        for i in range(5):
            await broadcast.send(f"after {i}")
        assert broadcast.failed, "publishing to the killed primary's slot should have failed for a while"
        assert [text for _, text in broadcast.acked[-5:]] == [f"after {i}" for i in range(5)]
        for subscription in (on_a, on_b):
            await expect_exactly(subscription, broadcast)
    assert a.backend.listening.is_set() and a.backend.node != listening_on  # it moved to another node


# --- Sentinel -------------------------------------------------------------------------------------
async def test_sentinel_every_message_reaches_every_subscriber(redis_sentinel: RedisSentinel, pair: Any) -> None:
    table = {"mode": "sentinel", "sentinels": redis_sentinel.sentinels, "service": redis_sentinel.service}
    a, b = await pair(redis_sentinel.url, table)
    async with a.subscribe("lobby") as on_a, b.subscribe("lobby") as on_b:
        sent = [(await publisher.publish("lobby", f"m{i}"), f"m{i}") for i, publisher in enumerate([a, b, a, b])]
        for subscription in (on_a, on_b):
            got = [await next_message(subscription) for _ in sent]
            assert [(m.id, m.data) for m in got] == sent


@pytest.mark.slow
async def test_sentinel_failover_mid_broadcast(redis_sentinel: RedisSentinel, pair: Any) -> None:
    a, b = await pair(redis_sentinel.url, {"url": redis_sentinel.url, "max_connections": 16})
    async with a.subscribe("failover") as on_a, b.subscribe("failover") as on_b:
        broadcast = Broadcast(a, "failover")
        for i in range(5):
            await broadcast.send(f"before {i}")
        started = time.monotonic()
        outage = asyncio.ensure_future(asyncio.to_thread(redis_sentinel.failover_by_killing_primary))
        await broadcast.during(outage)
        new_primary = await outage
        for i in range(5):
            await broadcast.send(f"after {i}")
        # Publishes went on through the outage; whether some raised depends on how long the
        # sentinels took against the client's timeout and retries (on a loaded machine a publish
        # may wait out the whole failover and succeed): what must hold either way is below.
        during = [text for text in broadcast.failed + [t for _, t in broadcast.acked] if text.startswith("during")]
        assert during, "nothing was published while the primary was down"
        assert [text for _, text in broadcast.acked[-5:]] == [f"after {i}" for i in range(5)]
        for subscription in (on_a, on_b):
            await expect_exactly(subscription, broadcast)
    assert time.monotonic() - started < 60
    # Both listeners followed the new primary: two pattern subscriptions there.
    listed = _command(new_primary, "CLIENT", "LIST", "TYPE", "pubsub")
    assert (listed.decode() if isinstance(listed, bytes) else str(listed)).count(" psub=1 ") == 2
