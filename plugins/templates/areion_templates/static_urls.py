"""``static_url(path)``: the URL of a static file, with a content hash for cache-busting.

``static_url("css/site.css")`` → ``/static/css/site.css?v=3f2a9c01d4e7``. The hash is the start
of the file's SHA-256, so the URL changes exactly when the bytes do and a browser may cache the
file for as long as it likes. Hashes are computed once per file; in development the file's
mtime and size are checked on every call and the hash is recomputed when they change.
"""

from __future__ import annotations

import hashlib
import logging
from typing import TYPE_CHECKING
from urllib.parse import quote

from areion_core import NotFoundError
from areion_core.plugin_api import StaticFiles

if TYPE_CHECKING:
    from areion_core import App

logger = logging.getLogger("areion.templates")

HASH_LENGTH = 12


def file_hash(path: str) -> str:
    """The first ``HASH_LENGTH`` hex digits of the SHA-256 of a file's content."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()[:HASH_LENGTH]


class StaticUrls:
    """The ``static_url`` template global for one app."""

    def __init__(self, app: App, development: bool) -> None:
        self.app = app
        self.prefix = app.config.static_prefix + "/"
        self.development = development
        # Only files the app itself serves are hashed; otherwise (static files served by a
        # CDN or a front proxy) the URL is returned without a version.
        self.files = StaticFiles(app.static_dir) if app.static_dir else None
        # relative path -> (mtime_ns, size, url)
        self._cache: dict[str, tuple[int, int, str]] = {}

    def __call__(self, path: str, root_path: str | None = None) -> str:
        """The URL of ``path`` (relative to the static directory; a leading ``/`` is ignored),
        under ``root_path`` (the request's: a trusted proxy's ``X-Forwarded-Prefix``) or the app's."""
        root = self.app.root_path if root_path is None else root_path
        return root + self._path(path)

    def _path(self, path: str) -> str:
        relative = path.lstrip("/")
        cached = self._cache.get(relative)
        if cached is not None and not self.development:
            return cached[2]
        plain = self.prefix + quote(relative, safe="/")
        if self.files is None:
            return plain
        try:
            full, st = self.files.resolve(relative)
        except NotFoundError:
            # A missing file is not worth failing the page for; the link will 404 visibly.
            if self.development:
                logger.warning("static_url(%r): no such file in %s", path, self.files.root)
            return plain
        if cached is not None and cached[0] == st.st_mtime_ns and cached[1] == st.st_size:
            return cached[2]
        url = f"{plain}?v={file_hash(full)}"
        self._cache[relative] = (st.st_mtime_ns, st.st_size, url)
        return url
