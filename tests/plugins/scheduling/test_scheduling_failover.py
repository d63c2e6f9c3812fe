"""Three real scheduler processes on a Sentinel setup, the primary killed mid-run.

What is asserted, precisely:
- at most once: no tick (an every-second job, one line per run in a file outside Redis) ran
  twice, before, during or after the failover;
- no gaps while Redis is healthy: the ticks before the kill are consecutive seconds; after
  the failover ticks come back and run every second again (three in consecutive seconds),
  though some may be skipped until a replica acknowledges claims;
- the gap around the failover is bounded by the failover window (kill → the sentinels report
  the new primary and the old one is back as a replica) plus one lease period and 2 s of
  slack — plus ``SECOND_FAILOVER`` when the sentinels failed over a second time (below).
Ticks inside that window may be skipped (the at-most-once rule: a claim no replica
acknowledged is not run).

The second failover. On a loaded machine one sentinel may judge the *new* primary down about
1 s after switching to it (``down-after-milliseconds`` is 1000 here), and reach the quorum at
once (``+sdown`` and ``+odown #quorum 3/2`` in the same millisecond, the other two sentinels
never having flagged it: presumably their votes against the old primary), and fail over
again: the old primary, just restarted and synced as a replica, is promoted back (``SLAVEOF NO
ONE``). Nobody tells the node it replaced, which keeps running as a primary with no replica;
the schedulers' connections to it stay open (redis-py asks the sentinels only when it opens a
connection), so their claims land there. Sentinel turns that stale primary into a replica
(``+convert-to-slave``) only once it has reported the wrong role for 8 s, checked on its INFO
refresh of a replica, every 10 s: seen 10.06 s after the second ``+switch-master``. Until then no
node has a replica in sync, every ``WAIT 1`` answers 0 wherever a scheduler is connected, and
every tick is skipped (rightly: the stale primary's writes are discarded by its full resync,
the lease renewals included: the holder then finds "the lease key is gone"). Seen here with
8 CPU hogs on 2 cores, once in ~40 runs: no claim acknowledged from 0.3 s to 12.1 s after the
old primary rejoined, then the holder's lease key gone and another process's first claim
acknowledged: a gap of 14 s for a failover window of 2.4 s, as in the full-suite CI runs (whose
logs were not kept). The sentinels' side (both failovers, the conversion) was logged on the
fixture alone, in 2 of ~20 failovers under the same load.
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
#: Added to the gap bound when the sentinels failed over a second time (see the module
#: docstring): Sentinel converts the stale primary 10 s after the second switch (8 s wait, INFO
#: every 10 s), and the second failover itself ends up to ~2 s after the first. A 14 s gap was
#: seen for a 2.4 s window (in CI twice on 2026-12-06, once here); otherwise the gaps were 3-4 s
#: in ~40 runs, loaded or not, within the bound without it.
SECOND_FAILOVER = 12.0


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

    epoch = redis_sentinel.config_epoch()
    killed_at = time.time()
    redis_sentinel.failover_by_killing_primary()
    recovered_at = time.time()

    def report() -> str:
        # What each process decided (lease won or lost, ticks skipped and why) and what the
        # sentinels did, for a failure's message.
        logs = "\n".join(f"--- server {s.port}:\n{_decisions(s.output())}" for s in servers)
        return (f"failover {killed_at:.3f}..{recovered_at:.3f}; sentinel failovers "
                f"{redis_sentinel.config_epoch() - epoch}; runs {read_runs(runs)}\n{logs}")

    def settled() -> bool:
        # Ticks came back after the failover and run every second again: at least four since,
        # the last three in consecutive seconds. Before that some may be skipped while no
        # replica acknowledges claims (the at-most-once rule; for ~10 s after a second
        # failover, see the module docstring).
        after = sorted(ms for ms, _ in read_runs(runs) if ms > recovered_at * 1000)
        return len(after) >= 4 and after[-3:] == list(range(after[-3], after[-1] + 1, 1000))

    try:
        wait_for(settled, TTL + 30, "ticks to run every second again after the failover")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; {report()}") from None
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
    second_failover = redis_sentinel.config_epoch() > epoch + 1
    bound = window + TTL + 2 + (SECOND_FAILOVER if second_failover else 0)
    assert gap <= bound, f"gap {gap} s > {bound:.3f} s; {report()}"
