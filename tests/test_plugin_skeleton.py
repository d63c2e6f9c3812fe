"""Every plugin has the same skeleton (docs/plugins.md, "The skeleton"), checked for each folder.

The plugins are discovered (every folder in ``plugins/``, and ``examples/plugin_example``), so
a new plugin is held to the same layout without anyone adding it here:

- ``pyproject.toml`` with exactly one ``areion.plugins`` entry point, ``<package>.hooks:<Class>``;
- the package holds ``__init__.py``, ``hooks.py``, ``settings.py`` and ``py.typed``;
- the class has ``name`` equal to the entry point's name and a no-argument constructor, and
  ``with_plugins(Class())`` stands in for the installed plugin of that name, without warnings;
- ``__init__.py`` re-exports only (an ``__all__`` naming the plugin class, no logic but the
  lazy-import pattern for heavy submodules), each name the same object as its submodule's;
- ``hooks.py`` is wiring only: the plugin class, whose methods are ``@hookimpl``s;
- ``settings.py`` has a settings class with a ``from_section`` classmethod that reads the
  section through ``areion_core.plugin_api.SettingsReader`` and refuses unknown keys naming
  ``plugins.<name>.<key>``;
- the README has the same sections in the same order, a configuration table with every
  option and its default, and lists the hooks the class implements.
"""

from __future__ import annotations

import ast
import importlib
import logging
import re
from typing import Any

import pytest

from areion_core import AreionServerBuilder, ConfigError, Router, hookspecs
from tests._plugin_layout import PluginDir, plugin_dirs

PLUGINS = plugin_dirs()
IDS = [p.label for p in PLUGINS]
README_SECTIONS = ("What it does", "Install", "Enable and disable", "Configuration", "Usage",
                   "Hooks it implements", "Notes")
IMPL_MARK = f"{hookspecs.PROJECT_NAME}_impl"
UNKNOWN_KEY = "no_such_key_for_the_skeleton_test"

parametrize = pytest.mark.parametrize("plugin", PLUGINS, ids=IDS)


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AREION_PLUGINS", "AREION_DISABLE_PLUGINS", "AREION_TRACE_PLUGINS"):
        monkeypatch.delenv(name, raising=False)


def plugin_class(plugin: PluginDir) -> type:
    module, attr = plugin.target
    cls: type = getattr(importlib.import_module(module), attr)
    return cls


def parse(plugin: PluginDir, filename: str) -> ast.Module:
    path = plugin.package / filename
    return ast.parse(path.read_text(encoding="utf-8"), str(path))


def test_plugins_are_discovered() -> None:
    # Found, not listed: the five first-party plugins and the example are among them.
    expected = {"caching", "compression", "openapi", "scheduling", "templates"}
    assert {f"plugins/{name}" for name in expected} | {"examples/plugin_example"} <= set(IDS)
    assert {p.name for p in PLUGINS if p.entry_points} >= expected | {"request_id"}


@parametrize
def test_one_entry_point_into_hooks(plugin: PluginDir) -> None:
    assert len(plugin.entry_points) == 1, f"{plugin.label}: pyproject.toml needs one areion.plugins entry point"
    module, attr = plugin.target
    assert module == f"{plugin.package_name}.hooks", f"{plugin.label}: the entry point must name <package>.hooks"
    assert attr.isidentifier()


@parametrize
def test_package_files(plugin: PluginDir) -> None:
    for filename in ("__init__.py", "hooks.py", "settings.py", "py.typed"):
        assert (plugin.package / filename).is_file(), f"{plugin.label}: {plugin.package_name}/{filename} is missing"
    assert (plugin.root / "README.md").is_file()
    assert not (plugin.package / "config.py").exists(), "settings live in settings.py"


@parametrize
def test_the_class_is_named_like_its_entry_point(plugin: PluginDir) -> None:
    cls = plugin_class(plugin)
    assert getattr(cls, "name", None) == plugin.name, f"{cls.__name__}.name must be {plugin.name!r}"
    assert cls().name == plugin.name  # a no-argument constructor, as the core calls it


@parametrize
def test_with_plugins_replaces_the_installed_plugin(plugin: PluginDir, caplog: pytest.LogCaptureFixture) -> None:
    instance = plugin_class(plugin)()
    caplog.set_level(logging.WARNING)
    app = (AreionServerBuilder().with_router(Router()).without_config_file()
           .with_config({"access_log": False, "plugins": {"enabled": [plugin.name], plugin.name: {}}})
           .with_plugins(instance).build_app())
    assert app.get_plugin(plugin.name) is instance
    infos = {(info.name, info.source): info for info in app.plugin_infos}
    assert infos[(plugin.name, "entry point")].reason == "replaced by an object given to with_plugins()"
    assert infos[(plugin.name, "with_plugins")].enabled
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []


