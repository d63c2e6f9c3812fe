"""What a template's file name says: whether to autoescape it and which media type it renders.

Both decisions read the suffix after stripping a Jinja2 marker suffix, so ``page.html``,
``page.html.j2``, ``page.html.jinja`` and ``page.html.jinja2`` are all HTML.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from areion_core.plugin_api import guess_type

JINJA_SUFFIXES = (".j2", ".jinja", ".jinja2")

_UTF8 = "; charset=utf-8"
MEDIA_TYPES: dict[str, str] = {
    "html": "text/html" + _UTF8,
    "htm": "text/html" + _UTF8,
    "xhtml": "application/xhtml+xml" + _UTF8,
    "xml": "application/xml" + _UTF8,
    "svg": "image/svg+xml" + _UTF8,
    "rss": "application/rss+xml" + _UTF8,
    "atom": "application/atom+xml" + _UTF8,
    "txt": "text/plain" + _UTF8,
    "text": "text/plain" + _UTF8,
    "json": "application/json",
    "css": "text/css" + _UTF8,
    "js": "text/javascript" + _UTF8,
    "mjs": "text/javascript" + _UTF8,
    "csv": "text/csv" + _UTF8,
    "md": "text/markdown" + _UTF8,
    "ics": "text/calendar" + _UTF8,
}
#: For a name without a suffix (or one nobody knows): plain text, never HTML, because a
#: template that is not autoescaped must not be interpreted by a browser as a page.
FALLBACK_MEDIA_TYPE = "text/plain" + _UTF8


def template_suffix(name: str | None) -> str:
    """The meaningful suffix of a template name, lower-case, without the dot ('' if none)."""
    if not name:
        return ""
    base = name.rsplit("/", 1)[-1].rsplit(":", 1)[-1].lower()
    for marker in JINJA_SUFFIXES:
        if base.endswith(marker):
            base = base[: -len(marker)]
            break
    dot = base.rfind(".")
    return base[dot + 1:] if dot > 0 else ""


def media_type_for(name: str) -> str:
    """The Content-Type for what template ``name`` renders (see ``MEDIA_TYPES``)."""
    suffix = template_suffix(name)
    if not suffix:
        return FALLBACK_MEDIA_TYPE
    known = MEDIA_TYPES.get(suffix)
    if known is not None:
        return known
    guessed = guess_type("x." + suffix)
    return FALLBACK_MEDIA_TYPE if guessed == "application/octet-stream" else guessed


def select_autoescape(setting: bool | Iterable[str]) -> bool | Callable[[str | None], bool]:
    """Jinja2's ``autoescape`` argument for a setting: all, none, or by suffix.

    Templates made from strings (no name) are escaped unless autoescaping is off entirely:
    the safe choice when nothing says what they produce.
    """
    if isinstance(setting, bool):
        return setting
    enabled = frozenset(s.lower().strip(".") for s in setting)

    def autoescape(name: str | None) -> bool:
        if name is None:
            return True
        return template_suffix(name) in enabled

    return autoescape
