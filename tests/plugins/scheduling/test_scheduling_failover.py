"""Three real scheduler processes on a Sentinel setup, the primary killed mid-run.

What is asserted, precisely:
- at most once: no tick (an every-second job, one line per run in a file outside Redis) ran
  twice, before, during or after the failover;
- no gaps while Redis is healthy: the ticks before the kill are consecutive seconds; after
  the failover ticks come back and run every second again (three in consecutive seconds),
  though some may be skipped until a replica acknowledges claims;
- the gap around the failover is bounded by the failover window (kill → the sentinels report
  the new primary and the old one is back as a replica) plus one lease period, the time claims
  may go unacknowledged after the old primary rejoined (``UNACKED_AFTER_REJOIN``) and 2 s of
  slack.
Ticks inside that window may be skipped (the at-most-once rule: a claim no replica
acknowledged is not run).
"""

from __future__ import annotations

import signal
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests._redis import RedisSentinel
from tests.plugins.scheduling._scheduling_support import ServerProcess, wait_for

TTL = 2.0  # lease_ttl in scheduling_app.py
#: Seconds after the old primary rejoined during which claims were seen unacknowledged, so
#: ticks skipped, in the full suite: 11 s (stop 27's CI), and a first tick 14 s after the last
#: one before the kill twice on 2026-12-06 (a failover window of 2.2 s). Why it takes that long
#: is not known yet; a tick never ran twice.
UNACKED_AFTER_REJOIN = 12.0


def read_runs(path: Path) -> list[tuple[int, int]]:
    if not path.exists():
        return []
    return [(int(ms), int(pid)) for ms, pid in
            (line.split() for line in path.read_text().splitlines() if line.strip())]


def _decisions(output: str) -> str:
    """A server's log without its request lines."""
    return "\n".join(line for line in output.splitlines() if "GET /remember" not in line)


@pytest.fixture
def sentinel_servers(redis_sentinel: RedisSentinel, tmp_path: Path) -> Iterator[tuple[list[ServerProcess], Path]]:
    runs = tmp_path / "runs"
    env = {"SCHEDULING_TEST_REDIS": redis_sentinel.url, "SCHEDULING_TEST_RUNS": str(runs)}
    started = [ServerProcess(tmp_path / f"server{i}.log", env) for i in range(3)]
    try:
        yield started, runs
    finally:
        for server in started:
            server.kill()


@pytest.mark.slow
def test_every_tick_at_most_once_through_a_sentinel_failover(
    redis_sentinel: RedisSentinel, sentinel_servers: tuple[list[ServerProcess], Path]
) -> None:
    servers, runs = sentinel_servers
    for server in servers:
        wait_for(server.ready, 20, f"the server on port {server.port}")
    wait_for(lambda: len(read_runs(runs)) >= 3, 10, "three ticks before the failover")

    killed_at = time.time()
    redis_sentinel.failover_by_killing_primary()
    recovered_at = time.time()

    def settled() -> bool:
        # Ticks came back after the failover and run every second again: at least four since,
        # the last three in consecutive seconds. Before that some may be skipped while no
        # replica acknowledges claims (the at-most-once rule; on a loaded machine, seen for up
        # to 11 s after the old primary rejoined as a replica).
        after = sorted(ms for ms, _ in read_runs(runs) if ms > recovered_at * 1000)
        return len(after) >= 4 and after[-3:] == list(range(after[-3], after[-1] + 1, 1000))

    try:
        wait_for(settled, TTL + 30, "ticks to run every second again after the failover")
    except AssertionError as exc:
        # What each process decided (lease won or lost, ticks skipped and why), for the report.
        logs = "\n".join(f"--- server {s.port}:\n{_decisions(s.output())}" for s in servers)
        raise AssertionError(f"{exc}; failover {killed_at:.3f}..{recovered_at:.3f}; "
                             f"runs {read_runs(runs)}\n{logs}") from None
    for server in servers:
        server.proc.send_signal(signal.SIGTERM)
    for server in servers:
        assert server.proc.wait(15) == 0, server.output()

    ran = read_runs(runs)
    counts = Counter(ms for ms, _ in ran)
    assert max(counts.values()) == 1, {ms: n for ms, n in counts.items() if n > 1}  # at most once
    ticks = sorted(counts)
    assert all(ms % 1000 == 0 for ms in ticks)
    before = [ms for ms in ticks if ms < killed_at * 1000]
    after = [ms for ms in ticks if ms > recovered_at * 1000]
    assert before == list(range(before[0], before[-1] + 1, 1000)), before
    window = recovered_at - killed_at
    gap = (after[0] - before[-1]) / 1000
    assert gap <= window + TTL + UNACKED_AFTER_REJOIN + 2, (gap, window)
