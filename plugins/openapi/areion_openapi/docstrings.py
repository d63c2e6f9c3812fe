"""Handler docstrings → summary, description and per-parameter text.

The convention (Areion 1.x's, which is Google style): the first line is the summary; the text
after it, up to the first section, is the description; ``Args:`` (or ``Arguments:``,
``Parameters:``, ``Params:``) lists ``name: text`` or ``name (type): text`` entries;
``Returns:`` describes the success response; ``Raises:`` lists ``ErrorName: text``. NumPy
style headers (``Parameters`` underlined with dashes) are read too. Continuation lines of an
entry are indented deeper than its first line.
"""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass, field

_SECTIONS = {
    "args": "params", "arguments": "params", "parameters": "params", "params": "params",
    "keyword args": "params", "keyword arguments": "params",
    "returns": "returns", "return": "returns", "yields": "returns",
    "raises": "raises", "exceptions": "raises",
    "examples": "other", "example": "other", "notes": "other", "note": "other",
    "see also": "other", "warnings": "other", "warning": "other", "attributes": "other",
}
_GOOGLE_HEADER = re.compile(r"^([A-Za-z][A-Za-z ]*):\s*$")
_UNDERLINE = re.compile(r"^-{3,}\s*$")
_ENTRY = re.compile(r"^(\*{0,2}[A-Za-z_][\w.]*)\s*(?:\(([^)]*)\))?\s*:\s*(.*)$")


@dataclass
class Docstring:
    """What a handler's docstring says, split into the parts an operation uses."""

    summary: str | None = None
    description: str | None = None
    params: dict[str, str] = field(default_factory=dict)
    returns: str | None = None
    raises: dict[str, str] = field(default_factory=dict)


def parse_docstring(doc: str | None) -> Docstring:
    """Split ``doc`` (already a string, or None) into a ``Docstring``."""
    out = Docstring()
    if not doc or not doc.strip():
        return out
    lines = inspect.cleandoc(doc).splitlines()
    out.summary = lines[0].strip() or None
    body: list[str] = []
    sections: list[tuple[str, list[str], bool]] = []
    current: list[str] | None = None
    i = 1
    while i < len(lines):
        line = lines[i]
        kind = _header(lines, i)
        if kind is not None:
            current = []
            # A NumPy header is two lines: the name and its underline.
            numpy = i + 1 < len(lines) and bool(_UNDERLINE.match(lines[i + 1]))
            sections.append((kind, current, numpy))
            i += 2 if numpy else 1
            continue
        (body if current is None else current).append(line)
        i += 1
    description = "\n".join(body).strip()
    out.description = description or None
    for kind, content, numpy in sections:
        if kind == "params":
            out.params.update(_entries(content, numpy))
        elif kind == "raises":
            out.raises.update(_entries(content, numpy))
        elif kind == "returns":
            if numpy:  # "dict\n    the user": the first line is the type
                content = [c for c in content if c.strip()][1:]
            text = _join(content)
            # "Returns:\n    dict: the user" — drop a leading type the way Args entries do.
            m = re.match(r"^[\w\[\], .|]+:\s+(.+)$", text, re.DOTALL)
            out.returns = (m.group(1) if m else text) or None
    return out


def _header(lines: list[str], i: int) -> str | None:
    line = lines[i]
    if line.startswith((" ", "\t")):
        return None
    m = _GOOGLE_HEADER.match(line)
    if m and m.group(1).strip().lower() in _SECTIONS:
        return _SECTIONS[m.group(1).strip().lower()]
    name = line.strip().lower()
    if name in _SECTIONS and i + 1 < len(lines) and _UNDERLINE.match(lines[i + 1]):
        return _SECTIONS[name]
    return None


def _entries(content: list[str], numpy: bool = False) -> dict[str, str]:
    """``name (type): text`` entries, each continued by deeper-indented lines.

    In NumPy style the text after the colon is the type (``name : int``), so it is dropped.
    """
    entries: dict[str, list[str]] = {}
    base: int | None = None
    current: list[str] | None = None
    for raw in content:
        if not raw.strip():
            continue
        indent = len(raw) - len(raw.lstrip())
        if base is None:
            base = indent
        m = _ENTRY.match(raw.strip())
        if indent <= base and numpy:
            current = []
            entries[raw.strip().split(":")[0].strip().lstrip("*")] = current
        elif indent <= base and m:
            current = [m.group(3).strip()]
            entries[m.group(1).lstrip("*")] = current
        elif current is not None:
            current.append(raw.strip())
    return {k: " ".join(v).strip() for k, v in entries.items() if " ".join(v).strip()}


def _join(content: list[str]) -> str:
    return " ".join(line.strip() for line in content if line.strip())
