"""Streamed bodies: compressed chunk by chunk, each chunk decodable when it arrives."""

from __future__ import annotations

import socket
import time
from collections.abc import AsyncIterator, Iterator

import pytest
from areion_compression.codecs import GzipCodec
from areion_compression.streaming import compress_async_chunks, compress_sync_chunks

from areion_core.testing import LiveServer, TestClient
from tests.plugins.compression._compression_app import ALGORITHMS, SSE_EVENTS, IncrementalDecoder, decode, make_server

EVENTS = [e.encode() for e in SSE_EVENTS]


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    with TestClient(make_server()) as c:
        yield c


@pytest.mark.parametrize("encoding", ALGORITHMS)
@pytest.mark.parametrize("path", ["/stream", "/stream-sync"])
def test_each_chunk_decodes_on_its_own(client: TestClient, encoding: str, path: str) -> None:
    r = client.get(path, headers={"Accept-Encoding": encoding})
    assert r.status_code == 200
    assert r.headers["content-encoding"] == encoding
    assert r.headers["transfer-encoding"] == "chunked"
    assert "content-length" not in r.headers
    assert "accept-encoding" in r.headers["vary"].lower()
    decoder = IncrementalDecoder(encoding)
    pieces = [decoder.feed(chunk) for chunk in r.chunks]
    assert pieces[:5] == EVENTS  # one event per chunk, nothing held back
    assert b"".join(pieces[5:]) == b""  # the end of the stream adds no data
    assert decode(encoding, r.content) == b"".join(EVENTS)


def test_identity_stream_is_untouched(client: TestClient) -> None:
    r = client.get("/stream")
    assert "content-encoding" not in r.headers
    assert r.chunks == EVENTS
    assert "accept-encoding" in r.headers["vary"].lower()


@pytest.mark.parametrize("path", ["/stream-short", "/stream-binary"])
def test_small_or_binary_streams_are_left_alone(client: TestClient, path: str) -> None:
    r = client.get(path, headers={"Accept-Encoding": "gzip"})
    assert "content-encoding" not in r.headers
    assert "vary" not in r.headers


def test_head_of_a_stream(client: TestClient) -> None:
    r = client.head("/stream", headers={"Accept-Encoding": "gzip"})
    assert r.status_code == 200
    assert r.headers["content-encoding"] == "gzip"
    assert r.headers["transfer-encoding"] == "chunked"
    assert "content-length" not in r.headers
    assert "accept-encoding" in r.headers["vary"].lower()


async def test_closing_the_wrapper_closes_the_handler_generator() -> None:
    closed = []

    async def source() -> AsyncIterator[bytes]:
        try:
            for i in range(100):
                yield b"chunk %d " % i * 20
        finally:
            closed.append(True)

    wrapped = compress_async_chunks(source(), GzipCodec().compressor())
    first = await wrapped.__anext__()
    assert IncrementalDecoder("gzip").feed(first) == b"chunk 0 " * 20
    await wrapped.aclose()  # what the core does when the client goes away
    assert closed == [True]


def test_closing_the_sync_wrapper_closes_the_source() -> None:
    closed = []

    def source() -> Iterator[str]:
        try:
            yield from ("a" * 100, "b" * 100, "c" * 100)
        finally:
            closed.append(True)

    wrapped = compress_sync_chunks(source(), GzipCodec().compressor())
    assert IncrementalDecoder("gzip").feed(next(wrapped)) == b"a" * 100
    wrapped.close()
    assert closed == [True]


# --- over a real socket: arrival times --------------------------------------------------------


def _read_chunks(sock: socket.socket, encoding: str) -> list[tuple[float, bytes]]:
    """(arrival time, decoded bytes) per chunk of a chunked response, read as bytes arrive."""
    decoder = IncrementalDecoder(encoding)
    buffer = b""
    while b"\r\n\r\n" not in buffer:
        buffer += sock.recv(65536)
    head, _, buffer = buffer.partition(b"\r\n\r\n")
    assert b"content-encoding: " + encoding.encode() in head.lower()
    assert b"transfer-encoding: chunked" in head.lower()
    pieces: list[tuple[float, bytes]] = []
    while True:
        while b"\r\n" not in buffer:
            buffer += sock.recv(65536)
        size_line, _, rest = buffer.partition(b"\r\n")
        size = int(size_line, 16)
        while len(rest) < size + 2:
            rest += sock.recv(65536)
        if size == 0:
            return pieces
        pieces.append((time.monotonic(), decoder.feed(rest[:size])))
        buffer = rest[size + 2:]


@pytest.mark.parametrize("encoding", ALGORITHMS)
def test_events_arrive_as_they_are_produced(encoding: str) -> None:
    """5 chunks 100 ms apart reach the client as 5 decodable pieces, not one at the end."""
    with LiveServer(make_server()) as live, socket.create_connection(("127.0.0.1", live.port), timeout=10) as sock:
        sock.sendall(
            b"GET /stream?delay=0.1 HTTP/1.1\r\nHost: test\r\nAccept-Encoding: "
            + encoding.encode() + b"\r\nConnection: close\r\n\r\n"
        )
        pieces = _read_chunks(sock, encoding)
    data = [piece for _, piece in pieces if piece]
    assert data == EVENTS
    times = [t for t, piece in pieces if piece]
    # The generator sleeps 100 ms before each event, so the last one is produced ~400 ms after
    # the first; had the compressor buffered, all five would arrive together at the end.
    assert times[-1] - times[0] > 0.25
