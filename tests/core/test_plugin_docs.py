"""The plugin guide, docs/plugins.md, stays in step with the hook specs and the example plugin."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from areion_core import hookspecs

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "plugins.md"
SPEC_MARK = f"{hookspecs.PROJECT_NAME}_spec"


def hook_specs() -> dict[str, Callable[..., Any]]:
    """Every function in hookspecs.py marked with ``@hookspec``, by name."""
    return {name: func for name, func in vars(hookspecs).items()
            if inspect.isfunction(func) and hasattr(func, SPEC_MARK)}


def _annotation(value: Any) -> str:
    # hookspecs.py uses `from __future__ import annotations`: annotations are the source text.
    return value if isinstance(value, str) else inspect.formatannotation(value)


def written_signature(name: str, func: Callable[..., Any]) -> str:
    """``def name(arg: Type, ...) -> Return`` as declared, on one line."""
    sig = inspect.signature(func)
    params = []
    for p in sig.parameters.values():
        text = p.name
        if p.annotation is not inspect.Parameter.empty:
            text += f": {_annotation(p.annotation)}"
        if p.default is not inspect.Parameter.empty:
            text += f" = {p.default!r}"
        params.append(text)
    returns = "" if sig.return_annotation is inspect.Signature.empty else f" -> {_annotation(sig.return_annotation)}"
    return f"def {name}({', '.join(params)}){returns}"


def guide() -> str:
    return GUIDE.read_text(encoding="utf-8")


def reference_section() -> str:
    text = guide()
    start = text.index("\n## Hook reference\n")
    end = text.index("\n## ", start + 1)
    return text[start:end]


def test_the_hookspecs_are_found() -> None:
    specs = hook_specs()
    assert set(hookspecs.HOT_HOOKS) <= set(specs)
    assert {"configure", "register_routes", "route_added", "startup", "shutdown"} <= set(specs)


@pytest.mark.parametrize("name", sorted(hook_specs()))
def test_every_hook_is_documented_with_its_exact_signature(name: str) -> None:
    func = hook_specs()[name]
    section = reference_section()
    heading = f"\n### `{name}`\n"
    assert heading in section, f"docs/plugins.md has no '### `{name}`' under '## Hook reference'"
    body = section.split(heading, 1)[1].split("\n### ", 1)[0]
    signature = written_signature(name, func)
    assert signature in body, f"docs/plugins.md documents {name} without its exact signature:\n  {signature}"
    firstresult = getattr(func, SPEC_MARK)["firstresult"]
    marker = "@hookspec(firstresult=True)" if firstresult else "@hookspec"
    assert f"{marker}\n{signature}" in body, f"{name}: the signature should follow `{marker}`"
    assert "**When:**" in body and "**Returns:**" in body, f"{name}: say when it fires and what it returns"
    if name in hookspecs.HOT_HOOKS:
        assert "**Hot.**" in body and "async def" in body


def test_the_reference_documents_no_other_hooks() -> None:
    documented = set(re.findall(r"^### `(\w+)`$", reference_section(), flags=re.MULTILINE))
    assert documented == set(hook_specs())


def test_the_guide_explains_ordering_and_discovery() -> None:
    text = re.sub(r"\s+", " ", guide().replace("**", ""))  # prose wraps and bolds freely
    for needle in ("tryfirst=True", "trylast=True", "registered first runs first", "last registered first",
                   '[project.entry-points."areion.plugins"]', "from areion_core import hookimpl",
                   "set_route_option", "hot_hooks_for_route", "ConfigError", "${VAR}",
                   "AREION_PLUGINS", "AREION_DISABLE_PLUGINS", "AREION_TRACE_PLUGINS=1",
                   "TestClient", "LiveServer", "args.load_app()", "areion plugins", "areion routes",
                   "areion config"):
        assert needle in text, f"docs/plugins.md does not mention {needle!r}"


FILE_BLOCK = re.compile(r"^<!-- file: (?P<path>[^ ]+) -->\n```[a-z]*\n(?P<body>.*?)^```$", re.MULTILINE | re.DOTALL)


def test_files_quoted_in_the_walk_through_match_the_example() -> None:
    blocks = list(FILE_BLOCK.finditer(guide()))
    quoted = {m["path"] for m in blocks}
    assert {"examples/plugin_example/pyproject.toml",
            "examples/plugin_example/areion_request_id/hooks.py"} <= quoted
    for m in blocks:
        actual = (ROOT / m["path"]).read_text(encoding="utf-8")
        assert m["body"] == actual, f"docs/plugins.md quotes {m['path']} but the file has changed"
