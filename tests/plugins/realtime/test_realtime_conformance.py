"""Conformance cases after the Autobahn testsuite's categories (the tool needs Python 2, so the cases
are tests): framing (1.x), pings and pongs (2.x), reserved bits (3.x), opcodes (4.x),
fragmentation (5.x), UTF-8 (6.x), close codes and payloads (7.x), limits (9.x), deflate (12/13).
Protocol errors are sent on raw sockets; the rest with the websockets client."""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Iterator

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory
from websockets.sync.client import connect

from areion_core.testing import LiveServer

from ._realtime_app import COLLECT_DONE, COLLECTED, make_server, ws_url
from ._ws_raw import BINARY, CLOSE, CONT, PING, PONG, TEXT, close_code, closes_after, frame, open_raw, read_frame


@pytest.fixture(scope="module")
def live() -> Iterator[LiveServer]:
    with LiveServer(make_server(ping_interval=0)) as server:
        yield server


@pytest.fixture(scope="module")
def port(live: LiveServer) -> int:
    return live.port


def echo_of(port: int, *frames: bytes) -> tuple[int, bytes]:
    sock, _ = open_raw(port)
    with sock:
        sock.sendall(b"".join(frames))
        _, opcode, payload = read_frame(sock)
        return opcode, payload


def protocol_error(port: int, *frames: bytes) -> int:
    """The close code the server answers ``frames`` with (and that it then closes the socket)."""
    sock, _ = open_raw(port)
    with sock:
        sock.sendall(b"".join(frames))
        code = close_code(sock)
        assert closes_after(sock)
        return code


# --- 1: framing, every length class -----------------------------------------------------------
@pytest.mark.parametrize("size", [0, 1, 125, 126, 127, 128, 65535, 65536, 200_000])
@pytest.mark.parametrize("opcode", [TEXT, BINARY])
def test_every_payload_length_class(port: int, size: int, opcode: int) -> None:
    payload = b"*" * size
    assert echo_of(port, frame(opcode, payload)) == (opcode, payload)


@pytest.mark.parametrize("forced", ["length16", "length64"])
def test_a_non_minimal_length_encoding_is_read(port: int, forced: str) -> None:
    assert echo_of(port, frame(TEXT, b"short", **{forced: True})) == (TEXT, b"short")


def test_an_unmasked_client_frame_is_1002(port: int) -> None:
    assert protocol_error(port, frame(TEXT, b"x", mask=False)) == 1002


# --- 2: pings and pongs -----------------------------------------------------------------------
@pytest.mark.parametrize("payload", [b"", b"hello", b"\xff" * 125])
def test_a_ping_is_answered_with_its_payload(port: int, payload: bytes) -> None:
    assert echo_of(port, frame(PING, payload)) == (PONG, payload)


def test_an_unsolicited_pong_is_ignored(port: int) -> None:
    assert echo_of(port, frame(PONG, b"unasked"), frame(TEXT, b"after")) == (TEXT, b"after")


def test_a_ping_over_125_bytes_is_1002(port: int) -> None:
    assert protocol_error(port, frame(PING, b"x" * 126)) == 1002


# --- 3 and 4: reserved bits and opcodes --------------------------------------------------------
@pytest.mark.parametrize("rsv", [1, 2, 4, 7])
def test_reserved_bits_without_an_extension_are_1002(port: int, rsv: int) -> None:
    assert protocol_error(port, frame(TEXT, b"x", rsv=rsv)) == 1002


@pytest.mark.parametrize("opcode", [3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF])
def test_reserved_opcodes_are_1002(port: int, opcode: int) -> None:
    assert protocol_error(port, frame(opcode, b"")) == 1002


# --- 5: fragmentation ---------------------------------------------------------------------------
def test_a_fragmented_message_is_reassembled(port: int) -> None:
    frames = (frame(TEXT, b"frag", fin=False), frame(CONT, b"men", fin=False), frame(CONT, b"ted"))
    assert echo_of(port, *frames) == (TEXT, b"fragmented")


def test_a_ping_between_fragments_is_answered_first(port: int) -> None:
    sock, _ = open_raw(port)
    with sock:
        sock.sendall(frame(BINARY, b"\x01", fin=False) + frame(PING, b"p") + frame(CONT, b"\x02"))
        assert read_frame(sock) == (True, PONG, b"p")
        assert read_frame(sock) == (True, BINARY, b"\x01\x02")


