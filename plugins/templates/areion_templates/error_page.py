"""The development error page for a template that fails: which template, which line, why.

Jinja2 rewrites the traceback of any exception raised while rendering so that template code
appears as frames whose file is the template and whose line is the template line; those
frames carry ``__jinja_exception__`` in their globals, which is how they are recognised here.
"""

from __future__ import annotations

import os
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType

import jinja2

from areion_core import HttpResponse, create_html_response


def _escape(value: str, quote: bool = True) -> str:
    """``html.escape``, imported on first use (html.entities is 0.4 MB an idle server need not hold)."""
    import html

    return html.escape(value, quote)

CONTEXT_LINES = 3


@dataclass(frozen=True)
class TemplateErrorInfo:
    """Where a template failed: its name (if known), file, line, the message and the source."""

    name: str | None
    filename: str | None
    lineno: int | None
    kind: str
    message: str
    source: str | None


def _innermost_template_frame(tb: TracebackType | None) -> tuple[str, int] | None:
    found = None
    while tb is not None:
        if "__jinja_exception__" in tb.tb_frame.f_globals:
            found = (tb.tb_frame.f_code.co_filename, tb.tb_lineno)
        tb = tb.tb_next
    return found


def describe(exc: BaseException, name_for: Callable[[str], str | None]) -> TemplateErrorInfo | None:
    """What went wrong in which template, or None when ``exc`` did not come from a template."""
    kind = type(exc).__name__
    if isinstance(exc, jinja2.TemplateSyntaxError):
        filename = exc.filename
        name = exc.name if isinstance(exc.name, str) else (name_for(filename) if filename else None)
        source = exc.source if isinstance(exc.source, str) else None
        return TemplateErrorInfo(name, filename, exc.lineno, kind, exc.message or "", source)
    if isinstance(exc, jinja2.TemplateNotFound):
        missing = exc.name if isinstance(exc.name, str) else None  # Undefined when a variable was empty
        return TemplateErrorInfo(missing, None, None, kind, str(exc), None)
    frame = _innermost_template_frame(exc.__traceback__)
    if frame is None:
        if isinstance(exc, jinja2.TemplateError):
            return TemplateErrorInfo(None, None, None, kind, str(exc), None)
        return None
    filename, lineno = frame
    return TemplateErrorInfo(name_for(filename), filename, lineno, kind, str(exc), _read(filename))


def _read(filename: str) -> str | None:
    if not os.path.isfile(filename):
        return None
    try:
        with open(filename, encoding="utf-8") as f:
            return f.read()
    except (OSError, UnicodeDecodeError):
        return None


def _excerpt(source: str, lineno: int) -> str:
    lines = source.splitlines()
    start = max(lineno - 1 - CONTEXT_LINES, 0)
    end = min(lineno + CONTEXT_LINES, len(lines))
    rows = []
    for number in range(start + 1, end + 1):
        text = _escape(lines[number - 1])
        mark = ' class="here"' if number == lineno else ""
        rows.append(f"<tr{mark}><td>{number}</td><td><code>{text}</code></td></tr>")
    return "<table>" + "".join(rows) + "</table>"


def error_page(info: TemplateErrorInfo, exc: BaseException, method: str, path: str) -> HttpResponse:
    """An HTML 500 naming the template, line and message (every value escaped)."""
    where = _escape(info.name or info.filename or "(template from a string)")
    if info.lineno is not None:
        where += f", line {info.lineno}"
    parts = [
        (
            "<!doctype html><html><head><meta charset=utf-8><title>500 Template error</title><style>"
            "body{font:14px system-ui,sans-serif;margin:2em}pre,table{background:#f6f6f6;padding:1em;"
            "overflow:auto}table{border-collapse:collapse}td{padding:0 .8em;vertical-align:top}"
            "td:first-child{color:#888;text-align:right}tr.here{background:#fdd}</style></head><body>"
        ),
        "<h1>500 Template error</h1>",
        f"<p>{_escape(method)} {_escape(path)}</p>",
        f"<h2>{_escape(info.kind)} in {where}</h2>",
        f'<p class="message">{_escape(info.message)}</p>',
    ]
    if info.filename and info.filename != info.name:
        parts.append(f"<p>File: <code>{_escape(info.filename)}</code></p>")
    if info.source is not None and info.lineno is not None:
        parts.append(_excerpt(info.source, info.lineno))
    tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    parts.append(f"<details><summary>Traceback</summary><pre>{_escape(tb)}</pre></details>")
    parts.append("<p>Shown because development mode is on.</p></body></html>")
    return create_html_response("".join(parts), 500)
