"""The Redis store: atomic counters shared by processes, hash-tagged keys, failing open or closed."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import redis
from areion_security.rates import Rate
from areion_security.stores import RedisStore

from areion_core import HttpRequest, Router
from areion_core.testing import LiveServer
from tests._redis import RedisServer, free_port
from tests.plugins.security._security_support import build_server

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize("algorithm", ["fixed-window", "token-bucket"])
def test_concurrent_hits_are_counted_exactly(redis_url: str, algorithm: str) -> None:
    store = RedisStore(redis_url, "t:rl", 2.0)
    rate = Rate(20, 60)

    async def run() -> list[bool]:
        try:
            decisions = await asyncio.gather(*(store.hit("scope", "1.2.3.4", rate, algorithm) for _ in range(30)))
        finally:
            await store.close()
        return [d.allowed for d in decisions]

    allowed = asyncio.run(run())
    assert allowed.count(True) == 20
    keys = redis.Redis.from_url(redis_url).keys("t:rl:*")
    assert keys == [b"t:rl:{scope}:1.2.3.4"]  # the scope is the hash tag: one Cluster slot per scope


def test_a_fixed_window_expires_with_its_key(redis_url: str) -> None:
    store = RedisStore(redis_url, "t:rl", 2.0)

    async def run() -> None:
        try:
            first = await store.hit("w", "c", Rate(1, 60), "fixed-window")
            second = await store.hit("w", "c", Rate(1, 60), "fixed-window")
        finally:
            await store.close()
        assert first.allowed and not second.allowed
        assert 59 < second.retry_after <= 60

    asyncio.run(run())
    ttl = redis.Redis.from_url(redis_url).pttl("t:rl:{w}:c")
    assert 59_000 < ttl <= 60_000


def _limited_server(url: str, **rate_limit: object) -> LiveServer:
    router = Router()

    @router.post("/items")
    async def add_item(request: HttpRequest) -> str:
        return "added"

    section = {"rate_limit": {"store": "redis", "url": url, "timeout": 0.3,
                              "routes": {"POST /items": "3/minute"}, **rate_limit}}
    return LiveServer(build_server(router, section))


def test_the_server_limits_through_redis(redis_url: str) -> None:
    with _limited_server(redis_url) as live, httpx.Client(base_url=live.url) as http:
        statuses = [http.post("/items").status_code for _ in range(4)]
        refused = http.post("/items")
    assert statuses == [200, 200, 200, 429]
    assert refused.headers["ratelimit-policy"] == '"POST /items";q=3;w=60'
    assert 58 <= int(refused.headers["retry-after"]) <= 60


def test_redis_down_fails_open_and_logs_once_per_outage(own_redis: RedisServer,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="areion.security")
    with _limited_server(own_redis.url) as live, httpx.Client(base_url=live.url) as http:
        assert http.post("/items").headers["ratelimit"].startswith('"POST /items";r=2;')
        own_redis.stop()
        down = [http.post("/items") for _ in range(5)]
        own_redis.start()
        back = http.post("/items")
    assert [r.status_code for r in down] == [200] * 5  # open: let through...
    assert not any("ratelimit" in r.headers for r in down)  # ...without pretending to count
    assert back.status_code == 200 and back.headers["ratelimit"].startswith('"POST /items";r=')
    messages = [r.getMessage() for r in caplog.records if r.name == "areion.security"]
    assert len([m for m in messages if "the store failed" in m]) == 1, messages
    assert len([m for m in messages if "the store answers again;" in m]) == 1, messages


def test_redis_down_fails_closed_when_configured(own_redis: RedisServer) -> None:
    with _limited_server(own_redis.url, fail="closed") as live, httpx.Client(base_url=live.url) as http:
        assert http.post("/items").status_code == 200
        own_redis.stop()
        refused = http.post("/items")
    assert refused.status_code == 503
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.headers["retry-after"] == "1"


def test_a_stalled_redis_fails_open_at_the_store_timeout_and_counting_resumes(
        own_redis: RedisServer, caplog: pytest.LogCaptureFixture) -> None:
    # A Redis that takes the connection and never answers (stopped with SIGSTOP): the call in
    # flight is bounded by the store's timeout (0.3 s here), its connection dropped, and the
    # request let through; once Redis answers again the counts go on where they were.
    caplog.set_level(logging.WARNING, logger="areion.security")
    assert own_redis.proc is not None
    with _limited_server(own_redis.url) as live, httpx.Client(base_url=live.url, timeout=10) as http:
        assert http.post("/items").headers["ratelimit"].startswith('"POST /items";r=2;')
        own_redis.proc.send_signal(signal.SIGSTOP)
        try:
            stalled = http.post("/items")
        finally:
            own_redis.proc.send_signal(signal.SIGCONT)
        after = [http.post("/items") for _ in range(3)]
    assert stalled.status_code == 200 and "ratelimit" not in stalled.headers
    # The stalled call reached Redis (it counted its hit once it woke): 1 + 1 + 1 allowed, then 429s.
    assert [r.status_code for r in after] == [200, 429, 429]
    messages = [r.getMessage() for r in caplog.records if r.name == "areion.security"]
    assert any("the store failed (TimeoutError: the rate-limit store at" in m and "within 0.3s" in m
               for m in messages), messages


@pytest.fixture
def two_servers(redis_url: str) -> Iterator[list[str]]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    ports = [free_port(), free_port()]
    procs = [subprocess.Popen([sys.executable, "-m", "tests.plugins.security._limited_app", redis_url, str(port)],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for port in ports]
    try:
        urls = [f"http://127.0.0.1:{port}" for port in ports]
        deadline = time.monotonic() + 30
        for url, proc in zip(urls, procs, strict=True):
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"server exited: {proc.stderr.read().decode() if proc.stderr else ''}")
                try:
                    httpx.get(url + "/ping", timeout=1)
                    break
                except httpx.TransportError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)
        yield urls
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=10)
            if proc.stderr is not None:
                proc.stderr.close()


def test_two_server_processes_share_one_exact_limit(two_servers: list[str]) -> None:
    targets = [two_servers[i % 2] + "/items" for i in range(15)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        responses = list(pool.map(lambda url: httpx.post(url, timeout=10), targets))
    statuses = [r.status_code for r in responses]
    assert statuses.count(200) == 10
    assert statuses.count(429) == 5
    served_by = {r.json()["port"] for r in responses if r.status_code == 200}
    assert len(served_by) == 2  # both processes answered, against one counter


def test_scripts_are_loaded_again_after_a_script_flush(redis_url: str) -> None:
    store = RedisStore(redis_url, "t:rl", 2.0)

    async def run() -> list[bool]:
        try:
            first = await store.hit("s", "c", Rate(5, 60), "fixed-window")
            redis.Redis.from_url(redis_url).script_flush()  # as a restarted or flushed Redis has none
            second = await store.hit("s", "c", Rate(5, 60), "fixed-window")
            bucket = await store.hit("s", "b", Rate(5, 60), "token-bucket")
        finally:
            await store.close()
        return [first.remaining == 4, second.remaining == 3, bucket.allowed]

    assert asyncio.run(run()) == [True, True, True]


def test_a_scope_with_braces_keeps_one_hash_tag(redis_url: str) -> None:
    store = RedisStore(redis_url, "t:rl", 2.0)
    # A route template's braces would end the tag early (and "{}" is no tag): they are escaped.
    assert store.key("/users/{id}", "c") == "t:rl:{/users/%7Bid%7D}:c"
    assert store.key("", "c") == "t:rl:{%}:c"
    assert store.key("%", "c") == "t:rl:{%25}:c"

    async def run() -> list[bool]:
        try:
            hits = await asyncio.gather(*(store.hit("/users/{id}", "c", Rate(2, 60), "fixed-window") for _ in range(3)))
        finally:
            await store.close()
        return [d.allowed for d in hits]

    assert asyncio.run(run()) == [True, True, False]
    assert redis.Redis.from_url(redis_url).get("t:rl:{/users/%7Bid%7D}:c") == b"3"


@pytest.mark.parametrize("prefix", ["a{b", "a}b"])
def test_a_prefix_with_braces_is_refused(prefix: str) -> None:
    with pytest.raises(ValueError, match="without braces"):
        RedisStore("redis://127.0.0.1:6379/0", prefix, 1.0)


def test_hits_queued_behind_a_call_in_flight_go_together_in_the_next_call(redis_url: str) -> None:
    store = RedisStore(redis_url, "t:rl", 2.0)
    stats = redis.Redis.from_url(redis_url)

    def script_calls() -> int:
        found = stats.info("commandstats")
        return sum(int(v["calls"]) for k, v in found.items() if k in ("cmdstat_evalsha", "cmdstat_eval"))

    async def run() -> list[bool]:
        try:
            await store.hit("warm", "c", Rate(5, 60), "fixed-window")  # connected, script loaded
            before = script_calls()
            first = store.hit("q", "a", Rate(50, 60), "fixed-window")  # sent alone, next turn
            await asyncio.sleep(0)
            # Joined while the first call is in flight (or about to be): one more call for all of them.
            rest = [store.hit("q", k, Rate(50, 60), "fixed-window") for k in ("a", "b", "a", "c") * 10]
            decisions = await asyncio.gather(first, *rest)
            assert script_calls() - before <= 2
        finally:
            await store.close()
        return [d.allowed for d in decisions]

    assert asyncio.run(run()) == [True] * 41
    counts = [stats.get(f"t:rl:{{q}}:{k}") for k in "abc"]
    assert counts == [b"21", b"10", b"10"]


def test_closing_with_hits_waiting_fails_them_instead_of_leaving_them_pending(own_redis: RedisServer) -> None:
    store = RedisStore(own_redis.url, "t:rl", 5.0)
    assert own_redis.proc is not None

    async def run() -> list[object]:
        await store.hit("s", "c", Rate(5, 60), "fixed-window")  # connected, script loaded
        os.kill(own_redis.proc.pid, signal.SIGSTOP)  # the next call stays in flight
        try:
            in_flight = [store.hit("s", "c", Rate(5, 60), "fixed-window") for _ in range(3)]
            await asyncio.sleep(0.1)
            queued = store.hit("s", "d", Rate(5, 60), "fixed-window")  # behind the call in flight
            await asyncio.wait_for(store.close(), 2)  # not the 5 s store timeout
            return list(await asyncio.gather(*in_flight, queued, return_exceptions=True))
        finally:
            os.kill(own_redis.proc.pid, signal.SIGCONT)

    outcomes = asyncio.run(run())
    assert len(outcomes) == 4
    assert all(isinstance(o, ConnectionError) and "was closed" in str(o) for o in outcomes), outcomes
