"""The showcase's ``/sleep`` (a 1 s route timeout) and ``/sleep/cancelled``, served as ``make run``
serves them (``areion run examples.showcase.app:server``, every installed plugin on)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests._redis import free_port

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def showcase(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """The showcase's URL, and the file its output goes to."""
    port = free_port()
    log = tmp_path_factory.mktemp("showcase-timeouts") / "stderr.log"
    env = {**os.environ, "SHOWCASE_CACHE_STORE": "memory", "PYTHONPATH": str(REPO)}
    env.pop("AREION_PLUGINS", None)  # every installed plugin, as make run has them
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "areion_core", "run", "examples.showcase.app:server",
             "--host", "127.0.0.1", "--port", str(port), "--no-access-log"],
            cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, log.read_text()
            try:
                httpx.get(url + "/json", timeout=1)
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.1)
        yield url, log
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)


def test_a_sleep_within_the_timeout_answers_and_a_longer_one_is_cancelled_at_1s(
    showcase: tuple[str, Path],
) -> None:
    url, log = showcase
    with httpx.Client(base_url=url, timeout=10) as client:
        before = client.get("/sleep/cancelled").json()["cancelled"]
        assert client.get("/sleep", params={"s": "0.2"}).json() == {"slept": 0.2}
        assert client.get("/sleep").json() == {"slept": 0.5}  # the default
        began = time.monotonic()
        response = client.get("/sleep", params={"s": "3"})
        elapsed = time.monotonic() - began
        assert response.status_code == 503 and 0.9 <= elapsed < 1.4, (response.status_code, elapsed)
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json() == {"type": "about:blank", "title": "Service Unavailable", "status": 503,
                                   "detail": "The request was not answered within 1 s.", "timeout": 1.0}
        assert client.get("/sleep/cancelled").json() == {"cancelled": before + 1}
    logged = "GET /sleep: route sleep (/sleep) did not answer within its 1s timeout; it was cancelled"
    assert logged in log.read_text()


@pytest.mark.parametrize("s", ["-1", "61", "nan"])
def test_a_sleep_out_of_range_is_a_400(showcase: tuple[str, Path], s: str) -> None:
    assert httpx.get(showcase[0] + "/sleep", params={"s": s}).status_code == 400


def test_a_sleep_that_is_no_number_is_a_422(showcase: tuple[str, Path]) -> None:
    response = httpx.get(showcase[0] + "/sleep", params={"s": "soon"})
    assert response.status_code == 422
    assert response.json()["errors"] == [{"loc": ["query", "s"], "msg": "must be float", "type": "type_error"}]
