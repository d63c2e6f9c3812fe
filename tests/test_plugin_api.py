"""Plugins use only the public plugin API: ``areion_core`` and ``areion_core.plugin_api``, and
the shared libraries of ``libs/`` (``areion_redis``: a library, not a plugin).

Every module of every plugin in ``plugins/`` and of the example plugin is parsed with ``ast``
and may not:

- import from any other ``areion_core`` module (``areion_core.response``, ``.server.dates``...);
- import a name that is not in the ``__all__`` of ``areion_core`` or ``areion_core.plugin_api``
  (a ``_private`` name never is); the same holds for a shared library (``areion_redis``: its
  package and ``__all__`` only, never one of its modules);
- import another plugin's package (plugins never import each other);
- reach a private attribute of a core class (``request._origin``, ``route._x``): every
  ``_name`` declared in a core class's ``__slots__``, assigned as ``self._name`` or defined in a
  core class body counts, and ``obj._name`` or ``getattr(obj, "_name")`` is refused on anything
  but ``self`` and ``cls``. A plugin's own attribute that happens to share such a name must be
  renamed: the test cannot tell whose object ``obj`` is.

``test_the_checker_finds_each_kind_of_violation`` runs the same checks on planted code, so the
test proves it can fail.
"""

from __future__ import annotations

import ast
import importlib
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

from tests._plugin_layout import ROOT, PluginDir, plugin_dirs

PUBLIC_MODULES = ("areion_core", "areion_core.plugin_api")
#: Shared libraries in libs/ that plugins may import, through the package's ``__all__`` only.
LIBRARIES = ("areion_redis",)
OWN_NAMES = frozenset({"self", "cls"})


@cache
def public_names(module: str) -> frozenset[str]:
    return frozenset(importlib.import_module(module).__all__)


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _slot_names(node: ast.AST) -> Iterator[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        yield node.value
    elif isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        for item in node.elts:
            yield from _slot_names(item)


def _class_private_attributes(cls: ast.ClassDef) -> Iterator[str]:
    for stmt in cls.body:
        targets: list[ast.expr] = []
        if isinstance(stmt, ast.Assign):
            targets = stmt.targets
        elif isinstance(stmt, ast.AnnAssign):
            targets = [stmt.target]
        elif isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield stmt.name
        for target in targets:
            if isinstance(target, ast.Name) and target.id == "__slots__" and isinstance(stmt, ast.Assign):
                yield from _slot_names(stmt.value)
            elif isinstance(target, ast.Name):
                yield target.id
    for node in ast.walk(cls):
        target_list: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            target_list = node.targets
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
            target_list = [node.target]
        for target in target_list:
            for sub in ast.walk(target):
                if isinstance(sub, ast.Attribute) and isinstance(sub.value, ast.Name) and sub.value.id == "self":
                    yield sub.attr


@cache
def core_private_attributes() -> frozenset[str]:
    """Private attribute and method names of every class in ``areion_core``."""
    names: set[str] = set()
    for path in (ROOT / "areion_core").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                names.update(n for n in _class_private_attributes(node) if _is_private(n))
    return frozenset(names)


def _foreign_package(module: str, own: str | None) -> str | None:
    """The other plugin's package that importing ``module`` reaches, or None."""
    top = module.split(".")[0]
    if top.startswith("areion_") and top not in ("areion_core", *LIBRARIES) and top != own:
        return top
    return None


def violations(source: str, filename: str = "<plugin>", own: str | None = None) -> list[str]:
    """Every use of the core beyond its public plugin API in ``source``, as ``file:line: what``.

    ``own`` is the plugin's own package, which it may of course import.
    """
    found: list[tuple[int, str]] = []
    private = core_private_attributes()

    def report(node: ast.AST, what: str) -> None:
        line = getattr(node, "lineno", 0)
        found.append((line, f"{filename}:{line}: {what}"))

    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "areion_core" and alias.name not in PUBLIC_MODULES:
                    report(node, f"import {alias.name} (only {' and '.join(PUBLIC_MODULES)} are public)")
                elif alias.name.split(".")[0] in LIBRARIES and alias.name not in LIBRARIES:
                    report(node, f"import {alias.name} (a library's package is its public surface)")
                elif (other := _foreign_package(alias.name, own)) is not None:
                    report(node, f"import {alias.name} ({other} is another plugin: plugins never import each other)")
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module is not None:
            top = node.module.split(".")[0]
            if top in LIBRARIES:
                if node.module != top:
                    report(node, f"from {node.module} import ... (a library's package is its public surface)")
                    continue
                for alias in node.names:
                    if alias.name not in public_names(top):
                        report(node, f"from {top} import {alias.name} (not in {top}.__all__)")
                continue
            if (other := _foreign_package(node.module, own)) is not None:
                report(node, f"from {node.module} import ... "
                             f"({other} is another plugin: plugins never import each other)")
                continue
            if top != "areion_core":
                continue
            if node.module not in PUBLIC_MODULES:
                report(node, f"from {node.module} import ... (only {' and '.join(PUBLIC_MODULES)} are public)")
                continue
            for alias in node.names:
                if _is_private(alias.name):
                    report(node, f"from {node.module} import {alias.name} (a private name)")
                elif alias.name not in public_names(node.module):
                    report(node, f"from {node.module} import {alias.name} (not in {node.module}.__all__)")
        elif isinstance(node, ast.Attribute) and node.attr in private:
            if not (isinstance(node.value, ast.Name) and node.value.id in OWN_NAMES):
                report(node, f"{ast.unparse(node)} reads {node.attr}, a private attribute of a core class")
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
              and node.func.id in ("getattr", "setattr", "hasattr", "delattr") and len(node.args) >= 2
              and isinstance(node.args[1], ast.Constant) and node.args[1].value in private
              and not (isinstance(node.args[0], ast.Name) and node.args[0].id in OWN_NAMES)):
            report(node, f"{ast.unparse(node)} reaches {node.args[1].value}, a private attribute of a core class")
    return [text for _, text in sorted(found)]


