"""The access log: one line per request, kept off the request's way.

A request only appends a tuple of its fields to a list. The lines are formatted in batches
(every 50 ms, or as soon as 512 wait) and handed to a writer thread, so the event loop never
waits on a slow disk, a full pipe or a terminal nobody reads. The thread writes a batch to a
regular file in one write (appended whole), and to anything else (a pipe, a socket, a
terminal) in writes of whole lines of at most PIPE_BUF bytes. A writer that cannot keep up
does not make the process grow without bound: past ``MAX_PENDING`` bytes a batch is dropped
and counted, and the count is written as soon as the writer catches up. ``close()`` (at
shutdown, after the last request) writes everything that is left.

Two formats with the same fields — time, client, method, target, status, bytes, duration,
request id:

- ``text``: ``127.0.0.1:50412 - - [02/Dec/2026:18:03:11 +0000] "GET /json HTTP/1.1" 200 152 0.114ms -``
  (the Common Log Format's fields, its time to the second, then the duration and the request
  id, ``-`` when none);
- ``json``: one object per line, the time to the millisecond, ``{"time": "2026-12-02T18:03:11.204Z", "client": ...,
  "method": ..., "target": ..., "http_version": ..., "status": ..., "bytes": ...,
  "duration_ms": ..., "request_id": ...}``.

``bytes`` counts every byte written for the response, its head included (nginx's
``$bytes_sent``).

The access log does not go through ``logging``: a ``LogRecord`` per request would cost more
than the rest of the line's way. So its lines are written exactly once, to its own
destination, whatever logging the application configured (handlers on the root logger
never see them and so cannot repeat them). ``log_format = "json"`` makes them JSON too,
so stderr carries one JSON object per line from both.
"""

from __future__ import annotations

import asyncio
import os
import queue
import stat
import threading
import time
from importlib.machinery import EXTENSION_SUFFIXES
from typing import TYPE_CHECKING, Any

import orjson

from ._forwarded import has_proxy_headers
from .request import HttpRequest
from .server.connection import HttpConnection

if TYPE_CHECKING:
    from collections.abc import Callable

    from ._forwarded import TrustedProxies

#: Seconds a line may wait before its batch is written.
FLUSH_INTERVAL = 0.05
#: Lines that trigger a batch at once.
FLUSH_LINES = 512
#: Bytes that may wait for the writer thread before new batches are dropped.
MAX_PENDING = 8 * 1024 * 1024
# A write to a pipe of at most PIPE_BUF bytes is never interleaved with another process's
# (POSIX), so lines from several workers sharing stderr stay whole.
_PIPE_BUF = 4096
FORMATS = ("text", "json")

# (end, start, client, method, path, query, version, status, bytes, request id); the times are
# perf_counter_ns() readings: integer arithmetic on them costs less than on floats.
_Record = tuple[int, int, Any, str, str, str, str, int, int, Any]
_perf_counter_ns = time.perf_counter_ns
_NS = 1_000_000_000
#: Whether this module runs as its extension module (the compiled build).
_COMPILED = __file__.endswith(tuple(EXTENSION_SUFFIXES))
# The slots a record reads, as their member descriptors: compiled, a request's fields are read
# from its slots in C (``access_log.pxd``'s areion_slot), not by a generic attribute lookup,
# which from compiled code costs about 110 instructions each (bytecode specialises its loads).
_CONN, _METHOD, _RAW_PATH, _QUERY, _VERSION, _REQUEST_ID = (
    HttpRequest.__dict__[name] for name in ("conn", "method", "raw_path", "query_string", "http_version", "request_id"))
_CLIENT = HttpConnection.__dict__["client"]
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


