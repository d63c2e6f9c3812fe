"""The request-id plugin among other plugins: ordering, short-circuits, replacements, failures.

The other plugins here are small objects registered directly with ``with_plugins``; the
request-id plugin still comes from its entry point. Registration order is: built-ins, then
entry-point plugins (by name), then ``with_plugins`` objects in the order given.
"""

from __future__ import annotations

import logging

import pytest

from areion_core import HttpRequest, HttpResponse, hookimpl
from areion_core.testing import TestClient
from examples.plugin_example.tests._request_id_support import Build, Calls


class Recorder:
    """Notes, in a shared list, that its response_ready ran and whether the id was there yet."""

    def __init__(self, name: str, seen: list[tuple[str, bool]]) -> None:
        self.name = name
        self.seen = seen

    @hookimpl
    def response_ready(self, request: HttpRequest, response: HttpResponse) -> None:
        self.seen.append((self.name, "x-request-id" in response.headers))


class FirstRecorder(Recorder):
    @hookimpl(tryfirst=True)
    def response_ready(self, request: HttpRequest, response: HttpResponse) -> None:
        self.seen.append((self.name, "x-request-id" in response.headers))


class LastRecorder(Recorder):
    @hookimpl(trylast=True)
    def response_ready(self, request: HttpRequest, response: HttpResponse) -> None:
        self.seen.append((self.name, "x-request-id" in response.headers))


def test_tryfirst_trylast_and_registration_order(build: Build) -> None:
    seen: list[tuple[str, bool]] = []
    plugins = (Recorder("a", seen), Recorder("b", seen), FirstRecorder("first", seen), LastRecorder("last", seen))
    with TestClient(build(*plugins)) as client:
        response = client.get("/hello")
    # tryfirst first; plain impls last-registered first (b before a); then the trylast impls
    # in the order they were registered: request_id (an entry point, registered before any
    # with_plugins object) stamps the id, and "last" sees it.
    assert seen == [("first", False), ("b", False), ("a", False), ("last", True)]
    assert "x-request-id" in response.headers


class Wrap:
    """Replaces the response with one whose body wraps the previous body in ``tag(...)``."""

    def __init__(self, tag: str) -> None:
        self.name = f"wrap_{tag}"
        self.tag = tag

    @hookimpl
    async def response_ready(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        body = self.tag.encode() + b"(" + response.body + b")"
        return HttpResponse(body, response.status_code, "text/plain")


class Keep:
    """Looks, changes a header in place, and returns None: the response so far is kept."""

    name = "keep"

    @hookimpl
    def response_ready(self, request: HttpRequest, response: HttpResponse) -> None:
        response.headers["x-kept"] = response.body.decode()


def test_each_response_ready_sees_the_previous_result(build: Build) -> None:
    # Registered a, keep, b: called b, keep, a (last registered first), then request_id.
    with TestClient(build(Wrap("a"), Keep(), Wrap("b"))) as client:
        response = client.get("/hello", headers={"X-Request-ID": "chain-1"})
    assert response.text == 'a(b({"request_id":"chain-1"}))'
    assert "x-kept" not in response.headers  # it was set on b's response, which a replaced
    assert response.headers["x-request-id"] == "chain-1"  # stamped on the final replacement


class Answer:
    """Answers /hello itself when asked to (``X-Answer: yes``), like a cache hit would."""

    name = "answer"

    @hookimpl
    def request_received(self, request: HttpRequest) -> HttpResponse | None:
        if request.headers.get("x-answer") == "yes":
            return HttpResponse("answered by a plugin", 200)
        return None


class Counter:
    """A trylast request_received that only counts (it must not run after a short-circuit)."""

    name = "counter"

    def __init__(self) -> None:
        self.calls = 0

    @hookimpl(trylast=True)
    async def request_received(self, request: HttpRequest) -> None:
        self.calls += 1


def test_a_short_circuit_skips_the_handler_and_later_plugins(build: Build, calls: Calls) -> None:
    counter = Counter()
    with TestClient(build(Answer(), counter)) as client:
        answered = client.get("/hello", headers={"X-Answer": "yes", "X-Request-ID": "hit-1"})
        normal = client.get("/hello")
    assert answered.text == "answered by a plugin"
    assert (calls.hello, counter.calls) == (1, 1)  # only the second request reached them
    # request_id's tryfirst request_received ran before the answer, so even the short-circuit
    # is timed, and response_ready stamps it like any other response.
    assert answered.headers["x-request-id"] == "hit-1"
    assert answered.headers["server-timing"].startswith("app;dur=")
    assert normal.json() == {"request_id": normal.headers["x-request-id"]}


class Explode:
    """Raises in one hot hook when a request asks it to."""

    name = "explode"

    @hookimpl
    def request_received(self, request: HttpRequest) -> None:
        if request.headers.get("x-explode") == "early":
            raise RuntimeError("boom before the handler")

    @hookimpl
    def response_ready(self, request: HttpRequest, response: HttpResponse) -> None:
        if request.headers.get("x-explode") == "late":
            raise RuntimeError("boom after the handler")


def test_a_failing_plugin_costs_one_request(build: Build, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="areion")
    with TestClient(build(Explode())) as client:
        early = client.get("/hello", headers={"X-Explode": "early", "X-Request-ID": "req-early"})
        late = client.get("/hello", headers={"X-Explode": "late"})
        after = client.get("/hello")
    assert early.status_code == late.status_code == 500
    assert early.json() == {"type": "about:blank", "title": "Internal Server Error", "status": 500,
                            "detail": "Internal Server Error",
                            "error": "Internal Server Error"}  # no details leak to the client
    # The early failure happened before response_ready, so the 500 still carries the id
    # that the log line can be matched with.
    assert early.headers["x-request-id"] == "req-early"
    failures = [r for r in caplog.records if "'explode'" in r.getMessage()]
    assert [r.getMessage().split(" for ")[0] for r in failures] == [
        "plugin 'explode' failed in request_received",
        "plugin 'explode' failed in response_ready",
    ]
    assert all(r.exc_info and "boom" in str(r.exc_info[1]) for r in failures)
    assert after.status_code == 200  # the server keeps serving
    assert "x-request-id" in after.headers


def test_trace_plugins_logs_each_hook_call(
    build: Build, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AREION_TRACE_PLUGINS", "1")
    caplog.set_level(logging.INFO, logger="areion.plugins")
    with TestClient(build()) as client:
        client.get("/hello")
    messages = [r.getMessage() for r in caplog.records if r.name == "areion.plugins"]
    for hook in ("request_received", "response_ready"):
        assert any(m.startswith(f"hook {hook} [request_id] took ") and m.endswith(" µs") for m in messages), messages
