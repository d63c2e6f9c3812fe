"""HEAD then GET pipelined on one raw connection: what each sent, byte for byte.

The GET's status line must come right after the HEAD's header block, so a HEAD that sent
any body (even a chunked terminator) shows up as a GET response that does not parse.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass

#: Headers that may differ between two sends of one representation.
VOLATILE = frozenset({"date"})


@dataclass
class Exchange:
    head_status: int
    head_headers: list[tuple[str, str]]
    get_status: int
    get_headers: list[tuple[str, str]]
    get_body: bytes  # as framed on the wire (chunked framing kept)


def _split_head(data: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
    end = data.find(b"\r\n\r\n")
    assert end >= 0, f"no complete header block in {data[:200]!r}"
    lines = data[:end].decode("latin-1").split("\r\n")
    assert lines[0].startswith("HTTP/1.1 "), f"not a status line: {lines[0]!r}"
    status = int(lines[0].split(" ", 2)[1])
    headers = []
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers.append((name.strip().lower(), value.strip()))
    return status, headers, data[end + 4:]


def head_then_get(port: int, path: str, headers: dict[str, str] | None = None,
                  *, timeout: float = 10.0) -> Exchange:
    """Send ``HEAD path`` and ``GET path`` (closing) on one connection; parse both answers."""
    extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
    request = (f"HEAD {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{extra}\r\n"
               f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{extra}Connection: close\r\n\r\n").encode()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head_status, head_headers, rest = _split_head(data)
    # Nothing between the HEAD's header block and the GET's status line.
    assert rest.startswith(b"HTTP/1.1 "), f"HEAD {path} sent a body: {rest[:80]!r}"
    get_status, get_headers, body = _split_head(rest)
    return Exchange(head_status, head_headers, get_status, get_headers, body)


def comparable(headers: list[tuple[str, str]], ignore: frozenset[str] = VOLATILE) -> list[tuple[str, str]]:
    """The header lines in order, without those allowed to differ (and GET's own Connection: close)."""
    return [(n, v) for n, v in headers if n not in ignore and not (n == "connection" and v == "close")]
