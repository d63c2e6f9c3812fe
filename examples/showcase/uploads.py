"""The showcase's request bodies: a streamed upload, a multipart form, a typed JSON body.

- ``PUT /upload`` reads the body as it arrives (``request.stream()``) into a SHA-256: memory
  stays flat whatever the size, up to the route's 2 GiB ``max_body_bytes``.
- ``POST /upload/form`` parses a ``multipart/form-data`` body as it arrives (``request.form()``):
  files past 1 MiB go to temporary files, removed once the response is sent.
- ``POST /items`` takes a dataclass body: a 201 with the item, or a 422 problem listing every
  invalid field.

    curl -T big.iso http://127.0.0.1:8000/upload
    curl -F note=hi -F file=@big.iso http://127.0.0.1:8000/upload/form
    curl -d '{"name": "pen", "price": 1.5}' -H 'Content-Type: application/json' http://127.0.0.1:8000/items
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from areion_openapi import request_body

from areion_core import HttpRequest, Router, UploadedFile

#: The largest upload the two upload routes take (a larger one is a 413 before it is read).
MAX_UPLOAD = 2 * 1024 * 1024 * 1024

router = Router(tags=["uploads"])


@dataclass
class Item:
    name: str
    price: float
    tags: list[str] = field(default_factory=list)


@dataclass
class UploadDigest:
    bytes: int
    sha256: str


@dataclass
class FileDigest:
    field: str
    filename: str
    bytes: int
    sha256: str


@dataclass
class FormDigest:
    files: list[FileDigest]
    fields: dict[str, str]


@router.put("/upload", name="upload", max_body_bytes=MAX_UPLOAD)
@request_body(bytes, content_type="application/octet-stream", description="any bytes, up to 2 GiB (none: an empty "
              "upload)", required=False)
async def upload(request: HttpRequest) -> UploadDigest:
    """Hash the body as it arrives: its size and SHA-256 (memory stays flat, up to 2 GiB)."""
    digest = hashlib.sha256()
    size = 0
    async for chunk in request.stream():
        digest.update(chunk)
        size += len(chunk)
    return UploadDigest(bytes=size, sha256=digest.hexdigest())


async def _file_digest(file: UploadedFile) -> FileDigest:
    digest = hashlib.sha256()
    async for chunk in file:
        digest.update(chunk)
    return FileDigest(field=file.field, filename=file.filename, bytes=file.size, sha256=digest.hexdigest())


@router.post("/upload/form", name="upload_form", max_body_bytes=MAX_UPLOAD, request_body={
    "description": "any fields and files, up to 2 GiB", "required": True,
    "content": {"multipart/form-data": {"schema": {"type": "object"}}},
})
async def upload_form(request: HttpRequest) -> FormDigest:
    """A multipart form parsed as it arrives: each file's size and SHA-256, the other fields as sent."""
    form = await request.form()
    files = [await _file_digest(file) for file in form.files]
    fields = {key: value for key, value in form.multi_items() if isinstance(value, str)}
    return FormDigest(files=files, fields=fields)


@router.post("/items", name="create_item", status_code=201)
async def create_item(request: HttpRequest, item: Item) -> Item:
    """Create an item from its JSON: a 201 with the item, or a 422 naming every invalid field."""
    return item
