"""A raw WebSocket client on a plain socket, for protocol-error cases no library client will send."""

from __future__ import annotations

import base64
import os
import socket
import struct

# Opcodes (RFC 6455 §5.2).
CONT, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


class RawSocket:
    """A socket whose first reads return what came with the 101 head (a frame sent at once)."""

    def __init__(self, sock: socket.socket, pending: bytes) -> None:
        self.sock = sock
        self.pending = pending

    def recv(self, size: int) -> bytes:
        if self.pending:
            data, self.pending = self.pending[:size], self.pending[size:]
            return data
        return self.sock.recv(size)

    def sendall(self, data: bytes) -> None:
        self.sock.sendall(data)

    def __enter__(self) -> RawSocket:
        return self

    def __exit__(self, *exc: object) -> None:
        self.sock.close()


def open_raw(port: int, path: str = "/ws/echo", headers: str = "") -> tuple[RawSocket, bytes]:
    """Handshake on a fresh socket; the socket and the 101 head."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall((f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                  f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                  f"{headers}\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError(f"closed during the handshake: {head!r}")
        head += chunk
    head, _, rest = head.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101 "), head
    return RawSocket(sock, rest), head


def frame(opcode: int, payload: bytes = b"", *, fin: bool = True, rsv: int = 0, mask: bool = True,
          length16: bool = False, length64: bool = False) -> bytes:
    """One frame; ``length16``/``length64`` force that length encoding (a non-minimal one too)."""
    first = (0x80 if fin else 0) | (rsv << 4) | opcode
    size = len(payload)
    maskbit = 0x80 if mask else 0
    if length64 or size > 0xFFFF:
        head = struct.pack("!BBQ", first, maskbit | 127, size)
    elif length16 or size > 125:
        head = struct.pack("!BBH", first, maskbit | 126, size)
    else:
        head = struct.pack("!BB", first, maskbit | size)
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def _exact(sock: RawSocket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return data


def read_frame(sock: RawSocket) -> tuple[bool, int, bytes]:
    """``(fin, opcode, payload)`` of the server's next frame (never masked)."""
    first, second = _exact(sock, 2)
    assert not second & 0x80, "a server frame must not be masked"
    size = second & 0x7F
    if size == 126:
        size = struct.unpack("!H", _exact(sock, 2))[0]
    elif size == 127:
        size = struct.unpack("!Q", _exact(sock, 8))[0]
    return bool(first & 0x80), first & 0x0F, _exact(sock, size)


def close_code(sock: RawSocket) -> int:
    """Read frames until the close frame; its status code (1005 when it has none)."""
    while True:
        _, opcode, payload = read_frame(sock)
        if opcode == CLOSE:
            return struct.unpack("!H", payload[:2])[0] if payload else 1005


def closes_after(sock: RawSocket) -> bool:
    """After the close frame, the server closes the TCP connection."""
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True
