"""The showcase's index page (``/`` of examples/showcase/app.py), served as ``make run`` serves it:
every link on it answers, and it links everything the README's showcase section lists."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]


class _Links(HTMLParser):
    """The ``<a href>`` targets, ``<form method action>`` pairs and ``<code data-method data-href>``
    (an endpoint to try with curl) pairs of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []
        self.forms: list[tuple[str, str]] = []
        self.commands: list[tuple[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "a" and attributes.get("href"):
            self.hrefs.append(str(attributes["href"]))
        elif tag == "form":
            self.forms.append(((attributes.get("method") or "get").upper(), str(attributes.get("action"))))
        elif tag == "code" and attributes.get("data-href"):
            self.commands.append((str(attributes.get("data-method")), str(attributes["data-href"])))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def showcase(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``areion run examples.showcase.app:server`` (what ``make run`` runs) on a free port."""
    port = _free_port()
    log = tmp_path_factory.mktemp("showcase") / "stderr.log"
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
        yield url
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)


def _index(url: str) -> _Links:
    response = httpx.get(url + "/")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    links = _Links()
    links.feed(response.text)
    return links


def test_every_link_of_the_index_answers(showcase: str) -> None:
    links = _index(showcase)
    assert len(links.hrefs) >= 15
    with httpx.Client(base_url=showcase, timeout=10) as client:
        for href in dict.fromkeys(links.hrefs):  # each target once, in page order
            response = client.get(href)
            assert 200 <= response.status_code < 400, (href, response.status_code, response.text[:200])
        assert links.forms == [("POST", "/tasks")]
        submitted = client.post("/tasks")
        assert submitted.status_code == 200 and submitted.json() == {"status": "submitted"}
        # The curl-only endpoints answer their method (here with an empty body) or refuse it as documented.
        assert links.commands == [("PUT", "/upload"), ("POST", "/upload/form"), ("POST", "/items")]
        assert client.put("/upload").json()["bytes"] == 0
        assert client.post("/upload/form", data={"a": "b"}).json() == {"files": [], "fields": {"a": "b"}}
        assert client.post("/items", json={"name": "x", "price": 1}).status_code == 201


def _readme_showcase_paths() -> set[str]:
    """The paths the README's showcase section names: its URLs and its backquoted paths."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## The showcase\n", 1)[1].split("\n## ", 1)[0]
    paths = set(re.findall(r"http://127\.0\.0\.1:8000(/[\w/.-]*)", section))
    paths |= set(re.findall(r"`(/[\w/.-]+)`", section))
    return paths - {"/"}


def test_the_index_links_everything_the_readme_lists(showcase: str) -> None:
    readme_paths = _readme_showcase_paths()
    # The section names at least the cached report, its page, /big, /stream, /tasks and the docs.
    assert {"/api/report", "/report", "/big", "/stream", "/tasks", "/docs", "/redoc"} <= readme_paths
    links = _index(showcase)
    linked = set(links.hrefs) | {action for _, action in links.forms} | {href for _, href in links.commands}
    assert readme_paths <= linked, readme_paths - linked
