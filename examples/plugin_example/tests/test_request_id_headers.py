"""What a client sees: the id header, the timing headers, and when each is sent."""

from __future__ import annotations

import re

import httpx

from areion_core import Router
from areion_core.testing import LiveServer, TestClient
from examples.plugin_example.tests._request_id_support import Build

HEX32 = re.compile(r"[0-9a-f]{32}")


def test_generates_an_id_and_hands_it_to_the_handler(build: Build) -> None:
    with TestClient(build()) as client:
        first = client.get("/hello")
        second = client.get("/hello")
    assert first.status_code == 200
    request_id = first.headers["x-request-id"]
    assert HEX32.fullmatch(request_id)
    assert first.json() == {"request_id": request_id}  # the handler saw the same id
    assert second.headers["x-request-id"] != request_id


def test_honours_a_valid_incoming_id(build: Build) -> None:
    with TestClient(build()) as client:
        response = client.get("/hello", headers={"X-Request-ID": "edge-7f3a:01HZX9"})
    assert response.headers["x-request-id"] == "edge-7f3a:01HZX9"
    assert response.json() == {"request_id": "edge-7f3a:01HZX9"}


def test_replaces_an_invalid_or_oversized_incoming_id(build: Build) -> None:
    with TestClient(build()) as client:
        spaced = client.get("/hello", headers={"X-Request-ID": "two words"})
        quoted = client.get("/hello", headers={"X-Request-ID": '"x";y'})
        long = client.get("/hello", headers={"X-Request-ID": "a" * 129})
        exactly = client.get("/hello", headers={"X-Request-ID": "a" * 128})
    for response in (spaced, quoted, long):
        assert HEX32.fullmatch(response.headers["x-request-id"])
    assert exactly.headers["x-request-id"] == "a" * 128


def test_trust_incoming_false_always_makes_a_new_id(build: Build) -> None:
    server = build(config={"plugins": {"request_id": {"trust_incoming": False}}})
    with TestClient(server) as client:
        response = client.get("/hello", headers={"X-Request-ID": "from-the-client"})
    assert HEX32.fullmatch(response.headers["x-request-id"])


def test_custom_header_name_is_read_and_written(build: Build) -> None:
    server = build(config={"plugins": {"request_id": {"header": "X-Correlation-ID", "max_length": 16}}})
    with TestClient(server) as client:
        echoed = client.get("/hello", headers={"X-Correlation-ID": "abc"})
        too_long = client.get("/hello", headers={"X-Correlation-ID": "a" * 17})
    assert echoed.headers["x-correlation-id"] == "abc"
    assert "x-request-id" not in echoed.headers
    assert HEX32.fullmatch(too_long.headers["x-correlation-id"])


def test_timing_headers_on_routed_responses(build: Build) -> None:
    with TestClient(build()) as client:
        response = client.get("/hello")
    match = re.fullmatch(r"app;dur=(\d+\.\d{3})", response.headers["server-timing"])
    assert match is not None
    assert response.headers["x-response-time"] == f"{match.group(1)}ms"


def test_the_time_runs_from_the_request_being_read_until_the_response_is_ready(build: Build) -> None:
    with TestClient(build()) as client:
        response = client.get("/slow")  # a handler that waits 30 ms
    match = re.fullmatch(r"app;dur=(\d+\.\d{3})", response.headers["server-timing"])
    assert match is not None and 25.0 <= float(match.group(1)) < 5000.0


def test_timing_can_be_switched_off(build: Build) -> None:
    with TestClient(build(config={"plugins": {"request_id": {"timing": False}}})) as client:
        response = client.get("/hello")
    assert "x-request-id" in response.headers
    assert "server-timing" not in response.headers
    assert "x-response-time" not in response.headers


