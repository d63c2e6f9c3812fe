"""A small real Areion app for the CLI and multi-worker tests: ``--app tests.plugins.scheduling.scheduling_app:server``.

One job in code (``nightly``), one in config (``config-job``), and a route that hands work to
a background task. With ``SCHEDULING_TEST_REDIS`` set, the orchestrator takes the Redis lease
and an every-second job counts its runs in Redis. Without it, the host's lock file decides.

More, for the multi-process tests, from the environment:

- ``SCHEDULING_TEST_RUNS``: a file; an every-second job appends ``<tick ms> <pid>`` to it,
  one line per run (append mode, one short write: lines from several processes never mix).
- ``SCHEDULING_TEST_SLOW`` (with Redis): a thread job that runs for a minute, pushing
  ``<time> <lease holder>`` to ``app:seen`` every 20 ms, to outlive ``shutdown_timeout``.
- ``SCHEDULING_TEST_LOCK``, ``SCHEDULING_TEST_HEARTBEAT``, ``SCHEDULING_TEST_SHUTDOWN``:
  the ``lock_file``, ``heartbeat`` and ``shutdown_timeout`` options.
"""

from __future__ import annotations

import os
import time
from typing import Any

from areion_scheduling import DefaultOrchestrator, scheduled_time

from areion_core import AreionServerBuilder, HttpRequest, Router

router = Router()
orchestrator = DefaultOrchestrator(max_workers=2)
REDIS_URL = os.environ.get("SCHEDULING_TEST_REDIS")


@orchestrator.cron("0 3 * * *", id="nightly")
def nightly() -> str:
    return "nightly report written"


@orchestrator.cron(hour=4, id="broken")
def broken() -> None:
    raise RuntimeError("the broken job broke")


# A redis+sentinel:// or redis+cluster:// URL (the failover tests) takes the lease through
# areion_redis; the jobs that count in Redis speak to one server, so they need a plain URL.
PLAIN_REDIS = bool(REDIS_URL) and str(REDIS_URL).startswith(("redis://", "rediss://", "unix://"))
if PLAIN_REDIS:
    import redis

    counter_store = redis.Redis.from_url(REDIS_URL)

    @orchestrator.every(seconds=1, id="counter")
    def count() -> None:
        tick = scheduled_time()
        assert tick is not None
        pipe = counter_store.pipeline(transaction=True)
        pipe.incr("app:counter")
        pipe.hincrby("app:runs", str(round(tick.timestamp() * 1000)), 1)
        pipe.hset("app:runner", str(round(tick.timestamp() * 1000)), os.getpid())
        pipe.execute()


RUNS_FILE = os.environ.get("SCHEDULING_TEST_RUNS")
if RUNS_FILE:

    @orchestrator.every(seconds=1, id="ticker")
    def ticker() -> None:
        tick = scheduled_time()
        assert tick is not None and RUNS_FILE is not None
        with open(RUNS_FILE, "a") as runs:
            runs.write(f"{round(tick.timestamp() * 1000)} {os.getpid()}\n")


if PLAIN_REDIS and os.environ.get("SCHEDULING_TEST_SLOW"):

    @orchestrator.every(seconds=1, id="slow")
    def slow() -> None:
        client = redis.Redis.from_url(REDIS_URL, decode_responses=True)
        for _ in range(3000):
            client.rpush("app:seen", f"{time.time():.3f} {client.get('app:lease')}")
            time.sleep(0.02)


def remember(store_key: str, value: str) -> None:
    import redis

    if PLAIN_REDIS:
        client = redis.Redis.from_url(str(REDIS_URL))
        client.rpush(store_key, f"{value}:{os.getpid()}")
        client.close()


@router.get("/remember/:value")
def remember_later(request: HttpRequest, value: str) -> Any:
    request.submit_task(remember, "app:remembered", value)
    return {"queued": value}


scheduling: dict[str, Any] = {
    "jobs": {"config-job": {"func": "tests.plugins.scheduling.scheduling_app:nightly",
                            "cron": {"day_of_week": "sun", "hour": 6}}},
}
if REDIS_URL:
    scheduling.update(redis_url="${SCHEDULING_TEST_REDIS}", lease_ttl=2, key_prefix="app:")
for option, variable in (("lock_file", "SCHEDULING_TEST_LOCK"),
                         ("heartbeat", "SCHEDULING_TEST_HEARTBEAT"),
                         ("shutdown_timeout", "SCHEDULING_TEST_SHUTDOWN")):
    if os.environ.get(variable):
        scheduling[option] = f"${{{variable}}}"

server = (
    AreionServerBuilder()
    .with_router(router)
    .with_orchestrator(orchestrator)
    .with_config({"plugins": {"enabled": ["scheduling"], "scheduling": scheduling}})
    .build()
)
asgi = server.asgi  # for ASGI servers that take module:attr only (Hypercorn, Granian)
