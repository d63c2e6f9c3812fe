"""The thread pool behind plain-function tasks and jobs: daemon threads, so shutdown can end.

``concurrent.futures.ThreadPoolExecutor`` joins its threads when the interpreter exits, so a
function still running after ``shutdown_timeout`` would keep the process alive until it
returns (a 10 s job held a server with a 3 s timeout for 10.9 s). A thread cannot be
interrupted, so there are two choices: wait for it, or let the process exit without it. This
pool takes the second: its threads are daemon threads, which the interpreter abandons at exit.
The orchestrator logs such a function as abandoned (never as cancelled) and keeps the
scheduler lease until it returns or the process exits (see ``orchestrator.shutdown``).

The cost, which the README states: a function abandoned at exit stops wherever it is, without
its ``finally`` blocks running. Work that must not be cut short has to finish within
``shutdown_timeout`` (or be safe to run again).
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Any, TypeVar

T = TypeVar("T")

#: One unit of work: the future to settle and the call to make (``None`` tells a thread to end).
_WorkItem = tuple[Future[Any], Callable[..., Any], tuple[Any, ...], dict[str, Any]]


class DaemonThreadPool(Executor):
    """At most ``max_workers`` daemon threads, started on demand, running submitted calls in
    FIFO order; an ``Executor``, so ``loop.run_in_executor`` and ``submit`` work as usual."""

    def __init__(self, max_workers: int, thread_name_prefix: str = "areion-task") -> None:
        if max_workers < 1:
            raise ValueError("max_workers must be at least 1")
        self.max_workers = max_workers
        self._prefix = thread_name_prefix
        self._queue: queue.SimpleQueue[_WorkItem | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        # Released by a thread each time it finishes a call: a thread free for the next one.
        self._idle = threading.Semaphore(0)
        self._lock = threading.Lock()
        self._shut = False

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        future: Future[T] = Future()
        with self._lock:
            if self._shut:
                raise RuntimeError("cannot schedule new futures after shutdown")
            self._queue.put((future, fn, args, kwargs))
            # Reuse an idle thread when there is one, as ThreadPoolExecutor does.
            if not self._idle.acquire(blocking=False) and len(self._threads) < self.max_workers:
                thread = threading.Thread(target=self._work, daemon=True,
                                          name=f"{self._prefix}-{len(self._threads)}")
                self._threads.append(thread)
                thread.start()
        return future

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                self._queue.put(None)  # wake the next thread: they all end
                return
            future, fn, args, kwargs = item
            del item
            if future.set_running_or_notify_cancel():
                try:
                    result = fn(*args, **kwargs)
                except BaseException as exc:
                    future.set_exception(exc)
                else:
                    future.set_result(result)
            del future, fn, args, kwargs  # do not pin the last call's arguments while idle
            self._idle.release()

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Refuse new calls; with ``cancel_futures`` drop those not started; threads end once
        idle. ``wait`` joins them (a call still running keeps ``shutdown`` waiting, not the
        process)."""
        with self._lock:
            self._shut = True
            if cancel_futures:
                with contextlib.suppress(queue.Empty):
                    while True:
                        item = self._queue.get_nowait()
                        if item is not None:
                            item[0].cancel()
            self._queue.put(None)
            threads = list(self._threads)
        if wait:
            for thread in threads:
                thread.join()
