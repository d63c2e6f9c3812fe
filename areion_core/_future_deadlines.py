"""``hook_timeout`` for the plain futures hooks return: one loop timer for all of them.

A loop timer costs about 9k instructions to arm and cancel (uvloop allocates a libuv timer
and closes it through the loop), more than the rest of a suspended hook's way; and almost
every such future (a rate-limit store's answer) is done long before its deadline. Every future
waiting under one ``hook_timeout`` in one loop gets its deadline in the order it started, so
the deadlines queue in order: a future joins the queue's end, and one timer, set for the
oldest deadline, cancels the futures whose time is up and sets itself for the next. The
futures already done are dropped as the queue is walked, from its front when one joins, and
all of them whenever the queue has doubled (a future stuck at the front keeps it long).
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

#: The message of the cancellation a future's deadline makes (it tells the expiry from a
#: cancellation of the request, which cancels the future with its own, or throws a fresh one).
EXPIRED = "hook_timeout expired"
_COMPACT_AT = 1024


class FutureDeadlines:
    """The futures waiting under one ``limit`` in one loop, cancelled with ``EXPIRED`` at their deadline."""

    __slots__ = ("_compact_at", "_pending", "_timer", "limit", "loop")

    def __init__(self, loop: asyncio.AbstractEventLoop, limit: float) -> None:
        self.loop = loop
        self.limit = limit
        self._pending: deque[tuple[float, asyncio.Future[Any]]] = deque()
        self._timer: asyncio.TimerHandle | None = None
        self._compact_at = _COMPACT_AT

    def add(self, future: asyncio.Future[Any]) -> None:
        """Cancel ``future`` in ``limit`` seconds unless it is done by then."""
        pending = self._pending
        while pending and pending[0][1].done():
            pending.popleft()
        if len(pending) >= self._compact_at:
            self._compact()
        pending.append((self.loop.time() + self.limit, future))
        if self._timer is None:
            self._timer = self.loop.call_at(pending[0][0], self._expire)

    def _compact(self) -> None:
        self._pending = deque(entry for entry in self._pending if not entry[1].done())
        self._compact_at = max(_COMPACT_AT, 2 * len(self._pending))

    def _expire(self) -> None:
        self._timer = None
        pending = self._pending
        now = self.loop.time()
        while pending:
            deadline, future = pending[0]
            if future.done():
                pending.popleft()
            elif deadline <= now:
                pending.popleft()
                future.cancel(EXPIRED)
            else:
                self._timer = self.loop.call_at(deadline, self._expire)
                return

    def __len__(self) -> int:
        return len(self._pending)


_current: FutureDeadlines | None = None


def expire_at(future: asyncio.Future[Any], limit: float) -> None:
    """Cancel ``future`` with ``EXPIRED`` in ``limit`` seconds unless it is done by then."""
    global _current
    deadlines = _current
    loop = future.get_loop()
    if deadlines is None or deadlines.loop is not loop or deadlines.limit != limit:
        # One app in one loop is the rule; another (a test's) takes the slot, and the queue it
        # replaces keeps its timer until its futures are done or expired.
        deadlines = _current = FutureDeadlines(loop, limit)
    deadlines.add(future)
