"""Server-sent events from a channel: an ``id:`` per event, ``Last-Event-ID`` resume, heartbeats.

A browser's ``EventSource`` reconnects by itself after a drop and sends the id of the last
event it got as ``Last-Event-ID``; the stream then starts with what the channel kept after
that id (its history: ``history_size``), so nothing in between is lost. Comment lines
(``: heartbeat``) every ``heartbeat`` seconds keep proxies from closing an idle stream and
let the server notice a client that has gone.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from areion_core import StreamingResponse

if TYPE_CHECKING:
    from areion_core import HttpRequest

    from .channels import ChannelMessage, Channels


def format_event(message: ChannelMessage, event: str | None = None) -> bytes:
    """One event: ``id:``, optional ``event:``, a ``data:`` line per line of text, a blank line."""
    lines = [f"id: {message.id}"]
    if event:
        lines.append(f"event: {event}")
    lines.extend(f"data: {line}" for line in message.data.replace("\r\n", "\n").replace("\r", "\n").split("\n"))
    return ("\n".join(lines) + "\n\n").encode()


def last_event_id(request: HttpRequest) -> str | None:
    """Where a client resumes: the ``Last-Event-ID`` header (or a ``last_event_id`` query parameter,
    for a first connection that already knows where it was)."""
    value = request.headers.get("last-event-id") or request.query_params.get("last_event_id")
    return value.strip() or None if value else None


def sse_response(channels: Channels, channel: str, request: HttpRequest, *, heartbeat: float = 15.0,
                 event: str | None = None, retry: int | None = None) -> StreamingResponse:
    """A ``text/event-stream`` response of ``channel``'s messages, resumed after ``Last-Event-ID``.

    ``heartbeat``: seconds between comment lines when nothing is published; ``event``: an
    ``event:`` name for every message; ``retry``: the reconnection delay (ms) to tell the client.
    """
    if heartbeat <= 0:
        raise ValueError("heartbeat must be > 0 seconds")
    resume = last_event_id(request)

    async def events() -> AsyncIterator[bytes]:
        # The first bytes go out at once: the client knows it is connected (and proxies flush).
        yield (f"retry: {retry}\n" if retry is not None else "").encode() + b": connected\n\n"
        conn = request.conn
        # A client that left is noticed within a second or two, not at the next heartbeat: its
        # stream would otherwise hold a worker's shutdown drain for the whole grace period.
        tick = min(heartbeat, 1.0)
        async with channels.subscribe(channel, last_id=resume) as messages:
            iterator = messages.__aiter__()
            idle = 0.0
            while True:
                try:
                    message = await asyncio.wait_for(iterator.__anext__(), tick)
                except TimeoutError:
                    if conn is not None and conn.closed:
                        return
                    idle += tick
                    if conn is not None and not conn.keep_alive:
                        # The client half-closed (or asked for Connection: close): an empty
                        # comment each tick finds out whether it is still there to read.
                        yield b":\n\n"
                        continue
                    if idle >= heartbeat:
                        idle = 0.0
                        yield b": heartbeat\n\n"
                    continue
                except StopAsyncIteration:
                    return
                idle = 0.0
                yield format_event(message, event)

    return StreamingResponse(events(), content_type="text/event-stream", headers={
        # no-transform: a compressing proxy or plugin must not buffer the events.
        "Cache-Control": "no-cache, no-transform",
        "X-Accel-Buffering": "no",
    })
