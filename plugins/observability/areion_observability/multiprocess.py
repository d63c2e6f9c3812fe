"""Metrics across ``--workers N``: prometheus-client's multiprocess mode, set up by the workers.

Each worker writes its values to memory-mapped files in one directory
(``PROMETHEUS_MULTIPROC_DIR``) and a scrape, whichever worker answers it, reads them all. A
worker that exits leaves its files behind: its counters and histograms keep counting in the
sum, so a restarted worker never makes a counter go backwards for the scraper; its live
gauges (requests in flight, open WebSockets) are removed (``mark_process_dead``) when the
worker stops, or at the next scrape when it died without stopping.

The directory is chosen in each worker when its first metric is made (at the latest at the
plugin's ``startup``), not by the supervisor: a worker then knows it is one
(``app.worker_count > 1``, which ``areion run --workers N`` sets only after the app is built)
and who its supervisor is (its parent). All workers of one supervisor meet in
``<tmp>/areion-metrics-<uid>-<supervisor pid>-<its start time>`` (the start time: a later
supervisor that happens to get the same pid starts from zero); the directories of
supervisors that are gone are removed by the next one's workers. A directory given in
``PROMETHEUS_MULTIPROC_DIR`` is used as it is (and left alone).
"""

from __future__ import annotations

import contextlib
import glob
import os
import re
import shutil
import tempfile

from prometheus_client import CollectorRegistry, values
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

from areion_core import PluginApp

ENV = "PROMETHEUS_MULTIPROC_DIR"
_PREFIX = "areion-metrics-"
_LIVE_FILE = re.compile(r"gauge_live\w*?_(\d+)\.db$")


def worker_directory(worker_count: int) -> str | None:
    """Switch this process to multiprocess mode when it is one of several workers; the directory.

    Call before any metric is created: prometheus-client picks the kind of value a metric
    stores when the metric (or a label child) is made.
    """
    path = os.environ.get(ENV) or os.environ.get(ENV.lower())
    if not path:
        if worker_count <= 1:
            return None
        supervisor = os.getppid()
        base = os.path.join(tempfile.gettempdir(), f"{_PREFIX}{os.getuid()}-")
        path = f"{base}{supervisor}-{_start_time(supervisor)}"
        os.makedirs(path, mode=0o700, exist_ok=True)
        _remove_orphans(base, keep=path)
        os.environ[ENV] = path
    if values.ValueClass is values.MutexValue:  # prometheus_client was imported before the variable was set
        values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call]
    return path


class MultiprocessMode:
    """Decides once per process, at the first metric made (or at startup), where values live.

    Not in ``configure``: ``areion run --workers N`` sets ``app.worker_count`` after building
    the app. The first metric may come before this plugin's ``startup`` hook (the scheduler's
    lease gauge is set when the orchestrator starts, before any plugin's startup), so the
    recorder asks too.
    """

    def __init__(self, app: PluginApp) -> None:
        self.app = app
        self.decided = False
        #: The shared directory, or None: this process keeps its metrics in memory.
        self.directory: str | None = None

    def ensure(self) -> str | None:
        """The directory (deciding now if not yet)."""
        if not self.decided:
            self.decided = True
            self.directory = worker_directory(self.app.worker_count)
        return self.directory


def scrape_registry(path: str) -> CollectorRegistry:
    """A registry that reads every worker's files (made per scrape, as prometheus-client advises)."""
    _forget_dead(path)
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path)  # type: ignore[no-untyped-call]
    return registry


def process_stopped(path: str) -> None:
    """This worker stops: its live gauges leave the sums (counters stay, as they must)."""
    mark_process_dead(os.getpid(), path)  # type: ignore[no-untyped-call]


def _forget_dead(path: str) -> None:
    """Remove the live gauges of workers that died without stopping (killed, crashed)."""
    for file in glob.glob(os.path.join(path, "gauge_live*.db")):
        match = _LIVE_FILE.search(file)
        if match is not None and not _alive(int(match.group(1))):
            mark_process_dead(int(match.group(1)), path)  # type: ignore[no-untyped-call]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _start_time(pid: int) -> str:
    """The process's start time in clock ticks since boot (Linux), "0" where unknown."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().rpartition(")")[2].split()[19]
    except (OSError, IndexError):
        return "0"


def _remove_orphans(base: str, keep: str) -> None:
    """Remove the directories of supervisors that are gone."""
    for path in glob.glob(base + "*"):
        if path == keep:
            continue
        pid, _, started = path[len(base):].partition("-")
        with contextlib.suppress(ValueError):
            if not _alive(int(pid)) or _start_time(int(pid)) != started:
                shutil.rmtree(path, ignore_errors=True)