class AccessLog:
    """Collects one record per request and writes them, formatted, from a thread of its own."""

    __slots__ = ("_dropped", "_format", "_handed", "_loop", "_owns_fd", "_queue", "_records", "_timer", "_whole",
                 "_writer", "_written", "destination", "fd", "format", "max_pending")

    def __init__(self, destination: int | str = 2, format: str = "text", *, max_pending: int = MAX_PENDING) -> None:
        """``destination``: a file descriptor (2, stderr, by default) or a file path, appended to."""
        if format not in FORMATS:
            raise ValueError(f"access log format must be one of {', '.join(FORMATS)}, not {format!r}")
        self.destination = destination
        #: The descriptor written to (a path is opened by start(), in the process that serves).
        self.fd = destination if isinstance(destination, int) else -1
        self._owns_fd = False
        self.format = format
        self.max_pending = max_pending
        self._format: Callable[[list[_Record]], bytes] = _text_lines if format == "text" else _json_lines
        self._records: list[_Record] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._queue: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self._writer: threading.Thread | None = None
        self._whole = False
        # Bytes handed to the writer (by the loop's thread only) and bytes it is done with (by
        # the writer only): each thread writes one counter, so neither needs a lock.
        self._handed = 0
        self._written = 0
        self._dropped = 0

    @property
    def pending(self) -> int:
        """Bytes handed to the writer thread and not written yet."""
        return self._handed - self._written

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Open the file (for a path) and start the writer thread, in the process that serves
        (each worker has its own)."""
        if isinstance(self.destination, str):
            self.fd = os.open(self.destination, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            self._owns_fd = True
        self._whole = _is_regular_file(self.fd)
        self._loop = loop
        self._writer = threading.Thread(target=self._write_forever, name="areion-access-log", daemon=True)
        self._writer.start()

    def record(self, request: HttpRequest, status: int, nbytes: int, started: int) -> None:
        """Note one answered request (the only part of the log on the request's way);
        ``started``: ``time.perf_counter_ns()`` when the request came in."""
        records = self._records
        if not records and self._timer is None:
            self._arm()
        records.append(_record(request, _peer(request), status, nbytes, started))
        if len(records) >= FLUSH_LINES:
            self.flush()

    def _arm(self) -> None:
        """The first record of a batch: it is written within FLUSH_INTERVAL. A batch flushed
        because it was full leaves the timer armed for the next one (no timer per batch)."""
        loop = self._loop
        if loop is not None:
            self._timer = loop.call_later(FLUSH_INTERVAL, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self.flush()

    def flush(self) -> None:
        """Format the waiting records and hand them to the writer (dropped if it is too far behind)."""
        records = self._records
        if not records:
            return
        self._records = []
        data = self._format(records)
        if self._writer is None:
            if self._dropped:
                data = _dropped_line(self._dropped, self.format) + data
                self._dropped = 0
            _write_all(self.fd, data, self._whole)  # not started (or already closed): write in place
            return
        if self._handed - self._written + len(data) > self.max_pending:
            self._dropped += len(records)
            return
        if self._dropped:
            data = _dropped_line(self._dropped, self.format) + data
            self._dropped = 0
        self._handed += len(data)
        self._queue.put(data)

    async def close(self, timeout: float = 5.0) -> None:
        """Write every line still waiting, then stop the writer thread (waits up to ``timeout``)."""
        timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()
        self.flush()
        writer, self._writer = self._writer, None
        if writer is not None:
            self._queue.put(None)
            await asyncio.get_running_loop().run_in_executor(None, writer.join, timeout)
        if self._owns_fd and not (writer is not None and writer.is_alive()):
            os.close(self.fd)
            self._owns_fd = False

    def _write_forever(self) -> None:
        get, fd, whole = self._queue.get, self.fd, self._whole
        while (data := get()) is not None:
            try:
                _write_all(fd, data, whole)
            finally:
                self._written += len(data)


class ProxiedAccessLog(AccessLog):
    """The access log behind trusted proxies (``forwarded_allow_ips``): the client it writes is
    the one the proxy headers name (``request.client``), not the proxy's address."""

    __slots__ = ("_peers", "trusted")

    def __init__(self, destination: int | str = 2, format: str = "text", *, max_pending: int = MAX_PENDING,
                 trusted: TrustedProxies | None = None) -> None:
        """``trusted``: the app's ``forwarded_allow_ips`` (None: ``request.client`` decides each time)."""
        super().__init__(destination, format, max_pending=max_pending)
        self.trusted = trusted
        #: Whether each peer address seen is a trusted proxy (bounded like the formats' caches).
        self._peers: dict[str | None, bool] = {}

    def record(self, request: HttpRequest, status: int, nbytes: int, started: int) -> None:
        records = self._records
        if not records and self._timer is None:
            self._arm()
        client = _peer(request)
        # request.client, without its call on the usual request: the peer, unless the peer is a
        # trusted proxy that sent proxy headers.
        host = client[0] if client is not None else None
        trusted = self._peers.get(host)
        if trusted is None:
            trusted = self._trust(host)
        if trusted and has_proxy_headers(request.raw_headers):
            client = request.client
        records.append(_record(request, client, status, nbytes, started))
        if len(records) >= FLUSH_LINES:
            self.flush()

    def _trust(self, host: str | None) -> bool:
        trusted = True if self.trusted is None else self.trusted.trusts(host)
        if len(self._peers) < _CACHE_SIZE:
            self._peers[host] = trusted
        return trusted


def _peer(request: HttpRequest) -> Any:
    """The address of the connection ``request`` came on (None for a request made by hand)."""
    if _COMPILED:
        conn = _areion_slot(request, _CONN)  # type: ignore[name-defined]  # noqa: F821
        return _areion_slot(conn, _CLIENT) if conn is not None else None  # type: ignore[name-defined]  # noqa: F821
    conn = request.conn
    return conn.client if conn is not None else None


def _record(request: HttpRequest, client: Any, status: int, nbytes: int, started: int) -> _Record:
    """What the log keeps of one answered request, until its batch is formatted."""
    if _COMPILED:
        return (_perf_counter_ns(), started, client, _areion_slot(request, _METHOD),  # type: ignore[name-defined]  # noqa: F821
                _areion_slot(request, _RAW_PATH), _areion_slot(request, _QUERY),  # type: ignore[name-defined]  # noqa: F821
                _areion_slot(request, _VERSION), status, nbytes, _areion_slot(request, _REQUEST_ID))  # type: ignore[name-defined]  # noqa: F821
    return (_perf_counter_ns(), started, client, request.method, request.raw_path, request.query_string,
            request.http_version, status, nbytes, request.request_id)


def _dropped_line(count: int, format: str) -> bytes:
    """The notice of ``count`` lines dropped, in the log's format (a JSON log stays all JSON)."""
    message = f"the access log could not keep up; {count} lines were dropped"
    if format == "text":
        return f"areion: {message}\n".encode()
    now = time.time()
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now))
    return orjson.dumps({"time": f"{stamp}.{int(now % 1 * 1000):03d}Z", "level": "WARNING",
                         "logger": "areion.access", "message": message}) + b"\n"


