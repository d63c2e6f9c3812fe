"""What keeps a worker healthy: keepalive pings, the slow-consumer policy, the metrics, and a
Redis restart in the middle of a broadcast."""

from __future__ import annotations

import struct
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx
from websockets.sync.client import connect

from areion_core import Metric, StandardMetrics, Telemetry, hookimpl
from areion_core.testing import LiveServer
from tests._redis import RedisServer

from ._realtime_app import OUTCOMES, live_ws, make_server, ws_url
from ._ws_raw import CLOSE, PING, frame, open_raw, read_frame

__all__ = ["live_ws"]

Live = Callable[..., LiveServer]


def test_a_client_that_never_answers_pings_is_closed_1011(live_ws: Live) -> None:
    live = live_ws(ping_interval=0.2, ping_timeout=0.3)
    sock, _ = open_raw(live.port, "/ws/wait")
    with sock:
        assert read_frame(sock)[1:] == (1, b"ready")
        _, opcode, payload = read_frame(sock)
        assert opcode == PING and len(payload) == 4
        _, opcode, payload = read_frame(sock)  # no pong from us: the timeout closes
        assert opcode == CLOSE and struct.unpack("!H", payload[:2])[0] == 1011


def test_a_client_that_answers_pings_stays(live_ws: Live) -> None:
    live = live_ws(ping_interval=0.1, ping_timeout=0.3)
    with connect(ws_url(live, "/ws/echo"), ping_interval=None) as ws:  # the library answers pings
        time.sleep(1.0)
        ws.send("still here")
        assert ws.recv(5) == "still here"


def test_a_client_that_does_not_read_is_closed_1008(live_ws: Live) -> None:
    OUTCOMES.clear()
    live = live_ws(send_timeout=0.5)
    sock, _ = open_raw(live.port, "/ws/flood")
    with sock:
        deadline = time.monotonic() + 20
        while "flood" not in OUTCOMES and time.monotonic() < deadline:
            time.sleep(0.05)  # never reading: the kernel's buffers fill, then the server's
    assert OUTCOMES.get("flood") == 1008


class Recorder(Telemetry):
    """A recorder like areion-observability's, counting in memory."""

    enabled = True

    def __init__(self) -> None:
        self.values: Counter[tuple[str, tuple[tuple[str, str], ...]]] = Counter()

    def inc(self, metric: Metric, amount: float = 1.0, **labels: str) -> None:
        self.values[metric.name, tuple(sorted(labels.items()))] += amount

    def dec(self, metric: Metric, amount: float = 1.0, **labels: str) -> None:
        self.values[metric.name, tuple(sorted(labels.items()))] -= amount


class RecorderPlugin:
    name = "recorder"

    def __init__(self) -> None:
        self.recorder = Recorder()

    @hookimpl
    def configure(self, app: Any, config: Any) -> None:
        app.telemetry = self.recorder


def test_open_sockets_and_messages_are_reported() -> None:
    plugin = RecorderPlugin()
    values = plugin.recorder.values
    route = (("route", "/ws/echo"),)
    with LiveServer(make_server(plugin)) as live:
        with connect(ws_url(live, "/ws/echo")) as ws:
            for text in ("a", "b"):
                ws.send(text)
                assert ws.recv(5) == text
            assert values[StandardMetrics.websockets_open.name, route] == 1
        deadline = time.monotonic() + 5
        while values[StandardMetrics.websockets_open.name, route] and time.monotonic() < deadline:
            time.sleep(0.02)
        assert values[StandardMetrics.websockets_open.name, route] == 0
    messages = StandardMetrics.websocket_messages.name
    assert values[messages, (("direction", "in"), *route)] == 2
    assert values[messages, (("direction", "out"), *route)] == 2


def test_a_redis_restart_during_a_broadcast(own_redis: RedisServer) -> None:
    """Published every 30 ms while Redis stops and starts: each publish that was acknowledged
    reaches the subscriber, and the stream goes on after the restart."""
    with LiveServer(make_server(backend="redis", url=own_redis.url)) as live:
        acknowledged: list[str] = []
        refused = 0
        stop = threading.Event()

        def publish() -> None:
            nonlocal refused
            n = 0
            while not stop.is_set():
                n += 1
                answer = httpx.post(f"{live.url}/publish/bcast", content=f"m{n}", timeout=5)
                if answer.status_code == 200:
                    acknowledged.append(f"m{n}")
                else:
                    assert answer.status_code == 503 and "unreachable" in answer.json()["detail"]
                    refused += 1
                time.sleep(0.03)

        received: list[str] = []
        with httpx.stream("GET", f"{live.url}/events/bcast", timeout=10) as events:
            publisher = threading.Thread(target=publish)
            publisher.start()
            try:
                time.sleep(0.5)
                own_redis.stop()
                time.sleep(0.7)
                own_redis.start()
                after_restart = len(acknowledged) + 10  # publishing works again, ten times over
                deadline = time.monotonic() + 10
                while time.monotonic() < deadline and len(acknowledged) < after_restart:
                    time.sleep(0.05)
            finally:
                stop.set()
                publisher.join()
            last = acknowledged[-1]
            buffer = ""
            for chunk in events.iter_text():
                buffer += chunk
                received = [line[6:] for line in buffer.splitlines() if line.startswith("data: ")]
                if last in received:
                    break
        assert refused > 0, "Redis was down for a while: some publishes must have been refused"
        assert acknowledged and set(acknowledged) <= set(received)
        assert received.index(acknowledged[-1]) > 0


def test_a_handler_that_does_not_read_pauses_the_client(live_ws: Live) -> None:
    """``receive_queue`` whole messages wait for the handler; then the socket is not read and the
    client's sends block (TCP back-pressure) instead of growing the server's memory."""
    live = live_ws(receive_queue=4)
    sock, _ = open_raw(live.port, "/ws/wait_forever")
    with sock:
        sock.sock.settimeout(1.5)
        sent = 0
        message = frame(1, b"x" * 65536)
        try:
            for _ in range(2000):  # 128 MiB: far more than the kernel buffers hold
                sock.sendall(message)
                sent += 1
        except TimeoutError:
            pass
        assert 4 < sent < 2000