def test_a_continuation_without_a_start_is_1002(port: int) -> None:
    assert protocol_error(port, frame(CONT, b"orphan")) == 1002


def test_a_new_message_inside_a_fragmented_one_is_1002(port: int) -> None:
    assert protocol_error(port, frame(TEXT, b"a", fin=False), frame(TEXT, b"b")) == 1002


def test_a_fragmented_control_frame_is_1002(port: int) -> None:
    assert protocol_error(port, frame(PING, b"a", fin=False)) == 1002


# --- 6: UTF-8 -------------------------------------------------------------------------------------
@pytest.mark.parametrize("data", [b"\xff", b"\xc3", b"\xed\xa0\x80", b"ab\xf4\x90\x80\x80"])
def test_invalid_utf8_text_is_1007(port: int, data: bytes) -> None:
    assert protocol_error(port, frame(TEXT, data)) == 1007


def test_a_code_point_split_across_fragments_is_valid(port: int) -> None:
    euro = "€".encode()  # three bytes, split 1 + 2
    frames = (frame(TEXT, b"x" + euro[:1], fin=False), frame(CONT, euro[1:]))
    assert echo_of(port, *frames) == (TEXT, "x€".encode())


def test_invalid_utf8_fails_at_its_fragment_not_at_the_end(port: int) -> None:
    # Only the first fragment is sent: the server must not wait for the end of the message.
    assert protocol_error(port, frame(TEXT, b"ok\xff", fin=False)) == 1007


def test_a_truncated_sequence_at_the_end_of_a_message_is_1007(port: int) -> None:
    assert protocol_error(port, frame(TEXT, b"a", fin=False), frame(CONT, "€".encode()[:2])) == 1007


# --- 7: close codes and payloads ------------------------------------------------------------------
@pytest.mark.parametrize("code", [1000, 1001, 1003, 1011, 3000, 4999])
def test_a_valid_close_is_echoed(port: int, code: int) -> None:
    assert protocol_error(port, frame(CLOSE, struct.pack("!H", code) + b"bye")) == code


def test_an_empty_close_is_answered(port: int) -> None:
    assert protocol_error(port, frame(CLOSE, b"")) == 1005


@pytest.mark.parametrize("code", [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000])
def test_an_invalid_close_code_is_1002(port: int, code: int) -> None:
    assert protocol_error(port, frame(CLOSE, struct.pack("!H", code))) == 1002


def test_a_one_byte_close_payload_is_1002(port: int) -> None:
    assert protocol_error(port, frame(CLOSE, b"\x03")) == 1002


def test_a_close_reason_that_is_not_utf8_is_1007(port: int) -> None:
    assert protocol_error(port, frame(CLOSE, struct.pack("!H", 1000) + b"\xff")) == 1007


def test_nothing_is_read_after_a_close(port: int) -> None:
    sock, _ = open_raw(port)
    with sock:
        sock.sendall(frame(CLOSE, struct.pack("!H", 1000)) + frame(TEXT, b"late"))
        assert read_frame(sock)[1] == CLOSE
        assert closes_after(sock)


@pytest.mark.parametrize("split", [False, True], ids=["one-read", "close-alone"])
def test_messages_sent_just_before_a_close_are_all_delivered(port: int, split: bool) -> None:
    """Text, binary and fragmented messages followed by the close frame in one send: the handler
    gets every one of them, in order, then the close (nothing the client sent before it is lost)."""
    key = f"before-close-{split}"
    COLLECT_DONE[key] = threading.Event()
    sock, _ = open_raw(port, f"/ws/collect?id={key}")
    with sock:
        messages = (frame(TEXT, b"one") + frame(BINARY, b"\x00two") + frame(TEXT, b"thr", fin=False)
                    + frame(CONT, "ee \u00e9".encode()) + frame(TEXT, b"four"))
        close = frame(CLOSE, struct.pack("!H", 1000))
        if split:
            sock.sendall(messages)
            sock.sendall(close)
        else:
            sock.sendall(messages + close)
        assert close_code(sock) == 1000
        assert closes_after(sock)
    assert COLLECT_DONE[key].wait(10)
    assert COLLECTED[key] == ["one", b"\x00two", "three \u00e9", "four"]


# --- 9: limits -----------------------------------------------------------------------------------------
def test_a_message_of_exactly_1_mib_passes(port: int) -> None:
    payload = b"m" * (1 << 20)
    assert echo_of(port, frame(BINARY, payload)) == (BINARY, payload)


