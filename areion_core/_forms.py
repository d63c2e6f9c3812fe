"""Form bodies: application/x-www-form-urlencoded and multipart/form-data (RFC 7578)."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl

from .exceptions import BadRequestError


@dataclass(frozen=True, slots=True)
class UploadedFile:
    """A file part of a multipart form."""

    filename: str
    content_type: str
    data: bytes

    @property
    def size(self) -> int:
        return len(self.data)


FormValue = str | UploadedFile | list[str | UploadedFile]


def _add(out: dict[str, FormValue], key: str, value: str | UploadedFile) -> None:
    if key in out:
        prev = out[key]
        if isinstance(prev, list):
            prev.append(value)
        else:
            out[key] = [prev, value]
    else:
        out[key] = value


def parse_urlencoded(body: bytes) -> dict[str, FormValue]:
    """``a=1&b=2&b=3`` → ``{"a": "1", "b": ["2", "3"]}``; bad encoding is a 400."""
    try:
        pairs = parse_qsl(body.decode("ascii"), keep_blank_values=True, errors="strict")
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadRequestError(f"malformed form body: {exc}") from None
    out: dict[str, FormValue] = {}
    for k, v in pairs:
        _add(out, k, v)
    return out


def _param(header: str, name: str) -> str | None:
    for part in header.split(";")[1:]:
        key, _, value = part.strip().partition("=")
        if key.lower() == name:
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] == '"':
                value = value[1:-1].replace('\\"', '"')
            return value
    return None


def parse_multipart(body: bytes, content_type: str) -> dict[str, FormValue]:
    """Parse a multipart/form-data body; a missing boundary or a malformed part is a 400."""
    boundary = _param(content_type, "boundary")
    if not boundary:
        raise BadRequestError("multipart/form-data without a boundary")
    delimiter = b"--" + boundary.encode("latin-1")
    sections = body.split(delimiter)
    if len(sections) < 3 or not sections[-1].startswith(b"--"):
        raise BadRequestError("malformed multipart body: missing closing boundary")
    out: dict[str, FormValue] = {}
    for section in sections[1:-1]:
        if not section.startswith(b"\r\n") or not section.endswith(b"\r\n"):
            raise BadRequestError("malformed multipart body: bad part framing")
        head, sep, data = section[2:-2].partition(b"\r\n\r\n")
        if not sep:
            raise BadRequestError("malformed multipart body: part without header end")
        headers: dict[str, str] = {}
        for line in head.split(b"\r\n"):
            name, colon, value = line.decode("utf-8", "replace").partition(":")
            if not colon:
                raise BadRequestError("malformed multipart body: bad part header")
            headers[name.strip().lower()] = value.strip()
        disposition = headers.get("content-disposition", "")
        field = _param(disposition, "name")
        if field is None:
            raise BadRequestError("multipart part without a name")
        filename = _param(disposition, "filename")
        if filename is not None:
            _add(out, field, UploadedFile(filename, headers.get("content-type", "application/octet-stream"), data))
        else:
            try:
                _add(out, field, data.decode("utf-8"))
            except UnicodeDecodeError:
                raise BadRequestError(f"form field {field!r} is not valid UTF-8") from None
    return out
