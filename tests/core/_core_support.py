"""Helpers for core tests: build an app without any installed plugin, run it live, talk raw HTTP.

A module of its own (not conftest) so that test files import it under a unique name.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from areion_core import AreionServerBuilder, Router
from areion_core.runner import AreionServer
from areion_core.testing import LiveServer


def make_server(router: Router, **config: Any) -> AreionServer:
    """A server with no entry-point plugins (the core alone), configured by keyword."""
    builder = AreionServerBuilder().with_router(router).without_config_file().with_config(plugins=[], **config)
    builder.with_access_log(False)
    return builder.build()


@pytest.fixture
def live() -> Iterator[Callable[..., LiveServer]]:
    """``live(router, **config)`` starts the real server on a free port; stopped after the test."""
    started: list[LiveServer] = []

    def start(router: Router, **config: Any) -> LiveServer:
        server = LiveServer(make_server(router, **config))
        server.__enter__()
        started.append(server)
        return server

    yield start
    for server in started:
        server.__exit__(None, None, None)


def exchange(port: int, data: bytes, *, timeout: float = 3.0, until_close: bool = True,
             expect: bytes | None = None) -> bytes:
    """Send raw bytes; read until the server closes (or ``expect`` is seen, or the timeout)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        if data:
            sock.sendall(data)
        return read_all(sock, timeout=timeout, until_close=until_close, expect=expect)


def read_all(sock: socket.socket, *, timeout: float = 3.0, until_close: bool = True,
             expect: bytes | None = None) -> bytes:
    out = b""
    deadline = time.monotonic() + timeout
    sock.settimeout(0.2)
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            if not until_close and out and (expect is None or expect in out):
                break
            continue
        except ConnectionResetError:
            break
        if not chunk:
            break
        out += chunk
        if expect is not None and out.count(expect) and not until_close:
            break
    return out


def status_of(response: bytes) -> int:
    return int(response.split(b" ", 2)[1])