def plugin_modules() -> list[tuple[PluginDir, Path]]:
    return [(plugin, module) for plugin in plugin_dirs() for module in plugin.modules()]


def test_every_plugin_has_modules_to_check() -> None:
    for plugin in plugin_dirs():
        assert list(plugin.modules()), f"{plugin.label}: no Python modules found in {plugin.package}"


def test_core_private_attributes_are_collected() -> None:
    # A sample of what the collection must find, so an empty or broken scan cannot pass quietly.
    assert {"_origin", "_headers", "_query"} <= core_private_attributes()


@pytest.mark.parametrize(
    ("plugin", "module"), plugin_modules(), ids=[str(m.relative_to(ROOT)) for _, m in plugin_modules()]
)
def test_plugin_modules_use_only_the_public_plugin_api(plugin: PluginDir, module: Path) -> None:
    found = violations(module.read_text(encoding="utf-8"), str(module.relative_to(ROOT)), plugin.package_name)
    assert not found, "plugins may use only areion_core's and areion_core.plugin_api's __all__:\n" + "\n".join(found)


PLANTED = '''
import areion_core.response
from areion_core.request import HttpRequest
from areion_core import _optional
from areion_core import DefaultRouterThatDoesNotExist
from areion_core.plugin_api import hookimpl, _ROUTE_CHAINS
from areion_core import HttpResponse
from areion_core.plugin_api import run_response_ready


class Mine:
    def __init__(self):
        self._origin = []  # our own attribute: fine on self

    def hook(self, request, cls=None):
        pairs = request._origin
        headers = getattr(request, "_headers")
        own = self._origin, cls._query
        return pairs, headers, own, request.raw_headers


from areion_redis import RedisSettings, get_client
from areion_redis.client import _connect
import areion_redis._url
from areion_redis import _clients
from areion_caching import cache
import areion_mine.settings
'''


def test_the_checker_finds_each_kind_of_violation() -> None:
    found = violations(PLANTED, "planted.py", own="areion_mine")
    expected = [
        "planted.py:2: import areion_core.response",
        "planted.py:3: from areion_core.request import",
        "planted.py:4: from areion_core import _optional (a private name)",
        "planted.py:5: from areion_core import DefaultRouterThatDoesNotExist (not in areion_core.__all__)",
        "planted.py:6: from areion_core.plugin_api import _ROUTE_CHAINS (a private name)",
        "planted.py:16: request._origin reads _origin",
        "planted.py:17: getattr(request, '_headers') reaches _headers",
        "planted.py:23: from areion_redis.client import ... (a library's package",
        "planted.py:24: import areion_redis._url (a library's package",
        "planted.py:25: from areion_redis import _clients (not in areion_redis.__all__)",
        "planted.py:26: from areion_caching import ... (areion_caching is another plugin",
    ]
    assert len(found) == len(expected), "\n".join(found)
    for line, want in zip(found, expected, strict=True):
        assert line.startswith(want), f"{line!r} should start with {want!r}"


def test_every_plugin_api_name_is_documented() -> None:
    guide = (ROOT / "docs" / "plugins.md").read_text(encoding="utf-8")
    section = guide.split("\n## The plugin API: `areion_core.plugin_api`\n", 1)[1].split("\n## ", 1)[0]
    missing = [name for name in sorted(public_names("areion_core.plugin_api")) if f"`{name}" not in section]
    assert not missing, f"docs/plugins.md's plugin API section does not document {missing}"
