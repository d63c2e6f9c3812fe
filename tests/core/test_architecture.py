"""The rules docs/architecture.md states, checked on the code: one-way imports, no cycles, sizes."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CORE = ROOT / "areion_core"
MAX_CLASS_LINES = 400
MAX_FUNCTION_LINES = 60


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(CORE.rglob("*.py"))}


def imports_of(name: str) -> set[str]:
    """The areion_core modules ``name`` imports, type-checking-only imports included."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            submodules = {f"{target}.{alias.name}" for alias in node.names} & MODULES.keys()
            if submodules:
                found |= submodules
            elif target in MODULES and target != name:
                found.add(target)
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names} & MODULES.keys()
    return found


def test_the_module_graph_has_no_cycles() -> None:
    graph = {name: imports_of(name) for name in MODULES}
    # The package __init__ re-exports everything; it is the top, not a node inside the graph.
    graph = {name: deps - {"areion_core"} for name, deps in graph.items() if name != "areion_core"}
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for dep in sorted(graph.get(node, ())):
            if state.get(dep) == 1:
                cycle = path[path.index(dep):] + [dep]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if dep not in state:
                visit(dep)
        path.pop()
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name)


def test_the_server_imports_nothing_above_it() -> None:
    # Below the server: its own modules, and the leaves (modules that import nothing of
    # areion_core, such as _first_step).
    leaves = {name for name in MODULES if name != "areion_core" and not imports_of(name)}
    assert "areion_core._first_step" in leaves
    for name in MODULES:
        if name.startswith("areion_core.server"):
            above = {dep for dep in imports_of(name) if not dep.startswith("areion_core.server")} - leaves
            assert not above, f"{name} imports {sorted(above)} from above the server"


def test_types_is_a_leaf_at_run_time() -> None:
    tree = ast.parse((CORE / "types.py").read_text(encoding="utf-8"))
    for node in tree.body:  # module level, outside `if TYPE_CHECKING:`
        if isinstance(node, ast.ImportFrom):
            assert not node.level and not (node.module or "").startswith("areion_core"), ast.unparse(node)


def test_no_class_or_function_is_too_long() -> None:
    too_long = []
    for name, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef):
                limit = MAX_CLASS_LINES
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                limit = MAX_FUNCTION_LINES
            else:
                continue
            length = (node.end_lineno or node.lineno) - node.lineno + 1
            if length > limit:
                too_long.append(f"{name}:{node.lineno} {node.name} ({length} lines, limit {limit})")
    assert not too_long, "\n".join(too_long)


def test_the_architecture_page_names_every_module() -> None:
    page = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    missing = [name for name, path in MODULES.items()
               if path.name not in ("__init__.py", "__main__.py", "py.typed") and path.name not in page]
    assert not missing, f"docs/architecture.md does not mention {missing}"
