"""Channels: the same behaviour on every backend (memory and Redis), then what only Redis does:
a message published in one process reaches a subscriber in another, and a Redis restart."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import redis
from areion_realtime import (
    ChannelMessage,
    Channels,
    ChannelUnavailable,
    RealtimeSettings,
    SubscriberTooSlow,
    make_channels,
)

from areion_core import ConfigError
from tests._redis import RedisServer


@pytest.fixture(params=["memory", "redis"])
async def channels(request: pytest.FixtureRequest) -> AsyncIterator[Channels]:
    """Channels on each backend (Redis: the session's private server, flushed)."""
    section: dict[str, object] = {"backend": request.param, "history_size": 5, "subscriber_queue": 10}
    if request.param == "redis":
        section["url"] = request.getfixturevalue("redis_url")
    made = make_channels(RealtimeSettings.from_section(section))
    await made.start()
    yield made
    await made.close()


async def next_message(messages: AsyncIterator[ChannelMessage], timeout: float = 5.0) -> ChannelMessage:
    return await asyncio.wait_for(messages.__anext__(), timeout)


async def test_every_subscriber_gets_every_message_in_order(channels: Channels) -> None:
    async with channels.subscribe("room") as first, channels.subscribe("room") as second, \
            channels.subscribe("other") as elsewhere:
        ids = [await channels.publish("room", f"m{i}") for i in range(3)]
        for subscription in (first, second):
            got = [await next_message(subscription) for _ in range(3)]
            assert [m.data for m in got] == ["m0", "m1", "m2"]
            assert [m.id for m in got] == ids
            assert {m.channel for m in got} == {"room"}
        await channels.publish("other", "x")
        assert (await next_message(elsewhere)).data == "x"


async def test_ids_increase_and_history_is_bounded(channels: Channels) -> None:
    ids = [await channels.publish("h", str(i)) for i in range(8)]
    assert all(isinstance(i, str) for i in ids)
    history = await channels.history("h")
    assert [m.data for m in history][-5:] == ["3", "4", "5", "6", "7"]
    assert len(history) <= 8  # Redis trims with MAXLEN ~ (approximately), memory exactly
    after = await channels.history("h", ids[5])
    assert [m.data for m in after] == ["6", "7"]


async def test_resuming_after_an_id_replays_the_history_then_goes_live(channels: Channels) -> None:
    ids = [await channels.publish("r", f"old{i}") for i in range(4)]
    async with channels.subscribe("r", last_id=ids[1]) as messages:
        await channels.publish("r", "new")
        got = [(await next_message(messages)).data for _ in range(3)]
    assert got == ["old2", "old3", "new"]


async def test_a_subscriber_that_falls_behind_is_ended(channels: Channels) -> None:
    async with channels.subscribe("busy") as slow, channels.subscribe("busy") as keeping_up:
        for i in range(11):
            await channels.publish("busy", str(i))
            assert (await next_message(keeping_up)).data == str(i)
        with pytest.raises(SubscriberTooSlow):
            await next_message(slow)


async def test_a_closed_subscription_gets_nothing(channels: Channels) -> None:
    subscription = channels.subscribe("gone")
    await subscription.start()
    subscription.close()
    await channels.publish("gone", "after")
    with pytest.raises(StopAsyncIteration):
        await next_message(subscription)


def test_settings_name_the_bad_key() -> None:
    with pytest.raises(ConfigError, match=r"plugins\.realtime\.backend"):
        RealtimeSettings.from_section({"backend": "kafka"})
    with pytest.raises(ConfigError, match=r"plugins\.realtime\.allowed_origins"):
        RealtimeSettings.from_section({"allowed_origins": ["example.com"]})
    with pytest.raises(ConfigError, match=r"plugins\.realtime\.url"):
        RealtimeSettings.from_section({"url": "http://x"})
    with pytest.raises(ConfigError, match=r"plugins\.realtime\.max_message_size"):
        RealtimeSettings.from_section({"max_message_size": 0})


# --- Redis only ---------------------------------------------------------------------------------
def redis_channels(url: str, **extra: object) -> Channels:
    return make_channels(RealtimeSettings.from_section({"backend": "redis", "url": url, **extra}))


async def test_a_message_crosses_processes_through_redis(redis_url: str) -> None:
    """What another worker or host would do: publish with a plain Redis client, not these channels."""
    channels = redis_channels(redis_url)
    await channels.start()
    try:
        async with channels.subscribe("cross") as messages:
            other = make_channels(RealtimeSettings.from_section({"backend": "redis", "url": redis_url}))
            sent_id = await other.publish("cross", "from elsewhere")
            await other.close()
            message = await next_message(messages)
            assert (message.id, message.data) == (sent_id, "from elsewhere")
        stored = redis.Redis.from_url(redis_url).xrange("areion:channel:{cross}")
        assert [(k.decode(), v[b"d"]) for k, v in stored] == [(sent_id, b"from elsewhere")]
    finally:
        await channels.close()


async def test_publish_raises_while_redis_is_down_and_subscribers_resume(own_redis: RedisServer) -> None:
    channels = redis_channels(own_redis.url)
    await channels.start()
    try:
        async with channels.subscribe("fault") as messages:
            await channels.publish("fault", "before")
            assert (await next_message(messages)).data == "before"
            own_redis.stop()
            with pytest.raises(ChannelUnavailable, match=r"'fault': message not published, Redis .* unreachable"):
                await channels.publish("fault", "lost")
            own_redis.start()
            backend = channels.backend
            await asyncio.wait_for(backend.listening.wait(), 10)  # type: ignore[attr-defined]
            await channels.publish("fault", "after")
            assert (await next_message(messages, 10)).data == "after"
    finally:
        await channels.close()


async def test_on_unavailable_drop_returns_none(own_redis: RedisServer) -> None:
    channels = redis_channels(own_redis.url, on_unavailable="drop")
    own_redis.stop()
    try:
        assert await channels.publish("x", "dropped") is None
    finally:
        own_redis.start()
        await channels.close()


async def test_a_lost_pubsub_connection_catches_up_from_the_stream(own_redis: RedisServer) -> None:
    """A message whose live copy the listener never saw (written to the stream, not published)
    comes from the stream once the pub/sub connection is back, exactly once, before what follows."""
    channels = redis_channels(own_redis.url)
    await channels.start()
    direct = redis.Redis.from_url(own_redis.url)
    try:
        async with channels.subscribe("gap") as messages, channels.subscribe("quiet") as quiet:
            first = await channels.publish("gap", "live")
            assert (await next_message(messages)).id == first
            missed = direct.xadd("areion:channel:{gap}", {"d": "missed"}).decode()
            # redis-py reconnects a killed pub/sub connection by itself; the backend notices.
            assert direct.client_kill_filter(_type="pubsub") == 1
            got = await next_message(messages)
            assert (got.id, got.data) == (missed, "missed")
            after = await channels.publish("gap", "after")
            assert [(await next_message(messages)).id] == [after]
            with pytest.raises(TimeoutError):
                await next_message(quiet, 0.3)  # no history is replayed to a channel that got nothing
    finally:
        direct.close()
        await channels.close()


async def test_a_process_only_keeps_state_for_channels_it_subscribes_to(redis_url: str) -> None:
    channels = redis_channels(redis_url)
    await channels.start()
    try:
        backend = channels.backend
        for i in range(20):
            await channels.publish(f"nobody-{i}", "x")
        async with channels.subscribe("somebody") as messages:
            await channels.publish("somebody", "y")
            assert (await next_message(messages)).data == "y"
            assert set(backend._delivered) == {"somebody"}  # type: ignore[attr-defined]
        assert not backend._delivered and not backend._joined  # type: ignore[attr-defined]
    finally:
        await channels.close()


async def test_a_silent_pubsub_connection_is_replaced(own_redis: RedisServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """A connection that stops answering (CLIENT PAUSE here; a network cut in life) is PINGed,
    given up on after a second heartbeat without an answer, and replaced."""
    from areion_realtime import redis_channels as module

    monkeypatch.setattr(module, "HEARTBEAT", 0.2)
    channels = redis_channels(own_redis.url)
    await channels.start()
    direct = redis.Redis.from_url(own_redis.url)
    try:
        async with channels.subscribe("silent") as messages:
            before = [c["id"] for c in direct.client_list(_type="pubsub")]
            assert len(before) == 1
            direct.execute_command("CLIENT", "PAUSE", "3000", "ALL")
            backend = channels.backend
            await asyncio.wait_for(_cleared(backend.listening), 10)  # type: ignore[attr-defined]
            await asyncio.wait_for(backend.listening.wait(), 15)  # type: ignore[attr-defined]
            after = [c["id"] for c in direct.client_list(_type="pubsub")]
            assert len(after) == 1 and after != before
            await channels.publish("silent", "still here")
            assert (await next_message(messages)).data == "still here"
    finally:
        direct.close()
        await channels.close()


async def _cleared(event: asyncio.Event) -> None:
    """Until ``event`` is cleared (asyncio.Event has no wait for that)."""
    while event.is_set():  # noqa: ASYNC110
        await asyncio.sleep(0.05)


async def test_a_subscriber_joining_while_redis_is_down_gets_what_comes_after(own_redis: RedisServer) -> None:
    channels = redis_channels(own_redis.url)
    await channels.start()
    backend = channels.backend
    try:
        own_redis.stop()
        await asyncio.wait_for(_cleared(backend.listening), 10)  # type: ignore[attr-defined]
        async with channels.subscribe("late") as messages:  # no round trip to a Redis that is down
            own_redis.start()
            await asyncio.wait_for(backend.listening.wait(), 10)  # type: ignore[attr-defined]
            sent = await channels.publish("late", "back")
            got = await next_message(messages)
            assert (got.id, got.data) == (sent, "back")
    finally:
        await channels.close()
