"""A cold key computes once: in one process (waiters) and across processes (a Redis lock)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import redis
from areion_caching import cache

from areion_core import HttpRequest, HttpResponse, Router
from areion_core.testing import AsyncTestClient
from tests._redis import free_port
from tests.plugins.caching._caching_support import Counter, build_server

ROOT = Path(__file__).resolve().parents[3]  # the worker runs as tests.plugins.caching._worker_app


def slow_router(runs: Counter, delay: float = 0.2) -> Router:
    router = Router()

    @router.get("/report")
    @cache(ttl=60)
    async def report(request: HttpRequest) -> dict[str, int]:
        n = runs()
        await asyncio.sleep(delay)
        return {"run": n}

    @router.get("/personal")
    @cache(ttl=60)
    async def personal(request: HttpRequest) -> HttpResponse:
        n = runs()
        await asyncio.sleep(delay)
        response = HttpResponse({"run": n})
        response.set_cookie("seen", str(n))  # never shareable
        return response

    return router


async def test_100_concurrent_cold_requests_run_the_handler_once() -> None:
    runs = Counter()
    async with AsyncTestClient(build_server(slow_router(runs))) as client:
        responses = await asyncio.gather(*(client.get("/report") for _ in range(100)))
    assert runs.n == 1
    assert {r.status_code for r in responses} == {200}
    assert {r.content for r in responses} == {b'{"run":1}'}
    assert sorted(r.headers["x-cache"] for r in responses).count("MISS") == 1


async def test_unshareable_answers_do_not_queue_waiters_one_by_one() -> None:
    runs = Counter()
    async with AsyncTestClient(build_server(slow_router(runs, delay=0.3))) as client:
        started = time.monotonic()
        responses = await asyncio.gather(*(client.get("/personal") for _ in range(20)))
        elapsed = time.monotonic() - started
    cookies = {r.headers["set-cookie"] for r in responses}
    assert len(cookies) == 20  # everyone ran the handler and got their own cookie
    # Waiters are released together once the first answer proved unshareable: about two
    # handler durations, not twenty (generous bound on a shared 2-core machine).
    assert elapsed < 3.0


async def test_two_apps_sharing_redis_compute_a_cold_key_once(redis_url: str) -> None:
    runs = Counter()
    settings = {"store": "redis", "url": redis_url, "lock_timeout": 5}
    one = build_server(slow_router(runs, delay=0.3), settings)
    two = build_server(slow_router(runs, delay=0.3), settings)
    async with AsyncTestClient(one) as a, AsyncTestClient(two) as b:
        responses = await asyncio.gather(*(c.get("/report") for _ in range(50) for c in (a, b)))
    assert runs.n == 1
    assert {r.content for r in responses} == {b'{"run":1}'}
    check = redis.Redis.from_url(redis_url)
    try:
        assert check.keys("areion:cache:l:*") == []  # the lock was released, not left to expire
    finally:
        check.close()


def start_worker(redis_url: str, port: int) -> subprocess.Popen[bytes]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    return subprocess.Popen(
        [sys.executable, "-m", "tests.plugins.caching._worker_app", redis_url, str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


async def wait_ready(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"worker exited: {proc.stderr.read().decode() if proc.stderr else ''}"
                )
            try:
                await client.get(f"http://127.0.0.1:{port}/ping")
                return
            except httpx.TransportError:
                await asyncio.sleep(0.1)
    raise RuntimeError("worker did not start")


async def test_two_processes_sharing_redis_run_the_handler_at_most_once_per_lock_period(
    redis_url: str,
) -> None:
    ports = [free_port(), free_port()]
    procs = [start_worker(redis_url, port) for port in ports]
    try:
        for port, proc in zip(ports, procs):
            await wait_ready(port, proc)
        limits = httpx.Limits(max_connections=100)
        async with httpx.AsyncClient(limits=limits, timeout=30) as client:
            responses = await asyncio.gather(
                *(
                    # One Host, as behind a load balancer: the host is part of the key.
                    client.get(f"http://127.0.0.1:{port}/report", headers={"Host": "app.example"})
                    for _ in range(50)
                    for port in ports
                )
            )
        assert {r.status_code for r in responses} == {200}
        bodies = {r.content for r in responses}
        check = redis.Redis.from_url(redis_url)
        try:
            # The handler counts its runs in Redis, so runs in both processes are seen.
            assert check.get("test:runs") == b"1"
        finally:
            check.close()
        assert len(bodies) == 1
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            if proc.stderr is not None:
                proc.stderr.close()
