"""Files: precompressed siblings (``app.js.br`` beside ``app.js``) and on-the-fly compression."""

from __future__ import annotations

import os
import stat as stat_module
from collections.abc import Collection, Iterable

from areion_core import FileResponse, StreamingResponse

from .codecs import Codec
from .representation import copy_extras, encoded_headers, mark_encoded_headers, suffix_etag
from .streaming import compress_file_chunks

#: Files up to this size are read and compressed into a buffered body with a Content-Length;
#: larger ones are streamed (chunked) so memory stays flat.
BUFFERED_FILE_LIMIT = 4 * 1024 * 1024

Variant = tuple[str, os.stat_result]


def find_precompressed(
    response: FileResponse, suffixes: Iterable[tuple[str, str]], wanted: Collection[str]
) -> dict[str, Variant]:
    """Fresh precompressed siblings of the response's file, by coding.

    Only codings in ``wanted`` (those the client accepts) are looked for, so a client that
    accepts nothing costs no ``stat``. A sibling older than the original is stale (the
    original was edited and the build step not rerun) and is ignored.
    """
    found: dict[str, Variant] = {}
    original_mtime = response.stat.st_mtime_ns
    for name, suffix in suffixes:
        if name not in wanted:
            continue
        path = response.path + suffix
        try:
            st = os.stat(path)
        except OSError:
            continue
        if stat_module.S_ISREG(st.st_mode) and st.st_mtime_ns >= original_mtime:
            found[name] = (path, st)
    return found


def _default_etag(st: os.stat_result) -> str:
    # Mirrors FileResponse's own ETag, to tell whether the handler chose a custom one.
    return f'"{st.st_mtime_ns:x}-{st.st_size:x}"'


def precompressed_response(response: FileResponse, encoding: str, variant: Variant) -> FileResponse:
    """The sibling file sent with the original's headers, ``Content-Encoding`` and its own ETag."""
    path, st = variant
    headers = response.headers.copy()
    etag = headers.get("etag")
    if etag is not None:
        # A strong ETag must change whenever the bytes do: derive it from the sibling file,
        # which a build step may regenerate (another quality) without touching the original.
        base = _default_etag(st) if etag == _default_etag(response.stat) else etag
        headers["etag"] = suffix_etag(base, encoding)
    mark_encoded_headers(headers, encoding)
    new = FileResponse(path, response.status_code, headers.get("content-type"), headers, stat_result=st)
    new.headers.pop("accept-ranges", None)  # FileResponse sets it by default; see mark_encoded_headers
    copy_extras(response, new, encoding)
    return new


def read_and_compress(path: str, codec: Codec) -> bytes:
    """The whole file, compressed (runs in a worker thread for large files)."""
    with open(path, "rb") as file:
        return codec.compress(file.read())


def streamed_file_response(response: FileResponse, codec: Codec) -> StreamingResponse:
    """A large file compressed while it is read, sent chunked."""
    new = StreamingResponse(compress_file_chunks(response.path, codec.compressor()), response.status_code)
    new.headers = encoded_headers(response, codec.name)
    copy_extras(response, new, codec.name)
    return new