#: Besides re-exports, an ``__init__.py`` may hold the lazy-import pattern (docs/plugins.md, "The
#: skeleton"): names of heavy submodules imported under ``if TYPE_CHECKING:``, listed in ``_LAZY``
#: and imported on first use by a module ``__getattr__`` (PEP 562). These are its statements.
LAZY_STATEMENTS = ("import importlib", "from typing import TYPE_CHECKING",
                   "if not TYPE_CHECKING:\n    __getattr__ = _import_lazily")
LAZY_FUNCTIONS = ("_import_lazily", "__dir__")


def _imported(stmts: list[ast.stmt]) -> dict[str, str]:
    """Name -> relative module (``".cors"``) of ``from .module import name`` statements."""
    return {alias.asname or alias.name: f".{stmt.module}" for stmt in stmts
            if isinstance(stmt, ast.ImportFrom) for alias in stmt.names}


def _is_type_checking_block(stmt: ast.If) -> bool:
    """``if TYPE_CHECKING:`` holding relative imports only (the names ``_LAZY`` imports on first use)."""
    return (ast.unparse(stmt.test) == "TYPE_CHECKING" and not stmt.orelse
            and all(isinstance(s, ast.ImportFrom) and s.level == 1 for s in stmt.body))


@parametrize
def test_init_re_exports_only(plugin: PluginDir) -> None:
    tree = parse(plugin, "__init__.py")
    exported: list[str] | None = None
    eager: dict[str, str] = {}
    declared: dict[str, str] = {}  # imported under `if TYPE_CHECKING:`
    lazy: dict[str, str] = {}
    for stmt in tree.body:
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant) and isinstance(stmt.value.value, str):
            continue  # the docstring
        if isinstance(stmt, ast.ImportFrom) and stmt.level == 1:
            eager.update(_imported([stmt]))
            continue
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
            target = ast.unparse(stmt.targets[0])
            if target == "__all__":
                exported = ast.literal_eval(stmt.value)
                continue
            if target == "_LAZY":
                lazy = ast.literal_eval(stmt.value)
                continue
            if target == "__version__" and isinstance(stmt.value, ast.Constant):
                continue
        if isinstance(stmt, ast.If) and _is_type_checking_block(stmt):
            declared.update(_imported(stmt.body))
            continue
        if ast.unparse(stmt) in LAZY_STATEMENTS or (isinstance(stmt, ast.FunctionDef) and stmt.name in LAZY_FUNCTIONS):
            continue
        pytest.fail(f"{plugin.label}: __init__.py should only re-export; found {ast.unparse(stmt)!r}")
    assert exported is not None, f"{plugin.label}: __init__.py has no __all__"
    assert lazy == declared, f"{plugin.label}: _LAZY must map each name imported under TYPE_CHECKING to its module"
    for name in lazy:
        # Importing a submodule binds its name on the package: a lazy name must not be one.
        assert not (plugin.package / f"{name}.py").exists() and not (plugin.package / name).is_dir(), (
            f"{plugin.label}: the lazy name {name!r} is also a submodule's name")
    package = importlib.import_module(plugin.package_name)
    assert plugin.target[1] in exported, f"{plugin.label}: export the plugin class from __init__.py"
    assert getattr(package, plugin.target[1]) is plugin_class(plugin)
    origins = {**eager, **lazy}
    for name in exported:
        assert name in origins or name == "__version__", f"{plugin.label}: __all__ names {name!r}, not imported"
        assert hasattr(package, name), f"{plugin.label}: __all__ names {name!r}, which is not there"
    for name, module in origins.items():
        source = importlib.import_module(module, plugin.package_name)
        assert getattr(package, name) is getattr(source, name), f"{plugin.label}: {name} is not {module}'s"


def _is_hookimpl(decorator: ast.expr) -> bool:
    target = decorator.func if isinstance(decorator, ast.Call) else decorator
    return ast.unparse(target) == "hookimpl"