def test_a_message_over_1_mib_is_1009(port: int) -> None:
    assert protocol_error(port, frame(BINARY, b"m" * ((1 << 20) + 1))) == 1009


def test_a_fragmented_message_over_1_mib_is_1009(port: int) -> None:
    half = b"m" * (1 << 19)
    assert protocol_error(port, frame(BINARY, half, fin=False), frame(CONT, half, fin=False),
                          frame(CONT, b"!")) == 1009


def test_max_message_size_is_configurable() -> None:
    with LiveServer(make_server(max_message_size=1000)) as small:
        assert echo_of(small.port, frame(TEXT, b"a" * 1000)) == (TEXT, b"a" * 1000)
        assert protocol_error(small.port, frame(TEXT, b"a" * 1001)) == 1009


# --- 12 and 13: permessage-deflate ------------------------------------------------------------------
def test_deflate_with_parameters(live: LiveServer) -> None:
    offer = ClientPerMessageDeflateFactory(server_max_window_bits=10, client_no_context_takeover=True)
    with connect(ws_url(live, "/ws/echo"), extensions=[offer]) as ws:
        header = ws.response.headers["Sec-WebSocket-Extensions"]
        assert "permessage-deflate" in header
        assert "server_max_window_bits=10" in header
        assert "client_no_context_takeover" in header
        for size in (0, 10, 1000, 100_000):
            message = ("compressible " * (size // 13 + 1))[:size]
            ws.send(message)
            assert ws.recv(5) == message


def test_deflate_is_applied_on_the_wire(port: int) -> None:
    sock, head = open_raw(port, headers="Sec-WebSocket-Extensions: permessage-deflate\r\n")
    with sock:
        assert b"permessage-deflate" in head
        sock.sendall(frame(TEXT, b"not compressed"))  # RSV1 clear: an uncompressed message is allowed
        _fin, opcode, payload = read_frame(sock)
        assert opcode == TEXT and payload != b"not compressed"  # the echo went out compressed


def test_server_parameters_from_the_config() -> None:
    with LiveServer(make_server(server_no_context_takeover=True, server_max_window_bits=12)) as server:
        with connect(ws_url(server, "/ws/echo")) as ws:
            header = ws.response.headers["Sec-WebSocket-Extensions"]
            assert "server_no_context_takeover" in header and "server_max_window_bits=12" in header
            ws.send("z" * 5000)
            assert ws.recv(5) == "z" * 5000
    with LiveServer(make_server(compression=False)) as server, connect(ws_url(server, "/ws/echo")) as ws:
        assert "Sec-WebSocket-Extensions" not in ws.response.headers


def test_a_bad_handshake_is_refused(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"GET /ws/echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     b"Sec-WebSocket-Version: 8\r\nSec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==\r\n\r\n")
        answer = sock.recv(4096)
        assert answer.startswith(b"HTTP/1.1 426 ") and b"sec-websocket-version: 13" in answer.lower()
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"GET /ws/echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: short\r\n\r\n")
        assert sock.recv(4096).startswith(b"HTTP/1.1 400 ")


def test_the_client_closing_ends_the_handler(live: LiveServer) -> None:
    with connect(ws_url(live, "/ws/echo")) as ws:
        ws.send("x")
        assert ws.recv(5) == "x"
        ws.close(4000, "done")
        with pytest.raises(ConnectionClosed):
            ws.recv(5)
        assert ws.close_code == 4000


def test_a_frame_in_the_same_packet_as_the_handshake_is_read(port: int) -> None:
    """The bytes after the request head in the same read go to the protocol, not to HTTP."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"GET /plain HTTP/1.1\r\nHost: x\r\n\r\n"  # a pipelined request before it
                     b"GET /ws/echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==\r\n\r\n"
                     + frame(TEXT, b"right away"))
        data = b""
        while b"right away" not in data:
            chunk = sock.recv(4096)
            assert chunk, data
            data += chunk
        first, _, rest = data.partition(b"\r\n\r\n")
        assert first.startswith(b"HTTP/1.1 200 ")
        assert b"HTTP/1.1 101 Switching Protocols\r\n" in rest
        assert rest.endswith(b"\x81\x0aright away")


def test_an_upgrade_to_a_plain_route_is_answered_as_http_then_closed(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"GET /plain HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
        data = b""
        while chunk := sock.recv(4096):
            data += chunk
        assert data.startswith(b"HTTP/1.1 200 ") and data.endswith(b"plain")
