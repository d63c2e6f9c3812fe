"""Flow control for one connection: back-pressure on reading and on writing.

Reading pauses while requests wait to be answered (``max_pipelined`` of them) or while the
client is not taking its responses; a handler streaming a body waits in :meth:`drain` while
the transport's write buffer is above its high-water mark.
"""

from __future__ import annotations

import asyncio
from typing import Any


class FlowControl:
    """Pauses and resumes a transport's reading, and lets writers wait for its buffer to empty."""

    __slots__ = ("_waiter", "loop", "read_paused", "stalled_at", "transport", "write_paused")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        # Typed loosely: uvloop's transports are not asyncio.Transport subclasses.
        self.transport: Any = None
        self.read_paused = False
        self.write_paused = False
        #: When the transport last asked us to stop writing (the server's clock).
        self.stalled_at = 0.0
        self._waiter: asyncio.Future[None] | None = None

    def pause_reading(self) -> None:
        transport = self.transport
        if not self.read_paused and transport is not None and not transport.is_closing():
            self.read_paused = True
            transport.pause_reading()

    def resume_reading(self) -> None:
        transport = self.transport
        if self.read_paused and transport is not None and not transport.is_closing():
            self.read_paused = False
            transport.resume_reading()

    def writing_paused(self, now: float) -> None:
        """The transport's buffer went above the high-water mark."""
        self.write_paused = True
        self.stalled_at = now

    def writing_resumed(self) -> None:
        """The transport's buffer went below the low-water mark: wake whoever waits in drain()."""
        self.write_paused = False
        self.wake()

    def wake(self) -> None:
        """Release a writer waiting in drain() (the buffer emptied, or the connection is gone)."""
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def drain(self) -> None:
        """Wait until the transport's write buffer is below its high-water mark."""
        if self.write_paused:
            waiter = self._waiter
            if waiter is None or waiter.done():
                waiter = self._waiter = self.loop.create_future()
            await waiter