def test_unmatched_requests_get_an_id_but_no_timing(build: Build) -> None:
    # 404/405 never reach a route's request_received chain, only the global response_ready one.
    with TestClient(build()) as client:
        missing = client.get("/nowhere", headers={"X-Request-ID": "lost-1"})
        wrong_method = client.post("/hello")
    assert missing.status_code == 404
    assert missing.headers["x-request-id"] == "lost-1"
    assert "server-timing" not in missing.headers
    assert wrong_method.status_code == 405
    assert HEX32.fullmatch(wrong_method.headers["x-request-id"])


def test_handler_errors_still_carry_the_id(build: Build) -> None:
    with TestClient(build()) as client:
        response = client.get("/fail", headers={"X-Request-ID": "incident-42"})
    assert response.status_code == 500
    assert response.headers["x-request-id"] == "incident-42"
    assert "server-timing" in response.headers


def test_skip_request_id_decorator_and_route_option(build: Build, router: Router) -> None:
    async def metrics() -> str:
        return "m 1"

    router.add_route("/metrics", metrics, ["GET"], request_id=False)
    with TestClient(build()) as client:
        health = client.get("/health")
        scraped = client.get("/metrics")
        hello = client.get("/hello")
    for response in (health, scraped):
        assert response.status_code == 200
        assert "x-request-id" not in response.headers
        assert "server-timing" not in response.headers
    assert "x-request-id" in hello.headers


def test_head_requests_carry_the_headers(build: Build) -> None:
    with TestClient(build()) as client:
        response = client.head("/hello", headers={"X-Request-ID": "head-1"})
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["x-request-id"] == "head-1"


def test_real_socket_with_live_server(build: Build) -> None:
    with LiveServer(build()) as live:
        response = httpx.get(live.url + "/hello", headers={"X-Request-ID": "over-tcp"})
        fresh = httpx.get(live.url + "/hello")
    assert response.headers["x-request-id"] == "over-tcp"
    assert response.json() == {"request_id": "over-tcp"}
    assert HEX32.fullmatch(fresh.headers["x-request-id"])
    assert fresh.headers["server-timing"].startswith("app;dur=")


def test_new_ids_are_32_hex_digits_unique_in_a_process_and_across_a_fork() -> None:
    import os

    from areion_request_id import new_request_id

    ids = [new_request_id() for _ in range(5000)]  # more than one block of ids sharing digits
    assert all(HEX32.fullmatch(i) for i in ids)
    assert len(set(ids)) == len(ids)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next id, through the pipe
        os.write(write, new_request_id().encode())
        os._exit(0)
    os.close(write)
    child = os.read(read, 64).decode()
    os.close(read)
    os.waitpid(pid, 0)
    mine = new_request_id()
    assert HEX32.fullmatch(child)
    # The child drew a prefix of its own: it does not continue the parent's sequence.
    assert child[:16] != mine[:16]
    assert child not in (*ids, mine)


def test_durations_are_milliseconds_with_three_decimals_below_and_above_a_second() -> None:
    from time import perf_counter_ns

    from areion_core import HttpResponse
    from areion_request_id import RequestIdPlugin

    plugin = RequestIdPlugin()

    class Request:  # the two fields finish() reads from a routed request
        request_id = "id-1"
        received_ns = 0

    # Whole microseconds since the request was read, as milliseconds: below and above a
    # second (a different way of writing the whole milliseconds), with the call's own time
    # (and a slow CI machine's pause) on top.
    for elapsed_us in (2_000, 999_250, 1_000_000, 61_234_500):
        request = Request()
        request.received_ns = perf_counter_ns() - elapsed_us * 1000
        response = HttpResponse({"ok": True})
        plugin.finish(request, response)  # type: ignore[arg-type]
        ms = response.headers["x-response-time"]
        assert re.fullmatch(r"[1-9]\d*\.\d{3}ms", ms), ms
        assert elapsed_us <= float(ms[:-2]) * 1000 < elapsed_us + 500_000, (elapsed_us, ms)
        assert response.headers["server-timing"] == f"app;dur={ms[:-2]}"
