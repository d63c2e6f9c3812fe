"""The access log: one line per request, kept off the request's way.

A request only appends a tuple of its fields to a list. The lines are formatted in batches
(every 50 ms, or as soon as 512 wait) and handed to a writer thread, so the event loop never
waits on a slow disk, a full pipe or a terminal nobody reads. A writer that cannot keep up
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
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from .request import HttpRequest

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

# (end, start, client, method, path, query, version, status, bytes, request id)
_Record = tuple[float, float, Any, str, str, str, str, int, int, Any]
_perf_counter = time.perf_counter
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


class AccessLog:
    """Collects one record per request and writes them, formatted, from a thread of its own."""

    __slots__ = ("_dropped", "_format", "_lock", "_loop", "_owns_fd", "_pending", "_queue", "_records",
                 "_timer", "_writer", "destination", "fd", "format", "max_pending")

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
        self._lock = threading.Lock()
        self._pending = 0
        self._dropped = 0

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Open the file (for a path) and start the writer thread, in the process that serves
        (each worker has its own)."""
        if isinstance(self.destination, str):
            self.fd = os.open(self.destination, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            self._owns_fd = True
        self._loop = loop
        self._writer = threading.Thread(target=self._write_forever, name="areion-access-log", daemon=True)
        self._writer.start()

    def record(self, request: HttpRequest, status: int, nbytes: int, started: float) -> None:
        """Note one answered request (the only part of the log on the request's way)."""
        records = self._records
        conn = request.conn
        records.append((_perf_counter(), started, conn.client if conn is not None else None, request.method,
                        request.raw_path,
                        request.query_string, request.http_version, status, nbytes, request.request_id))
        if len(records) == 1:
            loop = self._loop
            if loop is not None:
                self._timer = loop.call_later(FLUSH_INTERVAL, self.flush)
        elif len(records) >= FLUSH_LINES:
            self.flush()

    def flush(self) -> None:
        """Format the waiting records and hand them to the writer (dropped if it is too far behind)."""
        timer = self._timer
        if timer is not None:
            timer.cancel()
            self._timer = None
        records = self._records
        if not records:
            return
        self._records = []
        data = self._format(records)
        with self._lock:
            if self._pending + len(data) > self.max_pending and self._writer is not None:
                self._dropped += len(records)
                return
            if self._dropped:
                data = _dropped_line(self._dropped, self.format) + data
                self._dropped = 0
            self._pending += len(data)
        if self._writer is None:
            _write_all(self.fd, data)  # not started (or already closed): write in place
            with self._lock:
                self._pending -= len(data)
        else:
            self._queue.put(data)

    async def close(self, timeout: float = 5.0) -> None:
        """Write every line still waiting, then stop the writer thread (waits up to ``timeout``)."""
        self.flush()
        writer, self._writer = self._writer, None
        if writer is not None:
            self._queue.put(None)
            await asyncio.get_running_loop().run_in_executor(None, writer.join, timeout)
        if self._owns_fd and not (writer is not None and writer.is_alive()):
            os.close(self.fd)
            self._owns_fd = False

    def _write_forever(self) -> None:
        while True:
            data = self._queue.get()
            if data is None:
                return
            try:
                _write_all(self.fd, data)
            finally:
                with self._lock:
                    self._pending -= len(data)


def _dropped_line(count: int, format: str) -> bytes:
    """The notice of ``count`` lines dropped, in the log's format (a JSON log stays all JSON)."""
    message = f"the access log could not keep up; {count} lines were dropped"
    if format == "text":
        return f"areion: {message}\n".encode()
    now = time.time()
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now))
    return orjson.dumps({"time": f"{stamp}.{int(now % 1 * 1000):03d}Z", "level": "WARNING",
                         "logger": "areion.access", "message": message}) + b"\n"


def _write_all(fd: int, data: bytes) -> None:
    """Write ``data`` in pieces of at most PIPE_BUF bytes that end at a line's end."""
    view = memoryview(data)
    start, end = 0, len(data)
    while start < end:
        stop = end if end - start <= _PIPE_BUF else data.rfind(b"\n", start, start + _PIPE_BUF) + 1
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
# A record holds perf_counter() times; the wall clock of each line is worked out once per batch
# (one time.time() against one perf_counter()), which keeps a clock read off the request's way.

