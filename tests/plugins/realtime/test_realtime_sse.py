"""Server-sent events from a channel on the real server: an id per event, multi-line data,
Last-Event-ID resume from the channel's history, heartbeats while nothing is published."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import httpx
from areion_realtime import ChannelMessage, format_event

from areion_core.testing import LiveServer

from ._realtime_app import live_ws

__all__ = ["live_ws"]

Live = Callable[..., LiveServer]


def read_events(response: httpx.Response, count: int, heartbeats: bool = False) -> Iterator[str]:
    """The raw blocks (events and comments) of a text/event-stream, ``count`` of them."""
    buffer = ""
    for chunk in response.iter_text():
        buffer += chunk
        while "\n\n" in buffer and count:
            block, buffer = buffer.split("\n\n", 1)
            if block == ": heartbeat" and not heartbeats:
                continue
            count -= 1
            yield block
        if not count:
            return


def publish_later(url: str, channel: str, texts: list[str], delay: float = 0.3) -> threading.Thread:
    def run() -> None:
        time.sleep(delay)
        for text in texts:
            httpx.post(f"{url}/publish/{channel}", content=text)

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_events_have_ids_and_resume_after_last_event_id(live_ws: Live) -> None:
    live = live_ws()
    ids = [httpx.post(f"{live.url}/publish/news", content=f"n{i}").json()["id"] for i in range(3)]
    with httpx.stream("GET", f"{live.url}/events/news", headers={"Last-Event-ID": ids[0]}, timeout=10) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert "no-cache" in response.headers["cache-control"]
        thread = publish_later(live.url, "news", ["two\nlines"])
        blocks = list(read_events(response, 4))
        thread.join()
    assert blocks[0] == "retry: 1500\n: connected"
    assert blocks[1] == f"id: {ids[1]}\ndata: n1"
    assert blocks[2] == f"id: {ids[2]}\ndata: n2"
    assert blocks[3].startswith("id: ") and blocks[3].endswith("\ndata: two\ndata: lines")


def test_without_last_event_id_only_new_messages_come(live_ws: Live) -> None:
    live = live_ws()
    httpx.post(f"{live.url}/publish/fresh", content="old")
    with httpx.stream("GET", f"{live.url}/events/fresh", timeout=10) as response:
        thread = publish_later(live.url, "fresh", ["new"])
        blocks = list(read_events(response, 2))
        thread.join()
    assert blocks[1].endswith("data: new")


def test_heartbeats_while_idle(live_ws: Live) -> None:
    live = live_ws()
    with httpx.stream("GET", f"{live.url}/events/quiet", timeout=10) as response:
        blocks = list(read_events(response, 3, heartbeats=True))
    assert blocks[1:] == [": heartbeat", ": heartbeat"]


def test_format_event() -> None:
    assert format_event(ChannelMessage("7", "c", "a\r\nb"), "chat") == b"id: 7\nevent: chat\ndata: a\ndata: b\n\n"
