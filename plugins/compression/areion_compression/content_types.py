"""Which media types are worth compressing.

Images (other than SVG), audio, video, archives and fonts in WOFF/WOFF2 are compressed
already: compressing them again costs CPU and usually makes them bigger.
"""

from __future__ import annotations

from collections.abc import Iterable

#: The default allow-list. Patterns: ``type/subtype``, ``type/*``, ``*/*`` and ``+suffix``
#: (RFC 6838 structured syntax suffixes such as ``application/problem+json``).
DEFAULT_CONTENT_TYPES: tuple[str, ...] = (
    "text/*",
    "application/json",
    "+json",
    "application/x-ndjson",
    "application/javascript",
    "application/x-javascript",
    "application/ecmascript",
    "application/xml",
    "+xml",
    "image/svg+xml",
    "application/wasm",
    "application/graphql",
    "application/x-yaml",
    "application/yaml",
    "application/toml",
    "application/vnd.ms-fontobject",
    "font/ttf",
    "font/otf",
    "font/collection",
    "image/x-icon",
    "image/vnd.microsoft.icon",
    "image/bmp",
)

_CACHE_SIZE = 256


class ContentTypeFilter:
    """Matches ``Content-Type`` header values against an allow-list, caching each answer."""

    __slots__ = ("_any", "_cache", "_exact", "_majors", "_suffixes")

    def __init__(self, patterns: Iterable[str] = DEFAULT_CONTENT_TYPES) -> None:
        self._exact: set[str] = set()
        self._majors: set[str] = set()
        self._suffixes: tuple[str, ...] = ()
        self._any = False
        suffixes: list[str] = []
        for raw in patterns:
            pattern = raw.strip().lower()
            if pattern == "*/*":
                self._any = True
            elif pattern.startswith("+"):
                suffixes.append(pattern)
            elif pattern.endswith("/*"):
                self._majors.add(pattern[:-1])  # keep the slash: "text/"
            else:
                self._exact.add(pattern)
        self._suffixes = tuple(suffixes)
        self._cache: dict[str, bool] = {}

    def allows(self, content_type: str | None) -> bool:
        """Whether a response with this ``Content-Type`` value should be compressed."""
        if not content_type:
            return False  # unknown content: it might be anything, including a zip file
        cached = self._cache.get(content_type)
        if cached is not None:
            return cached
        media = content_type.partition(";")[0].strip().lower()
        allowed = bool(media) and "/" in media and (
            self._any
            or media in self._exact
            or media[: media.index("/") + 1] in self._majors
            or media.endswith(self._suffixes)
        )
        if len(self._cache) >= _CACHE_SIZE:
            self._cache.clear()  # a handful of distinct values in practice; bound it anyway
        self._cache[content_type] = allowed
        return allowed