class ProxiedAccessLog(AccessLog):
    """The access log behind trusted proxies (``forwarded_allow_ips``): the client it writes is
    the one the proxy headers name (``request.client``), not the proxy's address."""

    def record(self, request: HttpRequest, status: int, nbytes: int, started: float) -> None:
        records = self._records
        records.append((_perf_counter(), started, request.client, request.method, request.raw_path,
                        request.query_string, request.http_version, status, nbytes, request.request_id))
        if len(records) == 1:
            loop = self._loop
            if loop is not None:
                self._timer = loop.call_later(FLUSH_INTERVAL, self.flush)
        elif len(records) >= FLUSH_LINES:
            self.flush()


_clients: dict[Any, str] = {}


def _client_text(client: Any) -> str:
    text = _clients.get(client)
    if text is None:
        # No port (0) when a proxy header named only the address.
        text = (f"{client[0]}:{client[1]}" if client[1] else str(client[0])) if client else "-"
        if len(_clients) < 4096:
            _clients[client] = text
    return text


def _target(path: str, query: str) -> str:
    target = path + "?" + query if query else path
    if '"' in target or "\\" in target or not target.isprintable():
        # A target is written between quotes: escape what could end the field or forge a line.
        target = target.encode("unicode_escape").decode("ascii").replace('"', '\\"')
    return target


# Digits of 0..999, three-digit and plain: a table lookup costs less than formatting an int.
_MS = tuple(f"{i:03d}" for i in range(1000))
_NUM = tuple(str(i) for i in range(1000))


def _text_lines(records: list[_Record]) -> bytes:
    offset = time.time() - _perf_counter()
    until = -1.0  # the perf_counter() time at which `prefix` goes stale
    prefix = ""
    lines: list[str] = []
    append = lines.append
    ms_of, num, clients = _MS, _NUM, _clients
    for end, started, client, method, path, query, version, status, nbytes, request_id in records:
        if end >= until:
            second = int(end + offset)
            until = second + 1 - offset
            t = time.gmtime(second)
            prefix = (f" - - [{t.tm_mday:02d}/{_MONTHS[t.tm_mon - 1]}/{t.tm_year:04d}:"
                      f'{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} +0000] "')
        us = int((end - started) * 1e6 + 0.5)
        ms = us // 1000
        if query or '"' in path or "\\" in path or not path.isprintable():
            path = _target(path, query)
        append(f'{clients.get(client) or _client_text(client)}{prefix}{method} {path} HTTP/{version}" '
               f"{num[status] if status < 1000 else status} {num[nbytes] if nbytes < 1000 else nbytes} "
               f'{num[ms] if ms < 1000 else ms}.{ms_of[us - ms * 1000]}ms {request_id or "-"}\n')
    return "".join(lines).encode("utf-8", "backslashreplace")


def _json_lines(records: list[_Record]) -> bytes:
    offset = time.time() - _perf_counter()
    dumps = orjson.dumps
    second = -1
    stamp = ""
    lines: list[str] = []
    for end, started, client, method, path, query, version, status, nbytes, request_id in records:
        now = end + offset
        if int(now) != second:
            second = int(now)
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        us = int((end - started) * 1e6 + 0.5)
        target = dumps(f"{path}?{query}" if query else path).decode()
        client_text = "null" if client is None else f'"{_clients.get(client) or _client_text(client)}"'
        rid = "null" if request_id is None else dumps(request_id).decode()
        lines.append(f'{{"time":"{stamp}.{int((now - second) * 1000):03d}Z","client":{client_text},'
                     f'"method":"{method}","target":{target},"http_version":"{version}","status":{status},'
                     f'"bytes":{nbytes},"duration_ms":{us // 1000}.{us % 1000:03d},"request_id":{rid}}}\n')
    return "".join(lines).encode()
