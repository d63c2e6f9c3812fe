"""The ceiling: a bare ``asyncio.Protocol`` + httptools server on uvloop.

No framework, no routing table, responses pre-encoded where they can be. It is minimal
but correct for what the benchmark sends: keep-alive and ``Connection: close``
(``should_keep_alive`` covers HTTP/1.0 and 1.1), pipelined requests answered in order
(each request is answered synchronously, in parse order), bodies of any size, and a
``Date`` header refreshed once a second (RFC 9110 §6.6.1). It does no JSON work: the echo
returns the request's bytes and the static file is held in memory, so its figures are an
upper bound for every framework, not a peer.

Run: ``python bench/apps/raw_httptools_app.py --host 127.0.0.1 --port 8000``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
from email.utils import formatdate
from pathlib import Path
from typing import cast

import httptools
import uvloop

JSON_BODY = b'{"message":"Hello, World!"}'
TEXT_BODY = b"Hello, World!"
STATIC_PREFIX = b"/static/"

_date_header = b""


def _refresh_date(loop: asyncio.AbstractEventLoop) -> None:
    global _date_header
    _date_header = b"Date: " + formatdate(usegmt=True).encode() + b"\r\n"
    loop.call_later(1.0, _refresh_date, loop)


def _load_static(directory: str) -> dict[bytes, bytes]:
    root = Path(directory)
    return {
        STATIC_PREFIX + path.relative_to(root).as_posix().encode(): path.read_bytes()
        for path in root.rglob("*")
        if path.is_file()
    }


class HttpProtocol(asyncio.Protocol):
    __slots__ = ("_body", "_parser", "_static", "_transport", "_url")

    def __init__(self, static: dict[bytes, bytes]) -> None:
        self._transport: asyncio.Transport | None = None
        self._parser = httptools.HttpRequestParser(self)
        self._url = b""
        self._body: list[bytes] = []
        self._static = static

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not subclasses of asyncio.Transport; the cast is for typing.
        self._transport = cast(asyncio.Transport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._reply(b"400 Bad Request", b"text/plain", b"upgrade not supported", False)
        except httptools.HttpParserError:
            self._reply(b"400 Bad Request", b"text/plain", b"bad request", False)

    # httptools callbacks
    def on_message_begin(self) -> None:
        self._url = b""
        self._body.clear()

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        keep_alive = self._parser.should_keep_alive()
        method = self._parser.get_method()
        path = httptools.parse_url(self._url).path
        if method == b"GET" and path == b"/json":
            self._reply(b"200 OK", b"application/json", JSON_BODY, keep_alive)
        elif method == b"GET" and path == b"/plaintext":
            self._reply(b"200 OK", b"text/plain; charset=utf-8", TEXT_BODY, keep_alive)
        elif method == b"POST" and path == b"/echo":
            self._reply(b"200 OK", b"application/json", b"".join(self._body), keep_alive)
        elif method == b"GET" and path.startswith(b"/users/"):
            self._users(path, keep_alive)
        elif method == b"GET" and path in self._static:
            self._reply(b"200 OK", b"application/octet-stream", self._static[path], keep_alive)
        else:
            self._reply(b"404 Not Found", b"text/plain", b"not found", keep_alive)

    def _users(self, path: bytes, keep_alive: bool) -> None:
        # /users/{id}/posts/{post}
        parts = path.split(b"/")
        if len(parts) == 5 and parts[3] == b"posts" and parts[2] and parts[4]:
            body = b'{"user":"%s","post":"%s"}' % (parts[2], parts[4])
            self._reply(b"200 OK", b"application/json", body, keep_alive)
        else:
            self._reply(b"404 Not Found", b"text/plain", b"not found", keep_alive)

    def _reply(self, status: bytes, content_type: bytes, body: bytes, keep_alive: bool) -> None:
        transport = self._transport
        if transport is None:
            return
        transport.write(
            b"HTTP/1.1 %s\r\nServer: raw\r\n%sContent-Type: %s\r\nContent-Length: %d\r\n%s\r\n%s"
            % (
                status,
                _date_header,
                content_type,
                len(body),
                b"" if keep_alive else b"Connection: close\r\n",
                body,
            )
        )
        if not keep_alive:
            transport.close()
            self._transport = None


async def serve(host: str, port: int, static_dir: str) -> None:
    loop = asyncio.get_running_loop()
    _refresh_date(loop)
    static = _load_static(static_dir)
    server = await loop.create_server(lambda: HttpProtocol(static), host, port, backlog=1024)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    uvloop.run(serve(args.host, args.port, os.environ["AREION_BENCH_STATIC"]))


if __name__ == "__main__":
    main()
