"""Restarts under load: SIGTERM of the server, SIGTERM and kill -9 of one worker.

The server runs under ``areion run`` in a process of its own; ``LoadClient`` (see ``_load.py``)
keeps keep-alive connections busy, some with requests that sleep 0.3 s so that requests are
in flight when a signal lands, some POSTs, some with a new connection per request, and
accounts for every request it sends. A request is *lost* when it was written to a connection
the client had not seen closed and no complete response came back. wrk runs alongside for
extra pressure; its numbers are reported, not accounted.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections import Counter

import pytest

from tests.reliability._budget import budget, count
from tests.reliability._load import LoadClient, LoadStats, Wrk
from tests.reliability._serve import HttpConnection, ServerProcess, get, wait_for

CONNECTIONS = count(32, 128)
LOAD_SECONDS = budget(1.5, 8.0)  # load before the signal
GRACE = 8.0  # limits.shutdown_grace for these servers


def _report(name: str, text: str) -> None:
    print(f"\n[{name}] {text}")


def _run_load_until(load: LoadClient, seconds: float) -> None:
    start = time.monotonic()
    assert wait_for(lambda: load.stats.answered > CONNECTIONS, 10), "the load never got going"
    time.sleep(max(0.0, seconds - (time.monotonic() - start)))


def _in_flight(stats: LoadStats) -> int:
    return stats.sent - stats.answered - len(stats.lost)


@pytest.mark.slow
@pytest.mark.parametrize("workers", [None, 2], ids=["single-process", "two-workers"])
def test_sigterm_under_load_loses_nothing_and_exits_0_within_the_grace_period(workers):
    with ServerProcess(workers=workers, limits={"shutdown_grace": GRACE}) as server:
        load = LoadClient(server.port, CONNECTIONS).start()
        wrk = Wrk(server.port, LOAD_SECONDS + 2, connections=8).start()
        try:
            _run_load_until(load, LOAD_SECONDS)
            in_flight, slow_in_flight = _in_flight(load.stats), load.slow_in_flight()
            signalled = time.monotonic()
            server.signal(signal.SIGTERM)
            code = server.wait(GRACE + 10)
            took = time.monotonic() - signalled
            stats = load.stop()
        finally:
            load.stop()
            wrk_summary = wrk.result(timeout=LOAD_SECONDS + 10)
        _report(f"sigterm {workers or 1} process(es)", f"{stats.summary()} in_flight_at_signal={in_flight} "
                f"(slow: {slow_in_flight}) exit={code} took={took:.2f}s; wrk alongside: {wrk_summary}")
        assert slow_in_flight > 0, "no slow request was in flight when the signal landed: the test proves nothing"
        assert code == 0
        assert took < GRACE, "the drain should end well before the grace period"
        assert stats.wrong == []
        assert stats.lost == [], stats.lost[:5]
        assert stats.answered == stats.sent
        # Every connection open when the drain began was told: its last answer said Connection: close.
        assert stats.closed_by_server >= CONNECTIONS * 3 // 4


def _two_workers(server: ServerProcess, load: LoadStats) -> list[int]:
    pids = server.worker_pids()
    assert len(pids) == 2
    assert wait_for(lambda: all(load.pids[p] > 0 for p in pids), 10), "both workers should be serving"
    return pids


def _replacement(server: ServerProcess, old: list[int], load: LoadStats) -> int:
    """The worker that took the victim's place, once it has answered requests."""
    new: list[int] = []

    def replaced() -> bool:
        new[:] = [p for p in server.worker_pids() if p not in old]
        return len(new) == 1 and load.pids[new[0]] > 0

    assert wait_for(replaced, 15), f"no replacement worker served requests: {server.worker_pids()} {server.output()}"
    return new[0]


