"""Serving files from a directory, never outside it."""

from __future__ import annotations

import os
import stat as _stat
from pathlib import Path

from .exceptions import NotFoundError
from .response import FileResponse


class StaticFiles:
    """Resolves request paths under ``root`` to files, refusing anything that could leave it.

    Refused (404): ``..`` and ``.`` segments, backslashes, NUL, absolute paths, drive letters,
    dot-files (``.env``, ``.git``), directories, and symlinks whose target is outside ``root``.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        path = Path(root)
        if not path.is_dir():
            raise FileNotFoundError(f"static directory {str(path)!r} does not exist or is not a directory")
        self.root = os.path.realpath(path)
        self._prefix = self.root.rstrip(os.sep) + os.sep

    def resolve(self, relative: str) -> tuple[str, os.stat_result]:
        """The real path and stat of ``relative`` under the root, or ``NotFoundError``.

        Each segment is looked at with ``lstat`` from the root down: a path of no symlinks (the
        usual case) is its own real path, so one system call per segment settles it, and its
        last ``lstat`` is the file's stat. A symlink anywhere sends the path through
        ``realpath``, and its target must lie under the root.
        """
        if not relative or "\\" in relative or "\x00" in relative or relative.startswith("/"):
            raise NotFoundError()
        parts = relative.split("/")
        for part in parts:
            if part in ("", ".", "..") or part.startswith(".") or ":" in part:
                raise NotFoundError()
        full = self._prefix[:-1]  # the root without a trailing separator ("" for "/")
        for part in parts:
            full = full + os.sep + part
            try:
                st = os.lstat(full)
            except (OSError, ValueError):
                raise NotFoundError() from None
            if _stat.S_ISLNK(st.st_mode):
                return self._through_links(parts)
        if not _stat.S_ISREG(st.st_mode):
            raise NotFoundError()
        return full, st

    def _through_links(self, parts: list[str]) -> tuple[str, os.stat_result]:
        """``resolve`` for a path with a symlink in it: the real path, which must lie under the
        root, and its stat."""
        full = os.path.realpath(os.path.join(self.root, *parts))
        if not full.startswith(self._prefix):
            raise NotFoundError()
        try:
            st = os.stat(full)
        except OSError:
            raise NotFoundError() from None
        if not _stat.S_ISREG(st.st_mode):
            raise NotFoundError()
        return full, st

    def response(self, relative: str) -> FileResponse:
        full, st = self.resolve(relative)
        return FileResponse(full, stat_result=st)