def _is_regular_file(fd: int) -> bool:
    try:
        return stat.S_ISREG(os.fstat(fd).st_mode)
    except OSError:
        return False


def _write_all(fd: int, data: bytes, whole: bool) -> None:
    """Write ``data``: to a regular file in one write (the kernel appends it whole), else (a
    pipe, a socket, a terminal) in pieces of at most PIPE_BUF bytes that end at a line's end."""
    view = memoryview(data)
    start, end = 0, len(data)
    while start < end:
        if whole or end - start <= _PIPE_BUF:
            stop = end
        else:
            stop = data.rfind(b"\n", start, start + _PIPE_BUF) + 1
            if stop <= start:
                stop = min(end, start + _PIPE_BUF)  # a single line longer than PIPE_BUF
        try:
            written = os.write(fd, view[start:stop])
        except InterruptedError:
            continue
        except OSError:
            return  # the log's destination is gone: nothing to write to
        start += written


# --- formats ------------------------------------------------------------------------------
# A record holds perf_counter_ns() times; the wall clock of each line is worked out once per
# batch (one time.time_ns() against one perf_counter_ns()), which keeps a clock read off the
# request's way.
#
# Most of a line is the same from one line to the next: the client (one per connection), the
# time (one per second), the target (a handful of routes). Those pieces are kept, once made,
# in bounded caches, and the numbers come from tables, so that a line costs one f-string of a
# dozen pieces: an f-string joins its pieces in one go, which costs less than %-formatting
# (which parses its format and converts each argument) or a join over columns.

#: Entries a cache may hold: a client or target past it is worked out each time it is seen.
_CACHE_SIZE = 4096
_clients: dict[Any, str] = {}
#: Paths written as they are (no query, nothing to escape).
_plain_paths: set[str] = set()
#: The JSON string of such a path.
_json_paths: dict[str, str] = {}
#: A client's JSON with its key and the comma after it: '"client":"…",'.
_json_clients: dict[Any, str] = {None: '"client":null,'}


def _client_text(client: Any) -> str:
    text = _clients.get(client)
    if text is None:
        # No port (0) when a proxy header named only the address.
        text = (f"{client[0]}:{client[1]}" if client[1] else str(client[0])) if client else "-"
        if len(_clients) < _CACHE_SIZE:
            _clients[client] = text
    return text


def _json_client(client: Any) -> str:
    text = f'"client":"{_client_text(client)}",'
    if len(_json_clients) < _CACHE_SIZE:
        _json_clients[client] = text
    return text


def _target(path: str, query: str) -> str:
    """The target as the text format writes it (between quotes, escaped when it must be)."""
    target = path + "?" + query if query else path
    if '"' in target or "\\" in target or not target.isprintable():
        # A target is written between quotes: escape what could end the field or forge a line.
        target = target.encode("unicode_escape").decode("ascii").replace('"', '\\"')
    elif not query and len(_plain_paths) < _CACHE_SIZE:
        _plain_paths.add(path)
    return target