@pytest.mark.slow
def test_sigterm_to_one_worker_restarts_it_and_loses_nothing():
    with ServerProcess(workers=2, limits={"shutdown_grace": GRACE}) as server:
        load = LoadClient(server.port, CONNECTIONS).start()
        try:
            _run_load_until(load, LOAD_SECONDS)
            victim, survivor = _two_workers(server, load.stats)
            signalled = time.monotonic()
            os.kill(victim, signal.SIGTERM)
            assert wait_for(lambda: victim not in server.worker_pids(), GRACE + 5), "the worker did not exit"
            exited = time.monotonic() - signalled
            replacement = _replacement(server, [victim, survivor], load.stats)
            time.sleep(budget(0.5, 3.0))  # the replacement under load
            stats = load.stop()
        finally:
            load.stop()
        _report("sigterm one worker", f"{stats.summary()} worker_exit_after={exited:.2f}s "
                f"victim={victim} survivor={survivor} replacement={replacement}")
        assert server.proc is not None and server.proc.poll() is None, "the supervisor must keep running"
        assert stats.wrong == []
        assert stats.lost == [], stats.lost[:5]
        # The port never stopped accepting: no connection attempt was refused or reset unanswered.
        assert stats.refused == 0
        assert stats.pids[replacement] > 0 and stats.pids[survivor] > 0
        assert exited < GRACE
        server.signal(signal.SIGTERM)
        assert server.wait(GRACE + 10) == 0


@pytest.mark.slow
def test_kill_9_of_one_worker_fails_only_its_connections_and_it_comes_back():
    with ServerProcess(workers=2, limits={"shutdown_grace": GRACE}) as server:
        load = LoadClient(server.port, CONNECTIONS).start()
        try:
            _run_load_until(load, LOAD_SECONDS)
            victim, survivor = _two_workers(server, load.stats)
            served_before = dict(load.stats.pids)
            killed_at = time.monotonic()
            os.kill(victim, signal.SIGKILL)
            replacement = _replacement(server, [victim, survivor], load.stats)
            back_after = time.monotonic() - killed_at
            time.sleep(budget(0.5, 3.0))
            stats = load.stop()
        finally:
            load.stop()
        lost_reused = sum(1 for x in stats.lost if x.reused)
        _report("kill -9 one worker", f"{stats.summary()} lost_on_kept_alive={lost_reused} "
                f"lost_first_on_connection={len(stats.lost) - lost_reused} replacement_serving_after={back_after:.2f}s")
        assert server.proc is not None and server.proc.poll() is None, "the supervisor must keep running"
        assert stats.wrong == []
        # What fails is what the killed worker held: requests in its hands (each connection has one
        # at a time), never a request on a connection the survivor was serving.
        assert stats.lost, "requests in flight on the killed worker cannot have been answered"
        assert len(stats.lost) <= CONNECTIONS
        assert all(x.last_pid in (victim, None) for x in stats.lost), stats.lost[:5]
        # The server kept serving: the survivor answered after the kill, and the replacement too.
        assert stats.pids[survivor] > served_before.get(survivor, 0)
        assert stats.pids[replacement] > 0
        assert get(server.port, "/ping").text == "pong"
        server.signal(signal.SIGTERM)
        assert server.wait(GRACE + 10) == 0


@pytest.mark.slow
def test_connections_queued_for_a_dead_worker_are_served_by_its_replacement():
    """The supervisor owns the listening sockets: what the kernel queued for a worker outlives it."""
    queued = count(40, 200)
    with ServerProcess(workers=2) as server:
        victim, survivor = server.worker_pids()
        conns: list[HttpConnection] = []
        os.kill(victim, signal.SIGSTOP)  # it accepts nothing from now on
        try:
            for i in range(queued):
                conn = HttpConnection(server.port, timeout=15)
                conns.append(conn)
                conn.sock.sendall(b"GET /work?id=%d HTTP/1.1\r\nHost: t\r\n\r\n" % i)
            time.sleep(0.3)
            os.kill(victim, signal.SIGKILL)
            answers = [conn.read_response().text.split() for conn in conns]
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.kill(victim, signal.SIGKILL)
            for conn in conns:
                conn.close()
        by_pid = Counter(int(pid) for _, pid in answers)
        _report("queued for a dead worker", f"{queued} connections made while worker {victim} was stopped, "
                f"then it was killed: answered by {dict(by_pid)}")
        assert [int(rid) for rid, _ in answers] == list(range(queued))
        assert victim not in by_pid
        assert set(by_pid) - {survivor}, "none was queued for the stopped worker: the test proves nothing"
        assert server.proc is not None and server.proc.poll() is None
