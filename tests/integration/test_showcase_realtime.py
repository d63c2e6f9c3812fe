"""The showcase's realtime routes: /ws/echo, /ws/rooms/:room, /events/rooms/:room and /chat —
in one process with memory channels, across two processes on one Redis, and in Chromium."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from areion_core.testing import LiveServer
from tests.integration._browser import PageRecorder
from tests.integration._showcase_processes import ShowcaseProcess


@pytest.fixture(scope="module")
def live() -> Iterator[LiveServer]:
    from examples.showcase.app import server

    server.app.set_access_log(False)
    with LiveServer(server) as running:
        yield running


def ws(live: LiveServer) -> str:
    return live.url.replace("http://", "ws://", 1)


def test_echo_text_binary_deflate_and_the_limit(live: LiveServer) -> None:
    with connect(ws(live) + "/ws/echo") as socket:
        assert "permessage-deflate" in socket.response.headers["Sec-WebSocket-Extensions"]
        socket.send("text")
        assert socket.recv(5) == "text"
        socket.send(b"\x00binary")
        assert socket.recv(5) == b"\x00binary"
        socket.send(b"x" * (1 << 20))
        assert socket.recv(5) == b"x" * (1 << 20)
        socket.send(b"x" * ((1 << 20) + 1))
        with pytest.raises(ConnectionClosed):
            socket.recv(5)
        assert socket.close_code == 1009


def test_echo_origins_and_a_plain_get(live: LiveServer) -> None:
    for origin in (live.url, "http://localhost:3000"):
        with connect(ws(live) + "/ws/echo", origin=origin) as socket:  # type: ignore[arg-type]
            socket.send("ok")
            assert socket.recv(5) == "ok"
    with pytest.raises(InvalidStatus) as refused:
        connect(ws(live) + "/ws/echo", origin="https://attacker.example")  # type: ignore[arg-type]
    assert refused.value.response.status_code == 403
    plain = httpx.get(live.url + "/ws/echo")
    assert plain.status_code == 426 and plain.headers["upgrade"] == "websocket"
    assert plain.headers["content-type"] == "application/problem+json"


def test_a_room_reaches_every_member_and_its_event_stream(live: LiveServer) -> None:
    with connect(ws(live) + "/ws/rooms/lounge") as alice, connect(ws(live) + "/ws/rooms/lounge") as bob, \
            connect(ws(live) + "/ws/rooms/elsewhere") as other:
        alice.send("hello from alice")
        assert alice.recv(5) == "hello from alice"  # the sender too
        assert bob.recv(5) == "hello from alice"
        bob.send("hi alice")
        assert alice.recv(5) == bob.recv(5) == "hi alice"
        with pytest.raises(TimeoutError):
            other.recv(0.3)
    with httpx.stream("GET", live.url + "/events/rooms/lounge", headers={"Last-Event-ID": "0"}, timeout=5) as events:
        text = ""
        for chunk in events.iter_text():
            text += chunk
            if "hi alice" in text:
                break
    assert "data: hello from alice" in text and "data: hi alice" in text and "\nid: " in "\n" + text


def test_a_bad_room_name_is_refused(live: LiveServer) -> None:
    with pytest.raises(InvalidStatus) as refused:
        connect(ws(live) + "/ws/rooms/" + "x" * 65)
    assert refused.value.response.status_code == 403
    assert httpx.get(live.url + "/events/rooms/" + "x" * 65).status_code == 404


# --- two processes on one Redis ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def two_processes(tmp_path_factory: pytest.TempPathFactory, redis_server: object) -> Iterator[list[ShowcaseProcess]]:
    url = redis_server.url  # type: ignore[attr-defined]
    logs = tmp_path_factory.mktemp("showcase")
    env = {"SHOWCASE_CHANNELS": "redis", "SHOWCASE_REDIS_URL": url}
    started: list[ShowcaseProcess] = []
    try:
        for name in ("a", "b"):
            started.append(ShowcaseProcess(Path(logs) / f"{name}.log", env))
        yield started
    finally:
        for process in started:
            process.stop()


@pytest.mark.slow
def test_a_message_published_on_one_process_reaches_the_other(two_processes: list[ShowcaseProcess]) -> None:
    a, b = two_processes
    with connect(a.ws_url + "/ws/rooms/across") as on_a, connect(b.ws_url + "/ws/rooms/across") as on_b:
        on_b.send("from b")
        assert on_a.recv(5) == "from b"
        assert on_b.recv(5) == "from b"
        posted = httpx.post(a.url + "/rooms/across/messages", content="posted on a").json()
        assert on_b.recv(5) == on_a.recv(5) == "posted on a"
    with httpx.stream("GET", b.url + "/events/rooms/across", headers={"Last-Event-ID": "0-0"}, timeout=5) as events:
        text = ""
        for chunk in events.iter_text():
            text += chunk
            if "posted on a" in text:
                break
    assert f"id: {posted['id']}\ndata: posted on a" in text


@pytest.mark.browser
@pytest.mark.slow
def test_chat_pages_on_two_processes_see_each_other(browser: object, two_processes: list[ShowcaseProcess]) -> None:
    a, b = two_processes
    first, second = PageRecorder(browser), PageRecorder(browser)  # type: ignore[arg-type]
    try:
        for recorder, process in ((first, a), (second, b)):
            assert recorder.goto(process.url + "/chat?room=browsers").status == 200
            recorder.page.wait_for_function("document.getElementById('status').textContent === 'connected'")
        first.page.fill("#text", "hello from the first page")
        first.page.press("#text", "Enter")
        second.page.fill("#text", "and from the second")
        second.page.click("button[type=submit]")
        for recorder in (first, second):
            log = recorder.page.locator("#log li")
            log.nth(1).wait_for()
            assert set(log.all_inner_texts()) == {"hello from the first page", "and from the second"}
        first.assert_clean()
        second.assert_clean()
    finally:
        first.close()
        second.close()


@pytest.mark.browser
def test_chat_pages_in_one_process(recorder: PageRecorder, browser: object, live: LiveServer) -> None:
    other = PageRecorder(browser)  # type: ignore[arg-type]
    try:
        for page in (recorder, other):
            assert page.goto(live.url + "/chat?room=solo").status == 200
            page.page.wait_for_function("document.getElementById('status').textContent === 'connected'")
        other.page.fill("#text", "ping")
        other.page.press("#text", "Enter")
        for page in (recorder, other):
            page.page.locator("#log li").first.wait_for()
            assert page.page.locator("#log li").all_inner_texts() == ["ping"]
        recorder.assert_only_host(live.url)
        recorder.assert_clean()
    finally:
        other.close()


@pytest.mark.browser
@pytest.mark.slow
def test_chat_pages_with_two_workers_and_redis(browser: object, tmp_path: Path, redis_url: str) -> None:
    """`areion run --workers 2` with Redis channels: pages see each other's messages whichever
    worker the kernel gave each WebSocket (SO_REUSEPORT spreads them)."""
    process = ShowcaseProcess(tmp_path / "workers.log", {"SHOWCASE_CHANNELS": "redis", "SHOWCASE_REDIS_URL": redis_url},
                              workers=2)
    pages = [PageRecorder(browser) for _ in range(3)]  # type: ignore[arg-type]
    try:
        for recorder in pages:
            assert recorder.goto(process.url + "/chat?room=workers").status == 200
            recorder.page.wait_for_function("document.getElementById('status').textContent === 'connected'")
        for n, recorder in enumerate(pages):
            recorder.page.fill("#text", f"page {n}")
            recorder.page.press("#text", "Enter")
        for recorder in pages:
            log = recorder.page.locator("#log li")
            log.nth(2).wait_for()
            assert sorted(log.all_inner_texts()) == ["page 0", "page 1", "page 2"]
            recorder.assert_clean()
    finally:
        for recorder in pages:
            recorder.close()
        process.stop()
