"""Form bodies: ``application/x-www-form-urlencoded`` and ``multipart/form-data`` (RFC 7578).

Multipart bodies are parsed by python-multipart (the parser Starlette uses) as the body
arrives: a field's value is collected in memory (up to ``limits.max_form_field_bytes``), a
file part is written to a :class:`UploadedFile` — a ``tempfile.SpooledTemporaryFile`` that
stays in memory up to ``limits.form_spool_bytes`` and moves to a temporary file past it — so
an upload of any size costs a bounded amount of memory. The number of parts and of files is
bounded too (``max_form_parts``, ``max_form_files``): past a bound the request is answered
413, a malformed body 400, each as problem+json. The app closes a request's files (removing
their temporary files) once the response is sent: ``save()`` what must outlive it.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import IO, Any
from urllib.parse import parse_qsl

from .exceptions import BadRequestError, PayloadTooLargeError
from .headers import Headers
from .server.limits import ServerLimits

_CHUNK = 64 * 1024


class UploadedFile:
    """A file sent in a ``multipart/form-data`` body.

    ``filename``, ``content_type``, ``size`` (bytes), ``headers`` (the part's own header
    fields) and ``field`` (the form field's name). Read it with ``await file.read()``,
    ``async for chunk in file`` or ``await file.save(path)``. Its content lives in memory up to
    ``limits.form_spool_bytes`` and in a temporary file past that; the file is closed and
    removed after the response, so keep what you need with ``save``.
    """

    __slots__ = ("_file", "_spool_bytes", "content_type", "field", "filename", "headers", "size")

    def __init__(self, field: str, filename: str, content_type: str, headers: Headers,
                 spool_bytes: int = 1024 * 1024) -> None:
        self.field = field
        self.filename = filename
        self.content_type = content_type
        self.headers = headers
        self.size = 0
        self._spool_bytes = spool_bytes
        self._file: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=spool_bytes)  # noqa: SIM115 - closed by close()

    @property
    def file(self) -> IO[bytes]:
        """The underlying file object (synchronous; prefer the async methods in a handler)."""
        return self._file

    @property
    def on_disk(self) -> bool:
        """Whether the content moved to a temporary file (it grew past the spool threshold)."""
        # SpooledTemporaryFile rolls over once a write takes it past max_size.
        return self.size > self._spool_bytes

    def write(self, data: bytes) -> None:
        """Append part of the file's content (called by the parser)."""
        self._file.write(data)
        self.size += len(data)

    async def read(self, size: int = -1) -> bytes:
        """Read ``size`` bytes (all that is left with -1) from the current position."""
        if self.on_disk:
            return await asyncio.to_thread(self._file.read, size)
        return self._file.read(size)

    async def seek(self, offset: int) -> int:
        """Move the read position (``await file.seek(0)`` to read it again)."""
        return self._file.seek(offset)

    async def save(self, path: str | os.PathLike[str]) -> int:
        """Copy the whole content to ``path`` (in a worker thread); returns the bytes written."""
        def copy() -> int:
            self._file.seek(0)
            with open(path, "wb") as out:
                shutil.copyfileobj(self._file, out, _CHUNK)
            return self.size
        return await asyncio.to_thread(copy)

    async def __aiter__(self) -> AsyncIterator[bytes]:
        """The content from its start, 64 KiB at a time."""
        await self.seek(0)
        while chunk := await self.read(_CHUNK):
            yield chunk

    @property
    def data(self) -> bytes:
        """The whole content as bytes (the 1.x attribute; loads the file into memory)."""
        position = self._file.tell()
        self._file.seek(0)
        try:
            return self._file.read()
        finally:
            self._file.seek(position)

    def close(self) -> None:
        """Close the file; a temporary file is removed."""
        self._file.close()

    def __repr__(self) -> str:
        return f"UploadedFile(field={self.field!r}, filename={self.filename!r}, size={self.size})"


FormValue = str | UploadedFile


class FormData(Mapping[str, FormValue]):
    """A parsed form: ``form["k"]`` is the first value, ``form.get_all("k")`` every value."""

    __slots__ = ("_first", "_items")

    def __init__(self, items: list[tuple[str, FormValue]] | None = None) -> None:
        self._items: list[tuple[str, FormValue]] = items or []
        first: dict[str, FormValue] = {}
        for key, value in self._items:
            first.setdefault(key, value)
        self._first = first

    def __getitem__(self, key: str) -> FormValue:
        return self._first[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._first)

    def __len__(self) -> int:
        return len(self._first)

    def get_all(self, key: str) -> list[FormValue]:
        """Every value of ``key``, in the order sent."""
        return [v for k, v in self._items if k == key]

    getlist = get_all

    def multi_items(self) -> list[tuple[str, FormValue]]:
        return list(self._items)

    @property
    def files(self) -> list[UploadedFile]:
        """Every file part, in the order sent."""
        return [v for _, v in self._items if isinstance(v, UploadedFile)]

    def to_dict(self) -> dict[str, Any]:
        """``{key: value}``, or ``{key: [values]}`` for a repeated key (what ``get_parsed_body`` returns)."""
        out: dict[str, Any] = {}
        for key, value in self._items:
            if key in out:
                prev = out[key]
                if isinstance(prev, list):
                    prev.append(value)
                else:
                    out[key] = [prev, value]
            else:
                out[key] = value
        return out

    def close(self) -> None:
        """Close every file (removing temporary files)."""
        for file in self.files:
            file.close()

    def __repr__(self) -> str:
        return f"FormData({self._items!r})"


def parse_urlencoded(body: bytes) -> FormData:
    """``a=1&b=2&b=3`` → a form with ``a`` and two ``b``; bad encoding is a 400."""
    try:
        pairs = parse_qsl(body.decode("ascii"), keep_blank_values=True, errors="strict")
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadRequestError(f"malformed form body: {exc}") from None
    return FormData(list(pairs))


class MultipartReader:
    """Parses a ``multipart/form-data`` body fed a chunk at a time into a :class:`FormData`."""

    def __init__(self, content_type: str, limits: ServerLimits) -> None:
        # python-multipart is imported by the first multipart body, not with the core: a server
        # that never parses one does not hold it (about 1 MB resident).
        from python_multipart.exceptions import MultipartParseError
        from python_multipart.multipart import MultipartParser, parse_options_header

        self._parse_error = MultipartParseError
        self._parse_options = parse_options_header
        _, params = parse_options_header(content_type)
        boundary = params.get(b"boundary")
        if not boundary:
            raise BadRequestError("multipart/form-data without a boundary")
        self._limits = limits
        self._items: list[tuple[str, FormValue]] = []
        self._files = 0
        self._header_name = b""
        self._header_value = b""
        self._part_headers: list[tuple[bytes, bytes]] = []
        self._name = ""
        self._file: UploadedFile | None = None
        self._field = bytearray()
        self._done = False
        self._parser = MultipartParser(boundary, {
            "on_part_begin": self._on_part_begin,
            "on_header_field": self._on_header_field,
            "on_header_value": self._on_header_value,
            "on_header_end": self._on_header_end,
            "on_headers_finished": self._on_headers_finished,
            "on_part_data": self._on_part_data,
            "on_part_end": self._on_part_end,
            "on_end": self._on_end,
        })

    def feed(self, chunk: bytes) -> None:
        """Parse the next piece of the body."""
        try:
            self._parser.write(chunk)
        except self._parse_error as exc:
            raise BadRequestError(f"malformed multipart body: {exc}") from None

    def finish(self) -> FormData:
        """The form, once the whole body was fed; a body cut short is a 400."""
        self._parser.finalize()
        if not self._done:
            raise BadRequestError("malformed multipart body: missing closing boundary")
        return FormData(self._items)

    def close(self) -> None:
        """Close the files parsed so far (after an error)."""
        for _, value in self._items:
            if isinstance(value, UploadedFile):
                value.close()
        if self._file is not None:
            self._file.close()

    # --- python-multipart callbacks ------------------------------------------------------
    def _on_part_begin(self) -> None:
        self._part_headers = []
        self._file = None
        self._field = bytearray()
        if len(self._items) >= self._limits.max_form_parts:
            raise PayloadTooLargeError(f"more than {self._limits.max_form_parts} form parts (limits.max_form_parts)")

    def _on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def _on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _on_header_end(self) -> None:
        self._part_headers.append((self._header_name, self._header_value))
        self._header_name = self._header_value = b""

    def _on_headers_finished(self) -> None:
        headers = Headers(self._part_headers)
        _, params = self._parse_options(headers.get("content-disposition"))
        name = params.get(b"name")
        if name is None:
            raise BadRequestError("multipart part without a name")
        self._name = name.decode("utf-8", "replace")
        filename = params.get(b"filename")
        if filename is not None:
            limits = self._limits
            self._files += 1
            if self._files > limits.max_form_files:
                raise PayloadTooLargeError(f"more than {limits.max_form_files} files (limits.max_form_files)")
            self._file = UploadedFile(self._name, filename.decode("utf-8", "replace"),
                                      headers.get("content-type") or "application/octet-stream", headers,
                                      limits.form_spool_bytes)

    def _on_part_data(self, data: bytes, start: int, end: int) -> None:
        file = self._file
        if file is not None:
            file.write(data[start:end])
            return
        self._field += data[start:end]
        if len(self._field) > self._limits.max_form_field_bytes:
            raise PayloadTooLargeError(f"form field {self._name!r} is larger than "
                                       f"{self._limits.max_form_field_bytes} bytes (limits.max_form_field_bytes)")

    def _on_part_end(self) -> None:
        file = self._file
        if file is not None:
            file.file.seek(0)
            self._items.append((self._name, file))
            self._file = None
            return
        try:
            self._items.append((self._name, self._field.decode("utf-8")))
        except UnicodeDecodeError:
            raise BadRequestError(f"form field {self._name!r} is not valid UTF-8") from None

    def _on_end(self) -> None:
        self._done = True
