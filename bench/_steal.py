"""Steal time: CPU time the hypervisor gave to another guest while ours wanted it.

On a shared VM a neighbour's burst takes a CPU away for tens of seconds at a time (seen
here: 20-75% of both CPUs for 30 s, and throughput down to a tenth); a run measured then
says more about the neighbour than about the server. The runner reads each CPU's steal
time (``/proc/stat``) around every measured run and measures a run again when the
hypervisor took more than ``STEAL_LIMIT`` of a CPU the run used.
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

PROC_STAT = Path("/proc/stat")
#: A measured run during which the hypervisor took more than this share of the server's or
#: wrk's CPU is measured again.
STEAL_LIMIT = 0.02
#: How many times a run is measured again at most (a resident scenario's short runs; the
#: others), and the seconds waited before the first new try; each later try waits longer
#: (``retry_pause``), since a spell lasts tens of seconds.
RETRIES_RESIDENT, RETRIES_OTHER, RETRY_PAUSE_S = 5, 2, 3.0
#: The longest wait before a new try.
RETRY_PAUSE_MAX_S = 20.0

#: Per CPU: (steal, total) in clock ticks.
CpuTimes = dict[int, tuple[int, int]]


def cpu_times(stat: Path = PROC_STAT) -> CpuTimes:
    """Each CPU's steal and total time so far; empty where ``/proc/stat`` cannot be read."""
    times: CpuTimes = {}
    try:
        lines = stat.read_text().splitlines()
    except OSError:
        return times
    for line in lines:
        name, *fields = line.split()
        if not name.startswith("cpu") or name == "cpu" or not name[3:].isdigit():
            continue
        ticks = [int(value) for value in fields[:8]]  # user … steal (guest is counted in user)
        if len(ticks) == 8:
            times[int(name[3:])] = (ticks[7], sum(ticks))
    return times


def retry_pause(attempt: int) -> float:
    """Seconds to wait before try ``attempt`` + 1 (``attempt`` ≥ 1): 3, 9, 20, 20, …"""
    return min(RETRY_PAUSE_S * 3 ** (attempt - 1), RETRY_PAUSE_MAX_S)


def steal_share(before: CpuTimes, after: CpuTimes, cpus: Collection[int]) -> float:
    """The highest share of its time the hypervisor took from any of ``cpus`` between the two
    readings (0.0 when neither reading knows a CPU)."""
    shares = [0.0]
    for cpu in cpus:
        if cpu in before and cpu in after:
            steal = after[cpu][0] - before[cpu][0]
            total = after[cpu][1] - before[cpu][1]
            if total > 0:
                shares.append(steal / total)
    return max(shares)