@parametrize
def test_hooks_module_is_wiring_only(plugin: PluginDir) -> None:
    tree = parse(plugin, "hooks.py")
    classes = [s for s in tree.body if isinstance(s, ast.ClassDef)]
    functions = [s.name for s in tree.body if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef))]
    assert [c.name for c in classes] == [plugin.target[1]], f"{plugin.label}: hooks.py holds the plugin class only"
    assert functions == [], f"{plugin.label}: move {functions} out of hooks.py into a named module"
    for method in classes[0].body:
        if isinstance(method, (ast.FunctionDef, ast.AsyncFunctionDef)) and method.name != "__init__":
            assert any(_is_hookimpl(d) for d in method.decorator_list), (
                f"{plugin.label}: {method.name}() in hooks.py is not a @hookimpl; move it into a named module")


@parametrize
def test_settings_use_the_settings_reader(plugin: PluginDir) -> None:
    tree = parse(plugin, "settings.py")
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
                and node.module == "areion_core.plugin_api" for alias in node.names}
    assert "SettingsReader" in imported, f"{plugin.label}: settings.py reads its section with SettingsReader"
    settings_class = _settings_class(plugin)
    assert isinstance(settings_class.from_section({}), settings_class)


def _settings_class(plugin: PluginDir) -> Any:
    module = importlib.import_module(f"{plugin.package_name}.settings")
    found = [obj for obj in vars(module).values()
             if isinstance(obj, type) and obj.__module__ == module.__name__
             and isinstance(obj.__dict__.get("from_section"), classmethod)]
    assert len(found) == 1, f"{plugin.label}: settings.py needs one settings class with a from_section classmethod"
    return found[0]


def options(plugin: PluginDir) -> list[str]:
    """The keys ``[plugins.<name>]`` accepts, as the unknown-key error lists them."""
    with pytest.raises(ConfigError) as caught:
        _settings_class(plugin).from_section({UNKNOWN_KEY: 1})
    error = caught.value
    assert error.key == f"plugins.{plugin.name}.{UNKNOWN_KEY}"
    assert error.expected.startswith("one of "), error.expected
    return [key.strip() for key in error.expected.removeprefix("one of ").split(",")]


@parametrize
def test_unknown_keys_are_refused_naming_the_key(plugin: PluginDir) -> None:
    assert options(plugin)


def readme_sections(plugin: PluginDir) -> dict[str, str]:
    text = (plugin.root / "README.md").read_text(encoding="utf-8")
    text = re.sub(r"^```.*?^```", "", text, flags=re.MULTILINE | re.DOTALL)  # '#' in code is not a heading
    parts = re.split(r"^## (.+)$", text, flags=re.MULTILINE)
    return {parts[i].strip(): parts[i + 1] for i in range(1, len(parts), 2)}


@parametrize
def test_readme_sections_in_the_common_order(plugin: PluginDir) -> None:
    headings = tuple(readme_sections(plugin))
    assert headings == README_SECTIONS, f"{plugin.label}/README.md: '## ' sections must be {README_SECTIONS}"


@parametrize
def test_readme_documents_every_option_with_its_default(plugin: PluginDir) -> None:
    section = readme_sections(plugin).get("Configuration", "")
    rows = [line for line in section.splitlines() if line.startswith("|")]
    assert rows, f"{plugin.label}/README.md: the Configuration section needs a table of options"
    header = [cell.strip().lower() for cell in rows[0].strip("|").split("|")]
    assert header[0] == "key" and "default" in header, (
        f"{plugin.label}/README.md: the configuration table needs a Key column first and a Default column")
    default = header.index("default")
    documented = {}
    for row in rows[2:]:
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        match = re.fullmatch(r"`([\w-]+)`", cells[0])
        if match and len(cells) > default:
            documented[match.group(1)] = cells[default]
    for key in options(plugin):
        assert key in documented, f"{plugin.label}/README.md: option {key!r} is not in the configuration table"
        assert documented[key], f"{plugin.label}/README.md: option {key!r} has no default"


@parametrize
def test_readme_lists_the_hooks_implemented(plugin: PluginDir) -> None:
    cls = plugin_class(plugin)
    implemented = set()
    for name, attr in vars(cls).items():  # pluggy goes by the attribute's name, not the function's
        opts = getattr(attr, IMPL_MARK, None)
        if opts is not None:
            implemented.add(opts.get("specname") or name)
    known = {name for name, func in vars(hookspecs).items() if hasattr(func, f"{hookspecs.PROJECT_NAME}_spec")}
    section = readme_sections(plugin).get("Hooks it implements", "")
    listed = set(re.findall(r"`(\w+)`", section)) & known
    assert implemented, f"{plugin.label}: the plugin class implements no hook"
    assert listed == implemented, (
        f"{plugin.label}/README.md lists hooks {sorted(listed)}, the class implements {sorted(implemented)}")