def _json_target(path: str, query: str) -> str:
    target = orjson.dumps(path + "?" + query if query else path).decode()
    if not query and len(_json_paths) < _CACHE_SIZE:
        _json_paths[path] = target
    return target


# The start of the text lines of one second, one per client (the client, then the time): kept
# while that second lasts, made again from the next second's first line on. One tuple, swapped
# whole, so that two servers' loops in one process (threads) never see one second's dict under
# another second.
_heads: tuple[int, dict[Any, str]] = (-1, {})


def _heads_of(second: int) -> dict[Any, str]:
    global _heads
    current = _heads
    if current[0] != second:
        current = _heads = (second, {})
    return current[1]


def _head(heads: dict[Any, str], client: Any, second: int) -> str:
    t = time.gmtime(second)
    head = (f"{_client_text(client)} - - [{t.tm_mday:02d}/{_MONTHS[t.tm_mon - 1]}/{t.tm_year:04d}:"
            f'{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} +0000] "')
    if len(heads) < _CACHE_SIZE:
        heads[client] = head
    return head


# Numbers from tables (a lookup costs less than formatting an int), with the text that follows
# them: fewer pieces per line.
_NUM = tuple(str(i) for i in range(1000))
_NUM_SP = tuple(f"{i} " for i in range(1000))  # the text status
_TEXT_MS = tuple(f".{i:03d}ms " for i in range(1000))  # the text duration's microseconds
_JSON_TIME_MS = tuple(f'{i:03d}Z",' for i in range(1000))
_JSON_BYTES_KEY = ',"bytes":'
_JSON_STATUS = tuple(f'{i}{_JSON_BYTES_KEY}' for i in range(1000))
_JSON_MS = tuple(f'.{i:03d},"request_id":' for i in range(1000))


def _text_lines(records: list[_Record]) -> bytes:
    offset = time.time_ns() - _perf_counter_ns()
    until = -1  # the perf_counter_ns() time at which `heads` goes stale
    second = 0
    heads: dict[Any, str] = {}
    lines: list[str] = []
    append = lines.append
    num, num_sp, micros, plain = _NUM, _NUM_SP, _TEXT_MS, _plain_paths
    for end, started, client, method, path, query, version, status, nbytes, request_id in records:
        if end >= until:
            second = (end + offset) // _NS
            until = (second + 1) * _NS - offset
            heads = _heads_of(second)
        us = (end - started + 500) // 1000
        ms = us // 1000
        if query or path not in plain:
            path = _target(path, query)
        append(f'{heads.get(client) or _head(heads, client, second)}{method} {path} HTTP/{version}" '
               f'{num_sp[status] if status < 1000 else f"{status} "}{num[nbytes] if nbytes < 1000 else nbytes} '
               f'{num[ms] if ms < 1000 else ms}{micros[us - ms * 1000]}{request_id or "-"}\n')
    return "".join(lines).encode("utf-8", "backslashreplace")


def _json_lines(records: list[_Record]) -> bytes:
    offset = time.time_ns() - _perf_counter_ns()
    dumps = orjson.dumps
    until = -1  # the perf_counter_ns() time at which `stamp` goes stale
    base = 0  # the perf_counter_ns() time at which `stamp`'s second began
    stamp = ""
    lines: list[str] = []
    append = lines.append
    num, time_ms, statuses, micros = _NUM, _JSON_TIME_MS, _JSON_STATUS, _JSON_MS
    paths, clients = _json_paths, _json_clients
    for end, started, client, method, path, query, version, status, nbytes, request_id in records:
        if end >= until:
            second = (end + offset) // _NS
            base = second * _NS - offset
            until = base + _NS
            stamp = time.strftime('{"time":"%Y-%m-%dT%H:%M:%S.', time.gmtime(second))
        us = (end - started + 500) // 1000
        ms = us // 1000
        target = None if query else paths.get(path)
        append(f'{stamp}{time_ms[(end - base) // 1_000_000]}{clients.get(client) or _json_client(client)}'
               f'"method":"{method}","target":{target or _json_target(path, query)},"http_version":"{version}",'
               f'"status":{statuses[status] if status < 1000 else str(status) + _JSON_BYTES_KEY}'
               f'{num[nbytes] if nbytes < 1000 else nbytes},"duration_ms":{num[ms] if ms < 1000 else ms}'
               f'{micros[us - ms * 1000]}{"null" if request_id is None else dumps(request_id).decode()}}}\n')
    return "".join(lines).encode()
